package provisioning

import (
	"context"
	"errors"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
)

// Activate takes the facts from the report but reads the state live
// before the first write: a report from before the device was activated
// elsewhere cannot lead to a second activation in the wrong state.
func TestStaleReportIsReadAgain(t *testing.T) {
	f := newFixture(t, Options{})
	sd, dev := f.device("16.1.27", nil)
	ctx := context.Background()
	if err := dev.ReadInfo(ctx); err != nil {
		t.Fatal(err)
	}
	report := dev.Info // pre-provisioning, as the agent read it
	if _, err := f.e.Activate(ctx, dev, ccmProfile()); err != nil {
		t.Fatalf("Activate: %v (device: %s)", err, sd.LastError())
	}
	dev.Info = report
	_, err := f.e.Activate(ctx, dev, ccmProfile())
	var pe *PreflightError
	if !errors.As(err, &pe) {
		t.Fatalf("Activate on a stale report = %v, want the preflight's refusal of a provisioned device", err)
	}
	if dev.Info.ProvisioningState != amt.PostProvisioning || dev.Info.ControlMode != amt.ControlCCM {
		t.Errorf("Info after the live read: %s %s, want post-provisioning CCM", dev.Info.ProvisioningState, dev.Info.ControlMode)
	}
}
