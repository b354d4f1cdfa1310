package health

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs/jobs"
)

// TestWriteTextFixAndCounts: a task that failed because no agent was
// connected is fixed by getting an agent, not by running the task again;
// counts of one take the singular.
func TestWriteTextFixAndCounts(t *testing.T) {
	const id = "8c4e2d10-0000-4000-8000-000000000001"
	noAgent := "network path: no agent connected, and device " + id + " has no TLS certificate from the internal CA; want TLS configured by this RCS"
	tests := map[string]struct {
		jobErr   string
		attempts int
		want     []string
		not      []string
	}{
		"no agent": {jobErr: noAgent, attempts: 1,
			want: []string{"clock-sync failed 1 time,", "fix: start the agent on that PC", "amtrcs agent install", "wait for it to connect", "\n1 device, 1 failing\n"},
			not:  []string{"amtrcs device maintain " + id + " --task clock-sync", "1 devices", "1 times"}},
		"firmware refusal": {jobErr: "firmware said 2 (internal error)", attempts: 3,
			want: []string{"clock-sync failed 3 times,", "fix: amtrcs device maintain " + id + " --task clock-sync"},
			not:  []string{"amtrcs agent install"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dev, sess, st := healthy(id, "pc1.corp.example.com")
			in := Input{Devices: []DeviceInfo{dev}, Sessions: []provisioning.Session{sess}, States: []provisioning.DeviceState{st},
				Jobs:      []jobs.Record{{ID: "j1", Device: id, Task: provisioning.TaskClockSync, Attempts: tc.attempts, Error: tc.jobErr, NextRun: now.Add(time.Hour)}},
				ProvCerts: []CertInfo{{ID: "c1", CommonName: "rcs.corp.example.com", NotAfter: now.Add(36 * time.Hour)}}}
			rep := Build(in, now, PolicyFrom(config.DefaultMaintenance()))
			var b bytes.Buffer
			if err := WriteText(&b, rep); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			for _, w := range append(tc.want, ", 1 day left") {
				if !strings.Contains(out, w) {
					t.Errorf("report lacks %q:\n%s", w, out)
				}
			}
			for _, w := range append(tc.not, "1 days") {
				if strings.Contains(out, w) {
					t.Errorf("report says %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 devices", 1: "1 device", 2: "2 devices", -1: "-1 device"} {
		if got := count(n, "device", "devices"); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}
