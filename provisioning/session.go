package provisioning

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/store"
)

// Session statuses.
const (
	StatusRunning = "running"
	StatusFailed  = "failed"
	StatusDone    = "done"
)

// Session is the record of one device's provisioning, in the sessions
// bucket under the device UUID. It names its secrets; it never holds one.
type Session struct {
	Device   string  `json:"device"`
	Path     Path    `json:"path"`
	Step     int     `json:"step"`      // steps completed
	StepName string  `json:"step_name"` // the last step completed
	Status   string  `json:"status"`
	Profile  Profile `json:"profile"`
	CertID   string  `json:"cert_id,omitempty"`
	// Address is the legacy device's network address.
	Address     string    `json:"address,omitempty"`
	AdminSecret string    `json:"admin_secret,omitempty"` // secret names
	MEBxSecret  string    `json:"mebx_secret,omitempty"`
	Started     time.Time `json:"started"`
	Updated     time.Time `json:"updated"`
	Error       string    `json:"error,omitempty"`
	Resumes     int       `json:"resumes,omitempty"`
}

// Names of a device's secrets in the store.
func AdminSecretName(device string) string { return "device/" + device + "/admin" }
func MEBxSecretName(device string) string  { return "device/" + device + "/mebx" }

// GetSession reads a device's session record.
func (e *Engine) GetSession(device string) (Session, error) {
	var s Session
	err := e.st.Get(store.Sessions, device, &s)
	if errors.Is(err, store.ErrNotFound) {
		return s, fmt.Errorf("device %s: %w", device, ErrNoSession)
	}
	return s, err
}

// AdminPassword opens the sealed admin password of a device, for the
// server's maintenance tasks and tests. Callers must not log it.
func (e *Engine) AdminPassword(device string) (string, error) {
	b, err := e.st.Secret(AdminSecretName(device))
	return string(b), err
}

// step is one unit of a path. do makes the step's calls to the device.
type step struct {
	name string
	do   func(ctx context.Context, r *run) error
	// post: the step runs on a provisioned device, and is safe to repeat;
	// Resume runs the post steps not yet completed.
	post bool
	// recorded: do commits the session record itself (the sealing step,
	// whose record must go with the secret).
	recorded bool
}

// queue adds an audit event to the run, to be committed with the next
// session record (event, or the sealing step's transaction).
func (e *Engine) queue(r *run, action, outcome string, detail map[string]string) {
	r.pending = append(r.pending, store.Event{Time: e.opts.Clock(), Actor: e.opts.Actor, Action: action, Subject: r.sess.Device, Outcome: outcome, Detail: detail})
}

// event writes the session record with an audit event, and any queued
// before it, in one transaction. It goes through the store's group commit:
// as durable as Update when it returns, its fsync shared with the records
// of the other sessions committing at the same moment.
func (e *Engine) event(r *run, action, outcome string, detail map[string]string) error {
	id := r.takeIdentity()
	if id != nil {
		// The device's identity, first seen in this run, is recorded with
		// this commit and named in its event.
		detail = maps.Clone(detail)
		if detail == nil {
			detail = map[string]string{}
		}
		detail["identity_rom_sha256"], detail["identity_rom_subject"] = amt.FormatHash(id.ROMSHA256), id.ROMSubject
	}
	e.queue(r, action, outcome, detail)
	r.sess.Updated = e.opts.Clock()
	err := e.st.Batch(func(tx *store.Tx) error {
		if err := tx.Put(store.Sessions, r.sess.Device, r.sess); err != nil {
			return err
		}
		if id != nil {
			if err := recordIdentity(tx, r.sess.Device, id, r.sess.Updated); err != nil {
				return err
			}
		}
		return auditAll(tx, r.pending)
	})
	if err == nil {
		r.pending = nil
	}
	return err
}

