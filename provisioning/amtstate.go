package provisioning

import (
	"context"
	"fmt"

	"github.com/amtrcs/amtrcs/amt"
)

// Rule names of refusals about the firmware's operational state.
const RuleAMTDisabled = "AMT operational state"

// mebx is the fix where the host cannot turn AMT on.
const mebx = "enable Intel AMT in the MEBx (Ctrl-P at boot) or the BIOS setup, then run the agent again"

// amtStateReason refuses a device whose AMT is disabled when activation may
// not turn it on, or returns nil. Firmware of ME 16.1 and later can be
// enabled from the host (rpc-go enables it before activating); older
// firmware, or a profile that says enable_amt = false, needs the MEBx.
func amtStateReason(dev *Device, p Profile) *Reason {
	st := dev.Info.AMTState
	if st == nil || st.Operational() {
		return nil
	}
	seen := "AMT disabled in firmware: " + st.String()
	switch {
	case !st.CanEnable():
		return &Reason{Rule: RuleAMTDisabled, Seen: seen + "; " + st.BlockedReason(), Want: "AMT enabled",
			Fix: mebx}
	case !p.EnableAMT:
		return &Reason{Rule: RuleAMTDisabled, Seen: seen, Want: "AMT enabled, or a profile that may enable it",
			Fix: fmt.Sprintf("set enable_amt = true in profile %q to let activation turn AMT on, or enable it in the MEBx", p.Name)}
	}
	return nil
}

// stepEnableAMT turns AMT on when the device reported it off (the
// preflight has checked that the firmware and the profile allow it), then
// reads the flags again: the firmware's answer, not ours, says it is on.
func stepEnableAMT(ctx context.Context, r *run) error {
	st := r.dev.Info.AMTState
	if st == nil || st.Operational() {
		return nil
	}
	if r.dev.Mng == nil {
		return Reason{Rule: RuleAMTDisabled, Seen: "AMT disabled, and no manageability client reached through this agent",
			Want: "the manageability client, to enable AMT", Fix: "update the agent on the PC, or " + mebx}
	}
	if err := r.dev.Mng.SetOperational(ctx, true); err != nil {
		return Reason{Rule: RuleAMTDisabled, Seen: "SetAmtOperationalState refused", Want: "AMT enabled", Fix: mebx, Err: err}
	}
	now, err := r.dev.Mng.AMTState(ctx)
	if err != nil {
		return fmt.Errorf("enable AMT: read the state back: %w", err)
	}
	if !now.Operational() {
		return Reason{Rule: RuleAMTDisabled, Seen: "SetAmtOperationalState succeeded, the firmware still reports " + now.String(),
			Want: "AMT operational", Fix: mebx}
	}
	r.dev.Info.AMTState = &now
	r.res.Notes = append(r.res.Notes, "AMT was disabled in firmware; activation enabled it (SetAmtOperationalState)")
	return nil
}

// stepCommitCCM commits a CCM setup where the proven implementations do:
// on firmware that enforces TLS on its local ports (rpc-go, local.go
// activateCCM) and on AMT 19 and later (RPS, activation.ts SETUP). It
// commits as admin, then drops the connections, because the firmware may
// roll its TLS certificate over at the commit (RPS opens a fresh tunnel).
func stepCommitCCM(ctx context.Context, r *run) error {
	prof, err := amt.LookupProfile(r.dev.Info.Version)
	if err != nil {
		return err
	}
	if !r.dev.Info.TLSEnforced() && !prof.TLSSetup {
		return nil
	}
	c, err := r.adminConn()
	if err != nil {
		return err
	}
	if err := c.CommitChanges(ctx); err != nil {
		return fmt.Errorf("commit the CCM setup: %w", err)
	}
	r.admin.close()
	r.local.close()
	r.admin, r.local = nil, nil
	return nil
}
