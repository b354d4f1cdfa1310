package amtsim

import (
	"encoding/base64"
	"fmt"
	"unicode"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
)

// AMT_SetupAndConfigurationService: provisioning state, the MEBx password,
// committing a setup and unprovisioning (reference §6, §8, §9).

const scsName = "Intel(r) AMT Setup and Configuration Service"

func (rt *routes) setupAndConfiguration() {
	res := wsman.ResourceSetupAndConfigurationService
	rt.get(res, func(d *Device) any { return d.scsInstance() })
	rt.enumeration(res, func(d *Device, _ *caller) []any { return []any{d.scsInstance()} })
	rt.method(res, "SetMEBxPassword", (*Device).setMEBxPassword)
	rt.method(res, "CommitChanges", (*Device).commitChanges)
	rt.method(res, "Unprovision", (*Device).unprovisionWSMAN)
	rt.method(res, "PartialUnprovision", (*Device).partialUnprovisionWSMAN)
	rt.method(res, "GetUuid", func(d *Device, _ *caller, _ *wsman.Request) (any, error) {
		rc := amt.PTSuccess
		return &wsman.GetUuidOutput{UUID: base64.StdEncoding.EncodeToString(d.uuid[:]), ReturnValue: &rc}, nil
	})
}

func (d *Device) scsInstance() *wsman.SetupAndConfigurationService {
	d.mu.Lock()
	defer d.mu.Unlock()
	mode := amt.ProvisioningModeACM
	if d.st.Mode == amt.ControlCCM {
		mode = amt.ProvisioningModeCCM
	}
	return &wsman.SetupAndConfigurationService{
		CreationClassName:             "AMT_SetupAndConfigurationService",
		ElementName:                   scsName,
		EnabledState:                  5,
		Name:                          scsName,
		PasswordModel:                 1,
		ProvisioningMode:              int(mode),
		ProvisioningServerOTP:         base64.StdEncoding.EncodeToString(make([]byte, 32)),
		ProvisioningState:             int(d.st.ProvState),
		RequestedState:                12,
		SystemCreationClassName:       "CIM_ComputerSystem",
		SystemName:                    "Intel(r) AMT",
		ZeroTouchConfigurationEnabled: true,
	}
}

// validMEBxPassword is the MEBx password policy: 8 to 32 ASCII characters
// with a lower-case letter, an upper-case letter, a digit and a symbol.
func validMEBxPassword(p string) bool {
	if len(p) < 8 || len(p) > 32 {
		return false
	}
	var lower, upper, digit, symbol bool
	for _, r := range p {
		switch {
		case r > unicode.MaxASCII || r < 0x20:
			return false
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			symbol = true
		}
	}
	return lower && upper && digit && symbol
}

// lockConfigurable takes the device lock for a configuration Put or Create
// that answers a refusal with an AccessDenied fault (the methods answer
// with a ReturnValue instead and call configurableLocked). On a refusal the
// lock is released again; on success the caller holds it.
func (d *Device) lockConfigurable(c *caller, call string) error {
	d.mu.Lock()
	if !d.configurableLocked(c, call) {
		d.mu.Unlock()
		return wsman.NewFault(wsman.SubcodeAccessDenied, "")
	}
	return nil
}

// configurableLocked reports whether configuration calls are allowed now: in
// a setup session, or on a provisioned device. It records the refusal.
func (d *Device) configurableLocked(c *caller, call string) bool {
	if c.setup != setupNone || d.st.ProvState == amt.PostProvisioning {
		return true
	}
	d.refuseLocked(call, refusal(RuleState, d.st.ProvState.String()+" outside a setup session", "a provisioned device, or a TLS setup session", "activate the device first (AdminSetup, or TLS-based setup on AMT 19)"))
	return false
}

