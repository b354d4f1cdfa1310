package rcs_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

// Activation and deactivation reach AMT through the device's agent: with
// none connected the API refuses with 409, and the fix says what the job
// needs the agent for.
func TestDeviceJobNeedsAgent(t *testing.T) {
	const dev = "33221100-5544-7766-8899-aabbccddee00"
	e := newEnvWith(t, nil, func(o *rcs.Options) {
		if err := o.Store.Put(store.Devices, dev, rcs.DeviceRecord{ID: dev, State: rcs.StateProvisioned, FirstSeen: time.Now()}); err != nil {
			t.Fatal(err)
		}
	})
	for _, c := range []struct{ job, fix string }{
		{"activate", "legacy hello devices are activated by their hello"},
		{"deactivate", "to unprovision"},
	} {
		var ae rcs.APIError
		if code := e.call("POST", "/api/v1/devices/"+dev+"/"+c.job, e.token, nil, &ae); code != http.StatusConflict {
			t.Fatalf("%s without an agent: %d, want 409", c.job, code)
		}
		if ae.Rule != "device reachable" || !strings.Contains(ae.Fix, c.fix) || ae.Want == "" || ae.Seen == "" {
			t.Errorf("%s refusal %+v, want rule, seen, want and a fix saying %q", c.job, ae, c.fix)
		}
	}
}