func auditAll(tx *store.Tx, events []store.Event) error {
	for _, ev := range events {
		if err := tx.Audit(ev); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) hook(p Path, s string, ph Phase) error {
	if e.opts.StepHook == nil {
		return nil
	}
	return e.opts.StepHook(p, s, ph)
}

// execute runs r.steps from index from, recording each step. A step that
// fails runs r.onFail (StopConfiguration, for example) and is recorded as
// failed.
func (e *Engine) execute(ctx context.Context, r *run, from int) error {
	for i := from; i < len(r.steps); i++ {
		s := r.steps[i]
		r.stepIndex = i
		start := time.Now()
		err := s.do(ctx, r)
		e.observeStep(r.sess.Path, s.name, err, time.Since(start))
		if err != nil {
			serr := &StepError{Device: r.sess.Device, Path: r.sess.Path, Step: s.name, Err: err}
			if r.onFail != nil {
				// Cleanup runs even when ctx is done: a device left in
				// in-provisioning blocks its next activation.
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				if ferr := r.onFail(cctx); ferr != nil {
					e.log.Warn("cleanup after failed step", "device", r.sess.Device, "path", r.sess.Path, "step", s.name, "err", ferr)
				}
				cancel()
			}
			r.sess.Status = StatusFailed
			r.sess.Error = serr.Error()
			e.log.Warn("step failed", "device", r.sess.Device, "path", r.sess.Path, "step", s.name, "err", err)
			if rerr := e.event(r, "provision.step", store.OutcomeFailure, map[string]string{"path": string(r.sess.Path), "step": s.name, "error": serr.Error()}); rerr != nil {
				return errors.Join(serr, rerr)
			}
			return serr
		}
		if err := e.hook(r.sess.Path, s.name, AfterCall); err != nil {
			return err
		}
		r.res.Steps = append(r.res.Steps, s.name)
		last := i == len(r.steps)-1
		if !s.recorded {
			r.sess.Step, r.sess.StepName = i+1, s.name
			detail := map[string]string{"path": string(r.sess.Path), "step": s.name, "n": strconv.Itoa(i + 1)}
			if last {
				// The last step's record and the session's end are one
				// commit: between them there is nothing to resume.
				e.queue(r, "provision.step", store.OutcomeSuccess, detail)
				if err := e.finish(r); err != nil {
					return err
				}
			} else if err := e.event(r, "provision.step", store.OutcomeSuccess, detail); err != nil {
				return err
			}
		} else if last {
			if err := e.finish(r); err != nil {
				return err
			}
		}
		e.log.Debug("step done", "device", r.sess.Device, "path", r.sess.Path, "step", s.name, "took", time.Since(start))
		progress(ctx, r, i+1, s.name)
		if err := e.hook(r.sess.Path, s.name, AfterRecord); err != nil {
			return err
		}
	}
	if from >= len(r.steps) {
		return e.finish(r)
	}
	return nil
}

func (e *Engine) observeStep(p Path, step string, err error, took time.Duration) {
	if e.opts.Steps == nil {
		return
	}
	outcome := store.OutcomeSuccess
	if err != nil {
		outcome = store.OutcomeFailure
	}
	e.opts.Steps.ObserveStep(p, step, outcome, took)
}

// finish records the session as done.
func (e *Engine) finish(r *run) error {
	r.sess.Status = StatusDone
	r.sess.Error = ""
	return e.event(r, "provision."+string(r.sess.Path), store.OutcomeSuccess, map[string]string{"steps": strconv.Itoa(len(r.steps))})
}

const sealStepName = "seal-passwords"

// sealPasswords is the step that chooses the device's passwords and
// commits them sealed, with the session record and the audit events (the
// session's start, queued, among them), in one transaction: the calls that
// set them come after it. The transaction goes through the store's group
// commit, which returns only once it is on disk (fsync), as Update does.
func sealPasswords(withAdmin, withMEBx bool) step {
	return step{name: sealStepName, recorded: true, do: func(ctx context.Context, r *run) error {
		e := r.e
		p := r.prof
		admin := p.AdminPasswordStatic
		if !withAdmin {
			admin = r.adminPW // kept: an upgrade does not change it
		} else if p.AdminPassword != PasswordStatic {
			var err error
			if admin, err = GeneratePassword(p.AdminPasswordLength); err != nil {
				return err
			}
		}
		var mebx string
		if withMEBx {
			mebx = p.MEBxPasswordStatic
			if p.MEBxPassword != PasswordStatic {
				var err error
				if mebx, err = GeneratePassword(0); err != nil {
					return err
				}
			}
		}
		now := e.opts.Clock()
		sess := *r.sess
		sess.Step, sess.StepName, sess.Updated = r.stepIndex+1, sealStepName, now
		sess.AdminSecret = AdminSecretName(sess.Device)
		if withMEBx {
			sess.MEBxSecret = MEBxSecretName(sess.Device)
		}
		err := e.st.Batch(func(tx *store.Tx) error {
			if withAdmin {
				if err := tx.PutSecret(sess.AdminSecret, []byte(admin)); err != nil {
					return err
				}
			}
			if withMEBx {
				if err := tx.PutSecret(sess.MEBxSecret, []byte(mebx)); err != nil {
					return err
				}
			}
			if err := tx.Put(store.Sessions, sess.Device, &sess); err != nil {
				return err
			}
			if err := auditAll(tx, r.pending); err != nil {
				return err
			}
			d := map[string]string{"path": string(sess.Path), "step": sealStepName, "secret_name": sess.AdminSecret, "policy": string(p.AdminPassword)}
			if withMEBx {
				d["mebx_secret_name"] = sess.MEBxSecret
			}
			return tx.Audit(store.Event{Time: now, Actor: e.opts.Actor, Action: "provision.step", Subject: sess.Device, Outcome: store.OutcomeSuccess, Detail: d})
		})
		if err != nil {
			return fmt.Errorf("seal the device's passwords: %w", err)
		}
		*r.sess = sess
		r.pending = nil
		r.adminPW, r.mebxPW = admin, mebx
		return nil
	}}
}

// loadPasswords opens the device's sealed passwords into r.
func (r *run) loadPasswords() error {
	b, err := r.e.st.Secret(AdminSecretName(r.sess.Device))
	if err != nil {
		return err
	}
	r.adminPW = string(b)
	if b, err := r.e.st.Secret(MEBxSecretName(r.sess.Device)); err == nil {
		r.mebxPW = string(b)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// Result is what a session did.
type Result struct {
	Device      string          `json:"device"`
	Path        Path            `json:"path"`
	ControlMode amt.ControlMode `json:"control_mode"`
	Steps       []string        `json:"steps"`
	CertID      string          `json:"cert_id,omitempty"`
	// AdminSecret names the sealed admin password.
	AdminSecret string           `json:"admin_secret,omitempty"`
	Preflight   *PreflightReport `json:"preflight,omitempty"`
	Resumed     bool             `json:"resumed,omitempty"`
	// Restarted: Resume found the device not provisioned and started over.
	Restarted bool     `json:"restarted,omitempty"`
	Notes     []string `json:"notes,omitempty"`
}
