package amt

import (
	"encoding/asn1"
	"fmt"
	"strings"
)

// ProvisioningState is the firmware's setup state (reference §1), as
// GetProvisioningState and AMT_SetupAndConfigurationService report it.
type ProvisioningState uint32

const (
	PreProvisioning  ProvisioningState = 0
	InProvisioning   ProvisioningState = 1
	PostProvisioning ProvisioningState = 2
)

func (s ProvisioningState) String() string {
	switch s {
	case PreProvisioning:
		return "pre-provisioning"
	case InProvisioning:
		return "in-provisioning"
	case PostProvisioning:
		return "post-provisioning"
	}
	return fmt.Sprintf("unknown provisioning state %d", uint32(s))
}

// ControlMode is what GetControlMode and IPS_HostBasedSetupService
// .CurrentControlMode report.
type ControlMode uint32

const (
	ControlNone ControlMode = 0
	ControlCCM  ControlMode = 1 // client control mode
	ControlACM  ControlMode = 2 // admin control mode
)

func (m ControlMode) String() string {
	switch m {
	case ControlNone:
		return "none"
	case ControlCCM:
		return "CCM"
	case ControlACM:
		return "ACM"
	}
	return fmt.Sprintf("unknown control mode %d", uint32(m))
}

// ProvisioningMode is AMT_SetupAndConfigurationService.ProvisioningMode. Its
// numbers differ from ControlMode's: 1 is ACM here and CCM there.
type ProvisioningMode uint32

const (
	ProvisioningModeACM ProvisioningMode = 1
	ProvisioningModeCCM ProvisioningMode = 4
)

func (m ProvisioningMode) String() string {
	switch m {
	case ProvisioningModeACM:
		return "ACM"
	case ProvisioningModeCCM:
		return "CCM"
	}
	return fmt.Sprintf("unknown provisioning mode %d", uint32(m))
}

// ControlMode maps the WS-MAN provisioning mode to the host interface's
// control mode, so that the two reports can be compared.
func (m ProvisioningMode) ControlMode() ControlMode {
	switch m {
	case ProvisioningModeACM:
		return ControlACM
	case ProvisioningModeCCM:
		return ControlCCM
	}
	return ControlNone
}

// NetAdminPassEncryptionType is the AdminSetup parameter that says how
// NetworkAdminPassword is encoded; amtrcs always sends HTTPDigestMD5A1.
type NetAdminPassEncryptionType uint32

const (
	PassEncryptionNone            NetAdminPassEncryptionType = 0
	PassEncryptionOther           NetAdminPassEncryptionType = 1
	PassEncryptionHTTPDigestMD5A1 NetAdminPassEncryptionType = 2
)

func (t NetAdminPassEncryptionType) String() string {
	switch t {
	case PassEncryptionNone:
		return "none"
	case PassEncryptionOther:
		return "other"
	case PassEncryptionHTTPDigestMD5A1:
		return "HTTPDigestMD5A1"
	}
	return fmt.Sprintf("unknown password encryption type %d", uint32(t))
}

// SigningAlgorithm is the AdminSetup and UpgradeClientToAdmin parameter for
// DigitalSignature; the firmware defines one real value, RSA with SHA-256.
type SigningAlgorithm uint32

const (
	SigningNone      SigningAlgorithm = 0
	SigningOther     SigningAlgorithm = 1
	SigningRSASHA256 SigningAlgorithm = 2
)

func (a SigningAlgorithm) String() string {
	switch a {
	case SigningNone:
		return "none"
	case SigningOther:
		return "other"
	case SigningRSASHA256:
		return "RSASHA2256"
	}
	return fmt.Sprintf("unknown signing algorithm %d", uint32(a))
}

// CertChainStatus is IPS_HostBasedSetupService.CertChainStatus.
type CertChainStatus uint32

const (
	CertChainStatusNotStarted CertChainStatus = 0
	CertChainStatusInProgress CertChainStatus = 1
	CertChainStatusComplete   CertChainStatus = 2
)

func (s CertChainStatus) String() string {
	switch s {
	case CertChainStatusNotStarted:
		return "not started"
	case CertChainStatusInProgress:
		return "in progress"
	case CertChainStatusComplete:
		return "complete"
	}
	return fmt.Sprintf("unknown certificate chain status %d", uint32(s))
}

// The AMT marking of a provisioning leaf (reference §3): either the EKU
// below, or exactly this subject OU. The OU is compared case-sensitively and
// without a trailing period, so it is kept here once, byte for byte.
const (
	ProvisioningOIDString = "2.16.840.1.113741.1.2.3"
	ClientSetupOU         = "Intel(R) Client Setup Certificate"
)

// ProvisioningOID returns the Intel AMT provisioning EKU. It is a function,
// not a variable, because an asn1.ObjectIdentifier is a slice a caller could
// change for everyone.
func ProvisioningOID() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{2, 16, 840, 1, 113741, 1, 2, 3}
}

// HostCommand is a host-interface (PTHI) command code (reference §12).
type HostCommand uint32

