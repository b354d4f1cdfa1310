package rcs_test

import (
	"slices"
	"testing"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/rcs"
)

// TestJobCommits counts the durable writes of one activation through an
// agent, enrollment to the job's end, and checks the records they leave:
// the job's start writes the job and the device in one commit, its end
// likewise, and the agent's connect joins the group commit. An activation
// on AMT 16 is 18 group-commit calls: the enrollment token and the
// enrollment, the agent's binding, its report, the job's start, the
// engine's 12 (one per step, the session's start with the password seal
// and its end with the last step) and the job's end.
func TestJobCommits(t *testing.T) {
	e := newEnv(t, nil)
	sd := e.device("16.1.27", nil)
	before := e.st.Stats()
	evs, err := e.runOnce(sd, "")
	if err != nil {
		t.Fatalf("agent: %v (device: %s)", err, sd.LastError())
	}
	if last := evs[len(evs)-1]; last.Kind != wire.EventDone {
		t.Fatalf("last event %+v, want done", last)
	}
	// Counted as calls through the group commit: one activation alone
	// commits each call on its own, and the scheduler's plan, an Update
	// that may land in the same moments, is not among them.
	after := e.st.Stats()
	if got, want := after.BatchCalls-before.BatchCalls, uint64(18); got != want {
		t.Errorf("%d writes through the group commit for one activation, want %d", got, want)
	}
	d := e.waitDevice(sd.ID().String(), func(d rcs.DeviceRecord) bool { return d.State == rcs.StateProvisioned })
	var jobs []rcs.Job
	if code := e.call("GET", "/api/v1/jobs?device="+d.ID, e.token, nil, &jobs); code != 200 || len(jobs) != 1 {
		t.Fatalf("jobs: %d, %+v", code, jobs)
	}
	j := jobs[0]
	if j.Status != rcs.JobDone || d.LastJob != j.ID || d.Path != j.Path || d.Path == "" || d.Profile == "" {
		t.Errorf("job %+v, device %+v: the job's end and the device's record disagree", j, d)
	}
	// Every step reached the agent once, in order, before the end.
	var told []string
	for _, ev := range evs {
		if ev.Step != "" {
			told = append(told, ev.Step)
		}
	}
	if len(j.Steps) == 0 || !slices.Equal(told, j.Steps) {
		t.Errorf("steps told to the agent %q, want the job's %q", told, j.Steps)
	}
}
