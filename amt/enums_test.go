package amt

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"testing"
)

func TestEnumNames(t *testing.T) {
	t.Parallel()
	cases := []struct {
		got  fmt.Stringer
		code uint32
		want string
	}{
		{PreProvisioning, 0, "pre-provisioning"},
		{InProvisioning, 1, "in-provisioning"},
		{PostProvisioning, 2, "post-provisioning"},
		{ProvisioningState(3), 3, "unknown provisioning state 3"},
		{ControlNone, 0, "none"},
		{ControlCCM, 1, "CCM"},
		{ControlACM, 2, "ACM"},
		{ControlMode(7), 7, "unknown control mode 7"},
		{ProvisioningModeACM, 1, "ACM"},
		{ProvisioningModeCCM, 4, "CCM"},
		{ProvisioningMode(2), 2, "unknown provisioning mode 2"},
		{PassEncryptionNone, 0, "none"},
		{PassEncryptionOther, 1, "other"},
		{PassEncryptionHTTPDigestMD5A1, 2, "HTTPDigestMD5A1"},
		{NetAdminPassEncryptionType(3), 3, "unknown password encryption type 3"},
		{SigningNone, 0, "none"},
		{SigningOther, 1, "other"},
		{SigningRSASHA256, 2, "RSASHA2256"},
		{SigningAlgorithm(3), 3, "unknown signing algorithm 3"},
		{CertChainStatusNotStarted, 0, "not started"},
		{CertChainStatusInProgress, 1, "in progress"},
		{CertChainStatusComplete, 2, "complete"},
		{CertChainStatus(3), 3, "unknown certificate chain status 3"},
	}
	for _, c := range cases {
		if c.got.String() != c.want || fmt.Sprintf("%d", c.got) != fmt.Sprint(c.code) {
			t.Errorf("%T %d = %q; want %d %q", c.got, c.got, c.got, c.code, c.want)
		}
	}
	modes := map[ProvisioningMode]ControlMode{ProvisioningModeACM: ControlACM, ProvisioningModeCCM: ControlCCM, 0: ControlNone, 2: ControlNone}
	for pm, cm := range modes {
		if pm.ControlMode() != cm {
			t.Errorf("ProvisioningMode %d -> %s; want %s", pm, pm.ControlMode(), cm)
		}
	}
}

func TestHostCommands(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cmd  HostCommand
		code uint32
		name string
	}{
		{CmdGetCodeVersions, 0x0400001A, "GetCodeVersions"},
		{CmdGetUUID, 0x0400005C, "GetUUID"},
		{CmdGetControlMode, 0x0400006B, "GetControlMode"},
		{CmdGetProvisioningState, 0x04000011, "GetProvisioningState"},
		{CmdGetPKIFQDNSuffix, 0x04000036, "GetPKIFQDNSuffix"},
		{CmdEnumerateHashHandles, 0x0400002C, "EnumerateHashHandles"},
		{CmdGetCertHashEntry, 0x0400002D, "GetCertHashEntry"},
		{CmdGetLocalSystemAccount, 0x04000067, "GetLocalSystemAccount"},
		{CmdGetLANInterfaceSettings, 0x04000048, "GetLANInterfaceSettings"},
		{CmdStartConfigurationHBased, 0x0400008B, "StartConfigurationHBased"},
		{CmdStopConfiguration, 0x0400005E, "StopConfiguration"},
		{CmdUnprovision, 0x04000010, "Unprovision"},
	}
	for _, c := range cases {
		if uint32(c.cmd) != c.code || c.cmd.String() != c.name || c.cmd.IsResponse() {
			t.Errorf("%s = 0x%08X; want %s 0x%08X", c.cmd, uint32(c.cmd), c.name, c.code)
		}
		r := c.cmd.Response()
		if uint32(r) != c.code|0x00800000 || !r.IsResponse() || r.Request() != c.cmd || r.String() != c.name+" response" {
			t.Errorf("%s response = 0x%08X %q", c.name, uint32(r), r)
		}
	}
	if got := HostCommand(0x04000099).String(); got != "unknown host command 0x04000099" {
		t.Errorf("unknown command: %q", got)
	}
	if HostHeaderLen != 12 || StartConfigRequestLen-HostHeaderLen != 390 || StartConfigResponseLen != 81 || MaxStartConfigSuffixes != 5 || StartConfigSuffixBytes != 320 {
		t.Error("PTHI framing constants disagree with reference §12-13")
	}
	if GUIDPTHI != "12F80028-B4B7-4B2D-ACA8-46E0FF65814C" || GUIDLME != "6733A4DB-0476-4E7B-B3AF-BCFC29BEE7A7" ||
		GUIDWatchdog != "05B79A6F-4628-4D7F-899D-A91514CB32AB" || GUIDUPID != "92136C79-5FEA-4CFD-980E-23BE07FA5E9F" {
		t.Error("client GUIDs disagree with reference §12")
	}
	req := IsChangeToAMTEnabledRequest()
	if fmt.Sprintf("% X", req) != "05 02 51 10" {
		t.Errorf("watchdog request = % X", req)
	}
	req[0] = 0
	if IsChangeToAMTEnabledRequest()[0] != 0x05 {
		t.Error("the watchdog request can be changed by a caller")
	}
}