const (
	CmdUnprovision              HostCommand = 0x04000010
	CmdGetProvisioningState     HostCommand = 0x04000011
	CmdGetCodeVersions          HostCommand = 0x0400001A
	CmdEnumerateHashHandles     HostCommand = 0x0400002C
	CmdGetCertHashEntry         HostCommand = 0x0400002D
	CmdGetPKIFQDNSuffix         HostCommand = 0x04000036
	CmdGetLANInterfaceSettings  HostCommand = 0x04000048
	CmdGetUUID                  HostCommand = 0x0400005C
	CmdStopConfiguration        HostCommand = 0x0400005E
	CmdGetLocalSystemAccount    HostCommand = 0x04000067
	CmdGetControlMode           HostCommand = 0x0400006B
	CmdStartConfigurationHBased HostCommand = 0x0400008B
)

// HostResponseBit is set in the command field of every PTHI response.
const HostResponseBit HostCommand = 0x00800000

// PTHI message framing (reference §12, §13).
const (
	HostHeaderLen          = 12 // u8 major, u8 minor, u16 reserved, u32 command, u32 length
	HostVersionMajor       = 1
	HostVersionMinor       = 1
	StartConfigRequestLen  = 402 // header included; the header's length field says 390
	StartConfigResponseLen = 81
	MaxStartConfigSuffixes = 5
	StartConfigSuffixBytes = 320
)

var hostCommandNames = map[HostCommand]string{
	CmdUnprovision:              "Unprovision",
	CmdGetProvisioningState:     "GetProvisioningState",
	CmdGetCodeVersions:          "GetCodeVersions",
	CmdEnumerateHashHandles:     "EnumerateHashHandles",
	CmdGetCertHashEntry:         "GetCertHashEntry",
	CmdGetPKIFQDNSuffix:         "GetPKIFQDNSuffix",
	CmdGetLANInterfaceSettings:  "GetLANInterfaceSettings",
	CmdGetUUID:                  "GetUUID",
	CmdStopConfiguration:        "StopConfiguration",
	CmdGetLocalSystemAccount:    "GetLocalSystemAccount",
	CmdGetControlMode:           "GetControlMode",
	CmdStartConfigurationHBased: "StartConfigurationHBased",
}

// Response is the code the firmware answers c with.
func (c HostCommand) Response() HostCommand { return c | HostResponseBit }

// IsResponse reports whether c carries the response bit.
func (c HostCommand) IsResponse() bool { return c&HostResponseBit != 0 }

// Request strips the response bit.
func (c HostCommand) Request() HostCommand { return c &^ HostResponseBit }

func (c HostCommand) String() string {
	name, ok := hostCommandNames[c.Request()]
	if !ok {
		name = fmt.Sprintf("unknown host command 0x%08X", uint32(c.Request()))
	}
	if c.IsResponse() {
		return name + " response"
	}
	return name
}

// Host-interface client GUIDs (reference §12).
const (
	GUIDPTHI     = "12F80028-B4B7-4B2D-ACA8-46E0FF65814C"
	GUIDLME      = "6733A4DB-0476-4E7B-B3AF-BCFC29BEE7A7"
	GUIDWatchdog = "05B79A6F-4628-4D7F-899D-A91514CB32AB"
	GUIDUPID     = "92136C79-5FEA-4CFD-980E-23BE07FA5E9F"
)

// IsChangeToAMTEnabledRequest is the Watchdog-client request whose one-byte
// answer is a WatchdogFlags. Returned fresh so no caller can change it.
func IsChangeToAMTEnabledRequest() []byte { return []byte{0x05, 0x02, 0x51, 0x10} }

// WatchdogFlags is the Watchdog client's answer to "is change to AMT
// enabled" (reference §12).
type WatchdogFlags uint8

const (
	WatchdogTransitionAllowed WatchdogFlags = 0x01
	WatchdogAMTEnabled        WatchdogFlags = 0x02
	WatchdogRestricted        WatchdogFlags = 0x20
	// WatchdogTLSEnforced selects the TLS-based ACM path: local ports speak
	// only TLS.
	WatchdogTLSEnforced  WatchdogFlags = 0x40
	WatchdogNewInterface WatchdogFlags = 0x80
)

var watchdogFlagNames = []struct {
	f    WatchdogFlags
	name string
}{
	{WatchdogTransitionAllowed, "transition allowed"},
	{WatchdogAMTEnabled, "AMT enabled"},
	{WatchdogRestricted, "restricted"},
	{WatchdogTLSEnforced, "TLS enforced"},
	{WatchdogNewInterface, "new interface"},
}

// Has reports whether every bit of g is set in f.
func (f WatchdogFlags) Has(g WatchdogFlags) bool { return f&g == g }

// String names the set flags, and any undocumented bits in hex.
func (f WatchdogFlags) String() string {
	var parts []string
	rest := f
	for _, n := range watchdogFlagNames {
		if f&n.f != 0 {
			parts = append(parts, n.name)
			rest &^= n.f
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("unknown bits 0x%02X", uint8(rest)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
