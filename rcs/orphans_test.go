package rcs_test

import (
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

// A job that was running when the previous process died is marked
// interrupted at start, and its device no longer shows "activating": it shows
// "interrupted" with the fix, until its agent reconnects.
func TestInterruptedJobAtStart(t *testing.T) {
	const dev = "33221100-5544-7766-8899-aabbccddeeff"
	e := newEnvWith(t, nil, func(o *rcs.Options) {
		now := time.Now()
		if err := o.Store.Put(store.Jobs, "job-1", rcs.Job{ID: "job-1", Device: dev, Kind: rcs.JobActivate, Status: rcs.JobRunning, Created: now}); err != nil {
			t.Fatal(err)
		}
		if err := o.Store.Put(store.Devices, dev, rcs.DeviceRecord{ID: dev, State: rcs.StateActivating, LastJob: "job-1", FirstSeen: now}); err != nil {
			t.Fatal(err)
		}
	})
	var d rcs.DeviceDetail
	if code := e.call("GET", "/api/v1/devices/"+dev, e.token, nil, &d); code != 200 {
		t.Fatalf("show device: %d", code)
	}
	if d.Device.State != rcs.StateInterrupted || d.Device.Fix == "" {
		t.Fatalf("device after restart: state %q, fix %q; want %q with a fix", d.Device.State, d.Device.Fix, rcs.StateInterrupted)
	}
	var j rcs.Job
	if code := e.call("GET", "/api/v1/jobs/job-1", e.token, nil, &j); code != 200 || j.Status != rcs.JobInterrupted {
		t.Fatalf("job after restart: %d, status %q", code, j.Status)
	}
}