func TestWatchdogFlags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		f    WatchdogFlags
		want string
	}{
		{0x00, "none"},
		{0x01, "transition allowed"},
		{0x02, "AMT enabled"},
		{0x20, "restricted"},
		{0x40, "TLS enforced"},
		{0x80, "new interface"},
		{0xC3, "transition allowed, AMT enabled, TLS enforced, new interface"},
		{0x0C, "unknown bits 0x0C"},
	}
	for _, c := range cases {
		if c.f.String() != c.want {
			t.Errorf("WatchdogFlags(0x%02X) = %q; want %q", uint8(c.f), c.f, c.want)
		}
	}
	if !WatchdogFlags(0xC3).Has(WatchdogTLSEnforced) || WatchdogFlags(0x83).Has(WatchdogTLSEnforced) || WatchdogFlags(0x41).Has(WatchdogTLSEnforced|WatchdogAMTEnabled) {
		t.Error("Has is wrong")
	}
}

func TestAMTMarking(t *testing.T) {
	t.Parallel()
	if ProvisioningOIDString != "2.16.840.1.113741.1.2.3" || ProvisioningOID().String() != ProvisioningOIDString {
		t.Errorf("provisioning OID = %s / %s", ProvisioningOIDString, ProvisioningOID())
	}
	o := ProvisioningOID()
	o[0] = 9
	if ProvisioningOID()[0] != 2 {
		t.Error("the OID can be changed by a caller")
	}
	if ClientSetupOU != "Intel(R) Client Setup Certificate" {
		t.Errorf("OU = %q", ClientSetupOU)
	}
}

// TestPasswordHashes pins worked values computed outside Go (md5sum and
// openssl dgst -md5 -binary | base64 over the same strings).
func TestPasswordHashes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		user, realm, password string
		hex, b64              string
	}{
		{"admin", "Digest:A3829B3827DE4D33D4449B366831FD01", "P@ssw0rd", "6654ceb9533dd0fd6d3e5a3c3e8499d7", "ZlTOuVM90P1tPlo8PoSZ1w=="},
		{"admin", "", "", "b6ba266859da0740e01c9b7837269f60", ""},
		{"alice", "Digest:0000", "Secret-1", "", "OULzGU6Ct1b3Ph7O969xag=="},
	}
	for _, c := range cases {
		raw := DigestPassword(c.user, c.realm, c.password)
		if len(raw) != md5.Size {
			t.Fatalf("DigestPassword: %d bytes", len(raw))
		}
		if c.b64 != "" && base64.StdEncoding.EncodeToString(raw) != c.b64 {
			t.Errorf("DigestPassword(%q, %q) = %s; want %s", c.user, c.realm, base64.StdEncoding.EncodeToString(raw), c.b64)
		}
		if c.hex != "" && c.user == AdminUser {
			if got := NetworkAdminPassword(c.realm, c.password); got != c.hex {
				t.Errorf("NetworkAdminPassword(%q) = %s; want %s", c.realm, got, c.hex)
			}
		}
	}
}
