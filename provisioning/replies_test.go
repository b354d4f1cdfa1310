package provisioning

import (
	"context"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
)

// TestPaddedHostReplies: firmware that appends bytes to its host-interface
// replies, and answers Unprovision with the status alone, activates on
// every path and deactivates from CCM (the host-interface Unprovision).
func TestPaddedHostReplies(t *testing.T) {
	f := newFixture(t, Options{})
	padded := func(c *amtsim.Config) { c.HostReplies = amtsim.RepliesPadded }
	for _, v := range []string{"11.8.55", "16.1.27", "19.0.5"} {
		t.Run(v, func(t *testing.T) {
			sd, dev := f.device(v, padded)
			if _, err := f.e.Activate(context.Background(), dev, DefaultProfile("default")); err != nil {
				t.Fatalf("Activate: %v (device: %s)", err, sd.LastError())
			}
			if st, mode := sd.State(); st != amt.PostProvisioning || mode != amt.ControlACM {
				t.Fatalf("device %s %s, want post-provisioning ACM", st, mode)
			}
		})
	}
	t.Run("CCM deactivation", func(t *testing.T) {
		sd, dev := f.device("16.1.27", padded)
		ctx := context.Background()
		if _, err := f.e.Activate(ctx, dev, DefaultProfile("ccm")); err != nil {
			t.Fatalf("Activate CCM: %v (device: %s)", err, sd.LastError())
		}
		if _, err := f.e.Deactivate(ctx, dev); err != nil {
			t.Fatalf("Deactivate: %v (device: %s)", err, sd.LastError())
		}
		if st, _ := sd.State(); st != amt.PreProvisioning {
			t.Fatalf("device %s after deactivation, want pre-provisioning", st)
		}
	})
}
