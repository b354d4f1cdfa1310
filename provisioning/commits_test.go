package provisioning

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/amtrcs/amtrcs/store"
)

// TestActivationCommits counts an activation's write transactions and reads
// back its audit trail: the session's start goes with the sealing step,
// the last step's record with the session's end, every other step has its
// own record, and no audit event is lost or reordered by the merging.
func TestActivationCommits(t *testing.T) {
	tests := []struct {
		version string
		profile Profile
		path    Path
	}{
		{"16.1.27", DefaultProfile("default"), PathHostBased},
		{"19.0.5", DefaultProfile("default"), PathTLS},
		{"16.1.27", ccmProfile(), PathCCM},
	}
	for _, tc := range tests {
		t.Run(string(tc.path), func(t *testing.T) {
			f := newFixture(t, Options{})
			_, dev := f.device(tc.version, nil)
			before := f.st.Stats()
			res, err := f.e.Activate(context.Background(), dev, tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			steps := stepsFor(tc.path)
			if got, want := f.st.Stats().Commits-before.Commits, uint64(len(steps)); got != want {
				t.Errorf("%d commits for %d steps, want %d: one per step, the start going with the seal and the end with the last step", got, len(steps), want)
			}
			log, err := f.st.AuditLog(store.AuditFilter{Subject: dev.ID()})
			if err != nil {
				t.Fatal(err)
			}
			slices.Reverse(log) // oldest first
			var got []string
			for _, e := range log {
				got = append(got, e.Action+" "+e.Detail["step"])
			}
			want := []string{"provision.start "}
			for _, s := range steps {
				want = append(want, "provision.step "+s.name)
			}
			want = append(want, "provision."+string(tc.path)+" ")
			if !slices.Equal(got, want) {
				t.Errorf("audit trail\n%q\nwant\n%q", got, want)
			}
			if len(res.Steps) != len(steps) {
				t.Errorf("result steps %v, want %d", res.Steps, len(steps))
			}
		})
	}
}

// TestSealCommittedBeforeFirstWrite stops each ACM path right after its
// sealing step and reads the store: the passwords, the session at the seal
// step and the start event must already be committed, since the next step
// sends a password to the device.
func TestSealCommittedBeforeFirstWrite(t *testing.T) {
	for _, version := range []string{"16.1.27", "19.0.5"} {
		t.Run(version, func(t *testing.T) {
			f := newFixture(t, Options{StepHook: func(_ Path, step string, ph Phase) error {
				if step == sealStepName && ph == AfterCall {
					return errKilled
				}
				return nil
			}})
			_, dev := f.device(version, nil)
			if _, err := f.e.Activate(context.Background(), dev, DefaultProfile("default")); err != errKilled {
				t.Fatalf("Activate = %v, want the kill after the seal", err)
			}
			id := dev.ID()
			for _, name := range []string{AdminSecretName(id), MEBxSecretName(id)} {
				if b, err := f.st.Secret(name); err != nil || len(b) == 0 {
					t.Errorf("secret %s after the seal: %v", name, err)
				}
			}
			sess, err := f.e.GetSession(id)
			if err != nil || sess.StepName != sealStepName || sess.Status != StatusRunning || sess.AdminSecret != AdminSecretName(id) {
				t.Errorf("session after the seal %+v, %v; want running at %s naming the admin secret", sess, err, sealStepName)
			}
			log, err := f.st.AuditLog(store.AuditFilter{Subject: id})
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range log {
				actions = append(actions, fmt.Sprint(e.Action, " ", e.Detail["step"]))
			}
			if !slices.Equal(actions, []string{"provision.step " + sealStepName, "provision.start "}) {
				t.Errorf("audit after the seal %q, want the start and the seal", actions)
			}
		})
	}
}
