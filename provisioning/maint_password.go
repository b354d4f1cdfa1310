package provisioning

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/store"
)

// PathRotatePassword is an admin password rotation: a session like an
// activation's, recorded step by step, so that a crash at any point
// resumes with a password the store holds.
const PathRotatePassword Path = "rotate-password"

// AdminNextSecretName names the sealed password a rotation is about to
// set. It exists from the seal step until the promote step, which makes it
// the admin password in the same transaction that deletes it.
func AdminNextSecretName(device string) string { return "device/" + device + "/admin-next" }

// RulePasswordRotation names refusals of a rotation.
const RulePasswordRotation = "password rotation"

// rotationSteps: the new password is sealed and committed before the call
// that sets it; until the promote step the store holds both, and Resume
// tells from the device which one it takes.
func rotationSteps() []step {
	return []step{
		{name: "seal-new-password", recorded: true, do: stepSealNext},
		{name: "set-admin-acl", do: stepRotateACL},
		{name: "promote-password", recorded: true, do: stepPromote},
		{name: "confirm", do: func(ctx context.Context, r *run) error {
			c, err := r.adminConn()
			if err != nil {
				return err
			}
			if _, err := c.GetGeneralSettings(ctx); err != nil {
				return fmt.Errorf("the new admin password does not authenticate: %w", err)
			}
			return nil
		}},
	}
}

func stepIndex(steps []step, name string) int {
	for i, s := range steps {
		if s.name == name {
			return i
		}
	}
	return len(steps)
}

func stepSealNext(_ context.Context, r *run) error {
	e := r.e
	pw, err := GeneratePassword(r.prof.AdminPasswordLength)
	if err != nil {
		return err
	}
	now := e.opts.Clock()
	sess := *r.sess
	sess.Step, sess.StepName, sess.Updated = r.stepIndex+1, "seal-new-password", now
	name := AdminNextSecretName(sess.Device)
	err = e.st.Batch(func(tx *store.Tx) error {
		if err := tx.PutSecret(name, []byte(pw)); err != nil {
			return err
		}
		if err := tx.Put(store.Sessions, sess.Device, &sess); err != nil {
			return err
		}
		return tx.Audit(store.Event{Time: now, Actor: e.opts.Actor, Action: "provision.step", Subject: sess.Device, Outcome: store.OutcomeSuccess,
			Detail: map[string]string{"path": string(sess.Path), "step": "seal-new-password", "secret_name": name}})
	})
	if err != nil {
		return fmt.Errorf("seal the new admin password: %w", err)
	}
	*r.sess = sess
	return nil
}

func stepRotateACL(ctx context.Context, r *run) error {
	next, err := r.e.st.Secret(AdminNextSecretName(r.sess.Device))
	if err != nil {
		return fmt.Errorf("open the sealed new password: %w", err)
	}
	c, err := r.adminConn()
	if err != nil {
		return err
	}
	realm, err := realmOf(ctx, c)
	if err != nil {
		return err
	}
	if err := c.SetAdminAclEntryEx(ctx, amt.AdminUser, digestB64(realm, string(next))); err != nil {
		return fmt.Errorf("SetAdminAclEntryEx: %w", err)
	}
	// The connection authenticated with the old password.
	r.admin.close()
	r.admin = nil
	return nil
}

func stepPromote(_ context.Context, r *run) error {
	e := r.e
	now := e.opts.Clock()
	sess := *r.sess
	sess.Step, sess.StepName, sess.Updated = r.stepIndex+1, "promote-password", now
	var next []byte
	err := e.st.Batch(func(tx *store.Tx) error {
		var err error
		if next, err = tx.Secret(AdminNextSecretName(sess.Device)); err != nil {
			return err
		}
		if err := tx.PutSecret(AdminSecretName(sess.Device), next); err != nil {
			return err
		}
		if err := tx.DeleteSecret(AdminNextSecretName(sess.Device)); err != nil {
			return err
		}
		if err := tx.Put(store.Sessions, sess.Device, &sess); err != nil {
			return err
		}
		if err := updateState(tx, sess.Device, now, func(s *DeviceState) { s.PasswordSet = now; s.Rotations++ }); err != nil {
			return err
		}
		return tx.Audit(store.Event{Time: now, Actor: e.opts.Actor, Action: "provision.step", Subject: sess.Device, Outcome: store.OutcomeSuccess,
			Detail: map[string]string{"path": string(sess.Path), "step": "promote-password", "secret_name": AdminSecretName(sess.Device)}})
	})
	if err != nil {
		return fmt.Errorf("make the new password the device's: %w", err)
	}
	*r.sess = sess
	r.adminPW = string(next)
	r.admin.close()
	r.admin = nil
	return nil
}

