package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/store"
)

// TestRotatePassword: the device takes a new password, the store holds
// it, the old one no longer works, and no log or record shows either.
func TestRotatePassword(t *testing.T) {
	ctx := context.Background()
	f := newTLSFixture(t, "16.1.27", Options{})
	old := mustPassword(t, f.fixture, f.dev.ID())
	res, err := f.e.RotatePassword(ctx, f.dev)
	if err != nil || !res.Changed {
		t.Fatalf("RotatePassword = %+v, %v (%s)", res, err, f.sd.LastError())
	}
	pw := mustPassword(t, f.fixture, f.dev.ID())
	if pw == old || CheckPassword(pw) != nil {
		t.Fatal("the stored password did not change to a strong one")
	}
	if err := f.authenticates(f.sd); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if _, err := f.st.Secret(AdminNextSecretName(f.dev.ID())); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the pending password outlived the rotation: %v", err)
	}
	st, _ := f.e.State(f.dev.ID())
	if st.PasswordSet.IsZero() || st.Rotations != 1 {
		t.Fatalf("state %+v: want the rotation recorded", st)
	}
	log, _ := f.st.AuditLog(store.AuditFilter{Subject: f.dev.ID()})
	b, _ := json.Marshal([]any{log, res, st})
	if strings.Contains(string(b), pw) || strings.Contains(string(b), old) {
		t.Fatal("a password appears in the audit log, result or state")
	}
	// Maintenance goes on with the new password.
	if _, err := f.e.SyncClock(ctx, f.dev); err != nil {
		t.Fatalf("clock sync after rotation: %v", err)
	}
}

// TestRotatePasswordStaticProfile: a static password is not rotated.
func TestRotatePasswordStaticProfile(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	sd, dev := f.device("16.1.27", nil)
	p := DefaultProfile("static")
	p.AdminPassword, p.AdminPasswordStatic = PasswordStatic, "Str0ng!Pass"
	if _, err := f.e.Activate(ctx, dev, p); err != nil {
		t.Fatalf("Activate: %v (%s)", err, sd.LastError())
	}
	_, err := f.e.RotatePassword(ctx, dev)
	var r Reason
	if !errors.As(err, &r) || r.Rule != RulePasswordRotation {
		t.Fatalf("rotation of a static password = %v, want a %q refusal", err, RulePasswordRotation)
	}
	if err := f.authenticates(sd); err != nil {
		t.Fatalf("the static password stopped working: %v", err)
	}
}

// TestRotatePasswordCrash kills the engine after each rotation step, at
// both phases, without cleanup; a new engine on the reopened store
// resumes, and the device ends with a password the store holds. Then the
// same again, resumed by running the task instead of Resume.
func TestRotatePasswordCrash(t *testing.T) {
	for _, resumeBy := range []string{"Resume", "RotatePassword"} {
		for k, s := range rotationSteps() {
			for _, ph := range []Phase{AfterCall, AfterRecord} {
				t.Run(fmt.Sprintf("%s/%d-%s/%s", resumeBy, k, s.name, ph), func(t *testing.T) {
					ctx := context.Background()
					armed := false
					hook := func(p Path, step string, phase Phase) error {
						if armed && p == PathRotatePassword && step == s.name && phase == ph {
							armed = false
							return errKilled
						}
						return nil
					}
					f := newFixture(t, Options{StepHook: hook})
					sd, dev := f.device("16.1.27", nil)
					if _, err := f.e.Activate(ctx, dev, DefaultProfile("default")); err != nil {
						t.Fatalf("Activate: %v", err)
					}
					old := mustPassword(t, f, dev.ID())
					armed = true
					if _, err := f.e.RotatePassword(ctx, dev); !errors.Is(err, errKilled) {
						t.Fatalf("rotation = %v, want the kill", err)
					}
					if err := f.authenticates(sd); err != nil && s.name != "set-admin-acl" {
						t.Fatalf("between the kill and the resume the stored password fails: %v", err)
					}

					f.st.Close()
					f.opts.StepHook = nil
					f.open()
					dev = agentDevice(sd)
					var err error
					if resumeBy == "Resume" {
						_, err = f.e.Resume(ctx, dev)
					} else {
						if err = dev.ReadInfo(ctx); err == nil {
							_, err = f.e.RotatePassword(ctx, dev)
						}
					}
					if err != nil {
						t.Fatalf("%s: %v (%s)", resumeBy, err, sd.LastError())
					}
					if err := f.authenticates(sd); err != nil {
						t.Fatalf("after the resume the stored password fails: %v", err)
					}
					if mustPassword(t, f, dev.ID()) == old {
						t.Fatal("the rotation did not finish: the old password is still the device's")
					}
					sess, _ := f.e.GetSession(dev.ID())
					if sess.Status != StatusDone || sess.Path != PathRotatePassword {
						t.Fatalf("session %s %s, want a done rotation", sess.Path, sess.Status)
					}
					if _, err := f.st.Secret(AdminNextSecretName(dev.ID())); !errors.Is(err, store.ErrNotFound) {
						t.Fatalf("pending password left: %v", err)
					}
				})
			}
		}
	}
}

