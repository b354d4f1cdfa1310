package amtsim

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
)

// AMT_AuthorizationService: the admin ACL.

const authName = "Intel(r) AMT Authorization Service"

func (rt *routes) authorization() {
	res := wsman.ResourceAuthorizationService
	inst := func(*Device) any {
		return &wsman.AuthorizationService{
			AllowHttpQopAuthOnly: 1, CreationClassName: "AMT_AuthorizationService", ElementName: authName,
			EnabledState: 5, Name: authName, RequestedState: 12,
			SystemCreationClassName: "CIM_ComputerSystem", SystemName: "Intel(r) AMT",
		}
	}
	rt.get(res, inst)
	rt.enumeration(res, func(d *Device, _ *caller) []any { return []any{inst(d)} })
	rt.method(res, "SetAdminAclEntryEx", (*Device).setAdminAclEntryEx)
}

// maxUsername is the longest digest user name AMT accepts.
const maxUsername = 32

func (d *Device) setAdminAclEntryEx(c *caller, r *wsman.Request) (any, error) {
	const call = "SetAdminAclEntryEx"
	in, err := configInput[wsman.SetAdminAclEntryExInput](d, c, r, call)
	if err != nil {
		return nil, err
	}
	out := func(rc amt.ReturnCode) (any, error) {
		return returned(wsman.ResourceAuthorizationService, call, rc), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.configurableLocked(c, call) {
		return out(amt.PTNotPermitted)
	}
	if in.Username == "" || len(in.Username) > maxUsername {
		d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("Username of %d characters", len(in.Username)), fmt.Sprintf("1 to %d characters", maxUsername), "use the user name admin"))
		return out(amt.PTInvalidParameter)
	}
	raw, err := base64.StdEncoding.DecodeString(in.DigestPassword)
	if err != nil || len(raw) != 16 {
		seen := fmt.Sprintf("DigestPassword of %d characters", len(in.DigestPassword))
		if err == nil {
			seen = fmt.Sprintf("DigestPassword decoding to %d bytes", len(raw))
		}
		d.refuseLocked(call, refusal(RuleDigestPassword, seen, "base64 of the 16 raw bytes of MD5(user:realm:password)", "send base64(amt.DigestPassword(user, realm, password)), not the hex form"))
		return out(amt.PTInvalidParameter)
	}
	if !d.flashWriteLocked(call) {
		return out(amt.PTFlashWriteLimitExceed)
	}
	d.st.AdminUser, d.st.AdminHA1 = in.Username, hex.EncodeToString(raw)
	if d.setup != nil && c.setup != setupNone {
		d.setup.aclSet = true
	}
	d.eventLocked("config", "admin ACL set for user "+in.Username)
	return out(amt.PTSuccess)
}
