package rcs_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/rcs"
)

// 200 devices of three generations connect at once, each through its own
// agent over a real websocket; every one ends in ACM with a password the
// store holds.
func TestTwoHundredDevicesAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("200 activations")
	}
	e := newEnv(t, nil)
	versions := []string{"11.8.55", "16.1.27", "19.0.5"}
	const n = 200
	devs := make([]*amtsim.Device, n)
	for i := range devs {
		devs[i] = e.device(versions[i%len(versions)], nil)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i, sd := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs, err := e.runOnceWithin(sd, "", 10*time.Minute)
			if err == nil && (len(evs) == 0 || evs[len(evs)-1].Kind != wire.EventDone) {
				err = fmt.Errorf("last event %+v", evs)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for i, err := range errs {
		if err != nil {
			t.Errorf("device %d (AMT %s): %v (%s)", i, devs[i].Version(), err, devs[i].LastError())
		}
	}
	var list []rcs.DeviceRecord
	if code := e.call("GET", "/api/v1/devices", e.token, nil, &list); code != http.StatusOK || len(list) != n {
		t.Fatalf("device list: %d, %d records", code, len(list))
	}
	for i, sd := range devs {
		if st, mode := sd.State(); st != amt.PostProvisioning || mode != amt.ControlACM {
			t.Errorf("device %d: %s %s", i, st, mode)
			continue
		}
		pw, err := e.srv.Engine().AdminPassword(sd.ID().String())
		if err != nil {
			t.Errorf("device %d: %v", i, err)
			continue
		}
		if i%20 == 0 {
			if err := authenticates(sd, pw); err != nil {
				t.Errorf("device %d: stored password refused: %v", i, err)
			}
		}
	}
	t.Logf("%d activations through agents in %s", n, took.Round(time.Millisecond))
}
