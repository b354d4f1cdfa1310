package rcs_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs/jobs"
)

// On hosts where no LMS runs, the agents reach the firmware ports with APF
// over the LME client: activation on AMT 11, 16 and 19, and a maintenance
// task afterwards, with no LMS anywhere.
func TestActivateAndMaintainWithoutLMS(t *testing.T) {
	e := newEnv(t, nil)
	e.withoutLMS = true
	for _, tt := range []struct {
		version string
		path    provisioning.Path
	}{
		{"11.8.55", provisioning.PathHostBased},
		{"16.1.27", provisioning.PathHostBased},
		{"19.0.5", provisioning.PathTLS},
	} {
		t.Run("AMT "+tt.version, func(t *testing.T) {
			sd := e.device(tt.version, nil)
			evs, err := e.runOnce(sd, "")
			if err != nil {
				t.Fatalf("agent: %v (device: %s)", err, sd.LastError())
			}
			if last := evs[len(evs)-1]; last.Kind != wire.EventDone || !strings.Contains(last.Message, string(tt.path)) {
				t.Fatalf("last event %+v, want done on %s", last, tt.path)
			}
			if st, mode := sd.State(); st != amt.PostProvisioning || mode != amt.ControlACM {
				t.Fatalf("device %s %s, want post-provisioning ACM", st, mode)
			}
			if err := authenticates(sd, e.password(sd.ID().String())); err != nil {
				t.Fatalf("the stored password does not open the device: %v", err)
			}
		})
	}

	t.Run("clock-sync", func(t *testing.T) {
		sd := e.device("16.1.27", nil)
		e.connected(sd, "")
		sd.SetFirmwareTime(time.Now().Add(-5 * time.Minute))
		id := sd.ID().String()
		var req jobs.Record
		if code := e.call("POST", "/api/v1/devices/"+id+"/maintain", e.token, map[string]string{"task": provisioning.TaskClockSync}, &req); code != http.StatusAccepted {
			t.Fatalf("maintain: %d, want 202", code)
		}
		if r := e.waitMaintenance(req); r.Error != "" || r.LastOK.IsZero() || !r.Changed {
			t.Fatalf("clock-sync ended %+v, want done with a change", r)
		}
		// The firmware keeps whole seconds.
		if o := time.Until(sd.FirmwareTime()); o.Abs() > 2*time.Second {
			t.Fatalf("the firmware clock is off by %s after the sync", o)
		}
	})
}