// TestDeactivateWaitsForRotation: a rotation killed after the device took
// the new password leaves it in the store as the next one, reached only
// through the rotation's session. Deactivate must refuse without writing
// a record over that session; once the rotation is finished it works.
func TestDeactivateWaitsForRotation(t *testing.T) {
	ctx := context.Background()
	armed := false
	f := newFixture(t, Options{StepHook: func(p Path, step string, ph Phase) error {
		if armed && p == PathRotatePassword && step == "set-admin-acl" && ph == AfterCall {
			armed = false
			return errKilled
		}
		return nil
	}})
	sd, dev := f.device("16.1.27", nil)
	if _, err := f.e.Activate(ctx, dev, DefaultProfile("default")); err != nil {
		t.Fatalf("Activate: %v", err)
	}
	armed = true
	if _, err := f.e.RotatePassword(ctx, dev); !errors.Is(err, errKilled) {
		t.Fatalf("rotation = %v, want the kill", err)
	}
	_, err := f.e.Deactivate(ctx, dev)
	var se *StateError
	if !errors.As(err, &se) || se.Reason.Rule != RuleDeviceState || !strings.Contains(se.Reason.Fix, "password-rotation") {
		t.Fatalf("Deactivate during a rotation = %v, want a %q refusal naming password-rotation", err, RuleDeviceState)
	}
	if sess, _ := f.e.GetSession(dev.ID()); sess.Path != PathRotatePassword {
		t.Fatalf("session is %s after the refusal, want the rotation's kept", sess.Path)
	}
	if _, err := f.e.RotatePassword(ctx, dev); err != nil {
		t.Fatalf("finishing the rotation: %v (%s)", err, sd.LastError())
	}
	if _, err := f.e.Deactivate(ctx, dev); err != nil {
		t.Fatalf("Deactivate after the rotation: %v (%s)", err, sd.LastError())
	}
}

// TestScheduledRotationWaitsForAge: the scheduler's first round after an
// activation does not replace the password the activation just set; once
// the password is older than the policy's age it is rotated, and an
// admin's request (Force) rotates at any age.
func TestScheduledRotationWaitsForAge(t *testing.T) {
	ctx := context.Background()
	f := newTLSFixture(t, "16.1.27", Options{PasswordMaxAge: 30 * 24 * time.Hour})
	old := mustPassword(t, f.fixture, f.dev.ID())
	res, err := f.e.Maintain(ctx, f.dev, TaskPasswordRotation, TaskOptions{})
	if err != nil || res.Changed || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "rotated once it is 720h0m0s old") {
		t.Fatalf("scheduled rotation of a new password = %+v, %v; want it left alone with the date it is due", res, err)
	}
	if pw := mustPassword(t, f.fixture, f.dev.ID()); pw != old {
		t.Fatal("the scheduled rotation replaced a password set moments ago")
	}
	if res, err = f.e.Maintain(ctx, f.dev, TaskPasswordRotation, TaskOptions{Force: true}); err != nil || !res.Changed {
		t.Fatalf("requested rotation = %+v, %v; want the password rotated", res, err)
	}
	rotated := mustPassword(t, f.fixture, f.dev.ID())
	f.clock.Advance(31 * 24 * time.Hour)
	if res, err = f.e.Maintain(ctx, f.dev, TaskPasswordRotation, TaskOptions{}); err != nil || !res.Changed {
		t.Fatalf("scheduled rotation of a 31-day-old password = %+v, %v (%s)", res, err, f.sd.LastError())
	}
	if pw := mustPassword(t, f.fixture, f.dev.ID()); pw == rotated {
		t.Fatal("the password older than the policy was not rotated")
	}
}