func (d *Device) setMEBxPassword(c *caller, r *wsman.Request) (any, error) {
	const call = "SetMEBxPassword"
	in, err := configInput[wsman.SetMEBxPasswordInput](d, c, r, call)
	if err != nil {
		return nil, err
	}
	out := func(rc amt.ReturnCode) (any, error) {
		return returned(wsman.ResourceSetupAndConfigurationService, call, rc), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.configurableLocked(c, call) {
		return out(amt.PTNotPermitted)
	}
	if d.st.Mode == amt.ControlCCM {
		d.refuseLocked(call, refusal(RuleState, "client control mode", "admin control mode", "set the MEBx password after UpgradeClientToAdmin, or in MEBx"))
		return out(amt.PTNotPermitted)
	}
	if !validMEBxPassword(in.Password) {
		d.refuseLocked(call, refusal(RuleMEBxPassword, fmt.Sprintf("a password of %d characters that misses a class", len(in.Password)), "8 to 32 ASCII characters with lower case, upper case, a digit and a symbol", "generate a password that meets the MEBx policy"))
		return out(amt.PTInvalidPassword)
	}
	if !d.flashWriteLocked(call) {
		return out(amt.PTFlashWriteLimitExceed)
	}
	d.st.MEBxPassword, d.st.MEBxPasswordSet = in.Password, true
	d.eventLocked("config", "MEBx password set")
	return out(amt.PTSuccess)
}

func (d *Device) commitChanges(c *caller, r *wsman.Request) (any, error) {
	const call = "CommitChanges"
	if err := c.denyLSA(call); err != nil {
		return nil, err
	}
	out := func(rc amt.ReturnCode) (any, error) {
		return returned(wsman.ResourceSetupAndConfigurationService, call, rc), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.configurableLocked(c, call) {
		return out(amt.PTNotPermitted)
	}
	if c.setup != setupNone {
		if !d.setup.aclSet || !d.st.MEBxPasswordSet {
			var missing []string
			if !d.setup.aclSet {
				missing = append(missing, "the admin ACL (SetAdminAclEntryEx)")
			}
			if !d.st.MEBxPasswordSet {
				missing = append(missing, "the MEBx password (SetMEBxPassword)")
			}
			d.refuseLocked(call, refusal(RuleState, fmt.Sprintf("setup without %v", missing), "both set before the commit", "call SetAdminAclEntryEx and SetMEBxPassword, then CommitChanges again"))
			return out(amt.PTDataMissing)
		}
		if !d.flashWriteLocked(call) {
			return out(amt.PTFlashWriteLimitExceed)
		}
		kind := d.setup.kind
		d.st.ProvState, d.st.Mode = amt.PostProvisioning, amt.ControlACM
		d.setup = nil
		d.stopHelloLocked()
		d.eventLocked("setup", fmt.Sprintf("CommitChanges: admin control mode (%s setup)", map[setupKind]string{setupTLS: "TLS-based", setupHello: "legacy network"}[kind]))
		return out(amt.PTSuccess)
	}
	if !d.flashWriteLocked(call) {
		return out(amt.PTFlashWriteLimitExceed)
	}
	if d.st.CCMUncommitted {
		d.st.CCMUncommitted = false
		d.eventLocked("setup", "CommitChanges: client control mode committed")
		return out(amt.PTSuccess)
	}
	d.eventLocked("config", "CommitChanges")
	return out(amt.PTSuccess)
}

func (d *Device) unprovisionWSMAN(c *caller, r *wsman.Request) (any, error) {
	const call = "Unprovision"
	in, err := configInput[wsman.UnprovisionInput](d, c, r, call)
	if err != nil {
		return nil, err
	}
	out := func(rc amt.ReturnCode) (any, error) {
		return returned(wsman.ResourceSetupAndConfigurationService, call, rc), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if in.ProvisioningMode != 1 && in.ProvisioningMode != 2 {
		d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("ProvisioningMode %d", in.ProvisioningMode), "1 (full) or 2 (partial)", "send ProvisioningMode 1"))
		return out(amt.PTInvalidParameter)
	}
	if d.st.ProvState != amt.PostProvisioning {
		d.refuseLocked(call, refusal(RuleState, d.st.ProvState.String(), "post-provisioning", "nothing to unprovision"))
		return out(amt.PTNotPermitted)
	}
	if !d.flashWriteLocked(call) {
		return out(amt.PTFlashWriteLimitExceed)
	}
	d.unprovisionLocked(in.ProvisioningMode == 2)
	return out(amt.PTSuccess)
}

// partialUnprovisionWSMAN is PartialUnprovision: like Unprovision, but the
// admin ACL stays (reference §9; go-wsman-messages lists what stays, custom
// root hashes not among it). It takes no input.
func (d *Device) partialUnprovisionWSMAN(c *caller, _ *wsman.Request) (any, error) {
	const call = "PartialUnprovision"
	if err := c.denyLSA(call); err != nil {
		return nil, err
	}
	out := func(rc amt.ReturnCode) (any, error) {
		return returned(wsman.ResourceSetupAndConfigurationService, call, rc), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st.ProvState != amt.PostProvisioning {
		d.refuseLocked(call, refusal(RuleState, d.st.ProvState.String(), "post-provisioning", "nothing to unprovision"))
		return out(amt.PTNotPermitted)
	}
	if !d.flashWriteLocked(call) {
		return out(amt.PTFlashWriteLimitExceed)
	}
	d.unprovisionLocked(true)
	return out(amt.PTSuccess)
}
