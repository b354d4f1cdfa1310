package amt

import (
	"fmt"
	"strings"
)

// AMTState is the flags byte of the manageability client's
// IsChangeToAMTEnabled reply (MEI client 05B79A6F-4628-4D7F-899D-
// A91514CB32AB, which rpc-go opens as its watchdog client and Intel LMS as
// its Manageability client). It tells whether AMT is operational and
// whether the firmware serves WS-MAN on its local ports over TLS only.
//
// Bits 1 (operational) and 6 (TLS on local ports) mean something only when
// bit 7 (the interface of ME 16.1 and later) is set: Intel LMS reads them
// that way (MNGIsChangeToAMTEnabledCommand.h), and firmware before it has
// no operational state to change. rpc-go reads bit 6 alone; an older
// firmware that set it without bit 7 would be read as not enforcing, and
// its plain port is then tried first (which fails with a clear error).
type AMTState uint8

// The bits of AMTState, as Intel LMS and rpc-go (pkg/amt/commands.go) name
// them.
const (
	StateTransitionAllowed AMTState = 0x01 // the operational state may be changed
	StateOperational       AMTState = 0x02 // AMT is enabled (with StateNewInterface)
	StateRestricted        AMTState = 0x20 // an OEM or policy restriction applies
	StateTLSOnLocalPorts   AMTState = 0x40 // WS-MAN on the host's ports needs TLS (with StateNewInterface)
	StateNewInterface      AMTState = 0x80 // ME 16.1+: SetAmtOperationalState exists
)

func (s AMTState) has(bit AMTState) bool { return s&bit == bit }

// NewInterface reports whether the firmware can be enabled from the host
// (SetAmtOperationalState, ME 16.1 and later).
func (s AMTState) NewInterface() bool { return s.has(StateNewInterface) }

// Operational reports whether AMT is enabled. Firmware before the new
// interface has no such state and is taken as enabled: its host interface
// answered, which it would not with AMT off in the MEBx.
func (s AMTState) Operational() bool { return !s.NewInterface() || s.has(StateOperational) }

// TLSEnforced reports whether the firmware serves WS-MAN on its local
// ports over TLS only (16993), refusing plain 16992.
func (s AMTState) TLSEnforced() bool { return s.NewInterface() && s.has(StateTLSOnLocalPorts) }

// CanEnable reports whether the host may turn AMT on.
func (s AMTState) CanEnable() bool {
	return s.NewInterface() && s.has(StateTransitionAllowed)
}

// String names the set bits, for reports and logs.
func (s AMTState) String() string {
	var parts []string
	if s.NewInterface() {
		parts = append(parts, "new interface")
	}
	if s.Operational() {
		parts = append(parts, "operational")
	} else {
		parts = append(parts, "disabled")
	}
	if s.TLSEnforced() {
		parts = append(parts, "TLS enforced on local ports")
	}
	if s.has(StateTransitionAllowed) {
		parts = append(parts, "transition allowed")
	}
	if s.has(StateRestricted) {
		parts = append(parts, "restricted")
	}
	return fmt.Sprintf("0x%02X (%s)", uint8(s), strings.Join(parts, ", "))
}

// BlockedReason says why the operational state cannot be changed, for a
// refusal's "seen".
func (s AMTState) BlockedReason() string {
	switch {
	case !s.NewInterface():
		return "firmware before ME 16.1 has no SetAmtOperationalState"
	case s.has(StateTransitionAllowed):
		return "transition allowed"
	case s.has(StateRestricted):
		return "the firmware reports an OEM or policy restriction"
	default:
		return "the firmware does not allow the transition (provisioned or locked)"
	}
}
