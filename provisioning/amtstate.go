package provisioning

import (
	"context"
	"fmt"

	"github.com/amtrcs/amtrcs/amt"
)

// Rule names of refusals about the firmware's operational state.
const RuleAMTDisabled = "AMT operational state"

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
			Fix: "enable Intel AMT in the MEBx (Ctrl-P at boot) or the BIOS setup, then run the agent again"}
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
		return fmt.Errorf("enable AMT: the device has no manageability client to reach")
	}
	if err := r.dev.Mng.SetOperational(ctx, true); err != nil {
		return fmt.Errorf("enable AMT: %w", err)
	}
	now, err := r.dev.Mng.AMTState(ctx)
	if err != nil {
		return fmt.Errorf("enable AMT: read the state back: %w", err)
	}
	if !now.Operational() {
		return fmt.Errorf("enable AMT: SetAmtOperationalState succeeded but the firmware still reports %v", now)
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
