package provisioning

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
)

// TestDeactivatePartialAndLostHash: a deactivation says that it cleared the
// custom root hash the activation needed; --partial sends
// PartialUnprovision in ACM, keeps the admin password the firmware keeps,
// and is refused in CCM with the rule, seen, want and fix.
func TestDeactivatePartialAndLostHash(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	for _, version := range []string{"16.1.27", "19.0.5"} {
		t.Run(version, func(t *testing.T) {
			sd, dev := f.device(version, nil)
			if _, err := f.e.Activate(ctx, dev, DefaultProfile("default")); err != nil {
				t.Fatalf("activate: %v (%s)", err, sd.LastError())
			}
			pw, err := f.e.AdminPassword(dev.ID())
			if err != nil {
				t.Fatal(err)
			}
			res, err := f.e.DeactivateWith(ctx, dev, DeactivateOptions{Partial: true})
			if err != nil {
				t.Fatalf("partial deactivate: %v (%s)", err, sd.LastError())
			}
			if !slices.Contains(res.Steps, "partial-unprovision") {
				t.Errorf("steps %q, want partial-unprovision", res.Steps)
			}
			if st, _ := sd.State(); st != amt.PreProvisioning {
				t.Fatalf("after partial unprovision: %s", st)
			}
			if !hasEvent(sd, "partial unprovision") {
				t.Error("the simulator saw no partial unprovision")
			}
			if kept, err := f.e.AdminPassword(dev.ID()); err != nil || kept != pw {
				t.Errorf("admin password after a partial unprovision: %v; want the one the firmware kept", err)
			}
			notes := strings.Join(res.Notes, "\n")
			if !strings.Contains(notes, "cleared the custom root hash") || !strings.Contains(notes, f.vendor.Root.Subject.CommonName) || !strings.Contains(notes, "MEBx") {
				t.Errorf("notes %q do not name the custom hash the activation needed", res.Notes)
			}

			// Full unprovision: the same note, and the password goes. The
			// hash is gone indeed: activating again needs it added back,
			// as the note says.
			dev.Info.Version = amt.Version{}
			if _, err := f.e.Activate(ctx, dev, DefaultProfile("default")); err == nil {
				t.Fatal("activated again without the custom hash the unprovision cleared")
			}
			if err := sd.AddCustomHash(f.rootHash()); err != nil {
				t.Fatal(err)
			}
			dev.Info.Version = amt.Version{}
			if _, err := f.e.Activate(ctx, dev, DefaultProfile("default")); err != nil {
				t.Fatalf("activate again: %v (%s)", err, sd.LastError())
			}
			res, err = f.e.Deactivate(ctx, dev)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(res.Notes, "\n"), "cleared the custom root hash") {
				t.Errorf("full deactivation notes %q", res.Notes)
			}
			if _, err := f.e.AdminPassword(dev.ID()); err == nil {
				t.Error("admin password kept after a full unprovision")
			}
		})
	}

	t.Run("CCM refuses partial", func(t *testing.T) {
		sd, dev := f.device("16.1.27", nil)
		if _, err := f.e.Activate(ctx, dev, ccmProfile()); err != nil {
			t.Fatalf("activate CCM: %v (%s)", err, sd.LastError())
		}
		writes := sd.Status().FlashWrites
		_, err := f.e.DeactivateWith(ctx, dev, DeactivateOptions{Partial: true})
		re, ok := amt.AsRefusal(err)
		if !ok || re.Rule != RulePartialUnprovision || !strings.Contains(re.Seen, "CCM") || !strings.Contains(re.Want, "ACM") || !strings.Contains(re.Fix, "without --partial") {
			t.Fatalf("partial in CCM: %v", err)
		}
		var se *StateError
		if !errors.As(err, &se) {
			t.Errorf("refusal %T, want a StateError", err)
		}
		if st, mode := sd.State(); st != amt.PostProvisioning || mode != amt.ControlCCM || sd.Status().FlashWrites != writes {
			t.Errorf("after the refusal: %s %s, %d flash writes (was %d); want untouched", st, mode, sd.Status().FlashWrites, writes)
		}
	})
}

func hasEvent(sd *amtsim.Device, text string) bool {
	for _, e := range sd.Events() {
		if strings.Contains(e.Detail, text) {
			return true
		}
	}
	return false
}