// RotatePassword gives a provisioned device a new random admin password.
// An unfinished rotation is resumed instead of started again.
func (e *Engine) RotatePassword(ctx context.Context, dev *Device) (*MaintenanceResult, error) {
	id := dev.ID()
	release, err := e.acquire(id)
	if err != nil {
		return nil, err
	}
	defer release()
	res := &MaintenanceResult{Device: id, Task: TaskPasswordRotation}
	sess, err := e.GetSession(id)
	if err != nil {
		return res, e.maintDone(res, err, false)
	}
	var out *Result
	if sess.Path == PathRotatePassword && sess.Status != StatusDone {
		res.Notes = append(res.Notes, "resumed the unfinished rotation")
		out, err = e.resumeRotation(ctx, dev, &sess)
	} else {
		out, err = e.rotate(ctx, dev, sess)
	}
	if out != nil {
		res.Steps = out.Steps
		res.Notes = append(res.Notes, out.Notes...)
		res.Changed = contains(out.Steps, "set-admin-acl") || contains(out.Steps, "promote-password")
	}
	return res, e.maintDone(res, err, err == nil || deviceAnswered(err))
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (e *Engine) rotate(ctx context.Context, dev *Device, prev Session) (*Result, error) {
	if !Maintained(prev) {
		return nil, &StateError{Device: prev.Device, Reason: Reason{Rule: RuleDeviceState, Seen: fmt.Sprintf("session %s is %s", prev.Path, prev.Status),
			Want: "a device this RCS provisioned", Fix: "activate the device first, or resume its session"}}
	}
	p := e.restoreStatic(prev)
	if p.AdminPassword == PasswordStatic {
		return nil, Reason{Rule: RulePasswordRotation, Seen: fmt.Sprintf("profile %q sets a static admin password", p.Name),
			Want: "a profile with random admin passwords", Fix: "set admin_password \"random\" in the profile, or leave rotation off for it"}
	}
	sess := &Session{Device: prev.Device, Path: PathRotatePassword, Status: StatusRunning, Profile: prev.Profile, CertID: prev.CertID,
		Address: prev.Address, AdminSecret: AdminSecretName(prev.Device), MEBxSecret: prev.MEBxSecret, Started: e.opts.Clock(), Resumes: prev.Resumes}
	r := e.newRun(dev, sess, p, nil, Domain{})
	defer r.close()
	if err := r.loadPasswords(); err != nil {
		return r.res, err
	}
	if err := e.event(r, "provision.start", store.OutcomeSuccess, map[string]string{"path": string(PathRotatePassword), "profile": p.Name}); err != nil {
		return r.res, err
	}
	return r.res, e.execute(ctx, r, 0)
}

// resumeRotation continues a rotation from what the device accepts: the
// new password (set: promote it), else the current one (not set yet: set
// the sealed new one, or start over when none was sealed).
func (e *Engine) resumeRotation(ctx context.Context, dev *Device, sess *Session) (*Result, error) {
	r := e.newRun(dev, sess, e.restoreStatic(*sess), nil, Domain{})
	defer r.close()
	r.res.Resumed = true
	cur, cerr := e.st.Secret(AdminSecretName(sess.Device))
	next, nerr := e.st.Secret(AdminNextSecretName(sess.Device))
	if nerr != nil && !errors.Is(nerr, store.ErrNotFound) {
		return r.res, nerr
	}
	accepts := func(pw []byte) (bool, error) {
		r.admin.close()
		r.admin, r.adminPW = nil, string(pw)
		c, err := r.adminConn()
		if err != nil {
			return false, err
		}
		_, err = c.GetGeneralSettings(ctx)
		if err == nil {
			return true, nil
		}
		if isAuth(err) {
			return false, nil
		}
		return false, err
	}
	steps := r.steps
	from := sess.Step
	decision := ""
	ok := false
	if nerr == nil {
		var err error
		if ok, err = accepts(next); err != nil {
			return r.res, err
		}
		if ok {
			from, decision = stepIndex(steps, "promote-password"), "the device takes the new password: promote it"
			// promote reads the new password from the store; the run
			// keeps the current one until then.
			r.adminPW = string(cur)
		}
	}
	if !ok {
		if cerr != nil {
			return r.res, cerr
		}
		ok, err := accepts(cur)
		if err != nil {
			return r.res, err
		}
		if !ok {
			return r.res, &StateError{Device: sess.Device, Reason: Reason{Rule: RuleDeviceState,
				Seen: "the device takes neither the stored admin password nor the sealed new one", Want: "one of them",
				Fix: "the device was changed by another tool: unprovision it in MEBx and activate it again"}}
		}
		if nerr == nil {
			from, decision = stepIndex(steps, "set-admin-acl"), "the device takes the current password: set the sealed new one"
		} else {
			decision = "the device takes the current password"
		}
	}
	sess.Resumes++
	sess.Status, sess.Error = StatusRunning, ""
	if err := e.event(r, "provision.resume", store.OutcomeSuccess, map[string]string{"path": string(PathRotatePassword), "decision": decision, "from_step": strconv.Itoa(from)}); err != nil {
		return r.res, err
	}
	r.res.Notes = append(r.res.Notes, decision)
	return r.res, e.execute(ctx, r, from)
}
