package provisioning

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/store"
)

func stepsFor(p Path) []step {
	switch p {
	case PathHostBased:
		return hostBasedSteps()
	case PathTLS:
		return tlsSteps()
	case PathCCM:
		return ccmSteps()
	case PathUpgrade:
		return upgradeSteps()
	case PathLegacy:
		return legacySteps()
	case PathRotatePassword:
		return rotationSteps()
	}
	return nil
}

func (e *Engine) newRun(dev *Device, sess *Session, p Profile, cert *ProvisioningCert, d Domain) *run {
	return &run{
		e: e, dev: dev, sess: sess, prof: p, cert: cert, domain: d,
		steps: stepsFor(sess.Path),
		res:   &Result{Device: sess.Device, Path: sess.Path, CertID: sess.CertID, AdminSecret: AdminSecretName(sess.Device)},
	}
}

// Activate activates a device reached through the host interface with
// profile p. The path follows from the device and the profile: AMT 19+ in
// pre-provisioning takes TLS-based setup, AMT 7 to 18 host-based setup, a
// CCM profile CCM, and a CCM device with an ACM profile the upgrade. The
// preflight runs first; a refusal is a *PreflightError and nothing was
// written to the device.
func (e *Engine) Activate(ctx context.Context, dev *Device, p Profile) (*Result, error) {
	if dev.Host == nil {
		return nil, errors.New("activate: the device has no host interface; legacy devices are activated by their hello (HandleHello)")
	}
	// Info usually comes from the agent's report, which may be old: the
	// state is read again before anything is written.
	read := dev.RefreshState
	if dev.Info.Version == (amt.Version{}) {
		read = dev.ReadInfo
	}
	if err := read(ctx); err != nil {
		return nil, err
	}
	release, err := e.acquire(dev.ID())
	if err != nil {
		return nil, err
	}
	defer release()
	return e.activate(ctx, dev, p)
}

func (e *Engine) activate(ctx context.Context, dev *Device, p Profile) (*Result, error) {
	if err := e.guardStoredPassword(dev.ID(), dev.Info.ProvisioningState == amt.PostProvisioning); err != nil {
		e.denied(dev.ID(), "provision.activate", err)
		return &Result{Device: dev.ID()}, err
	}
	rep, err := e.Preflight(ctx, dev, p)
	if err != nil {
		e.denied(dev.ID(), "provision.preflight", err)
		return &Result{Device: dev.ID(), Path: rep.Path, Preflight: rep}, err
	}
	now := e.opts.Clock()
	sess := &Session{Device: dev.ID(), Path: rep.Path, Status: StatusRunning, Profile: p, CertID: rep.CertID, Started: now}
	if prev, err := e.GetSession(dev.ID()); err == nil {
		sess.Resumes = prev.Resumes
	}
	r := e.newRun(dev, sess, p, rep.cert, rep.domain)
	defer r.close()
	r.res.Preflight = rep
	if r.newIdentity = rep.identity; rep.identity != nil {
		r.res.Notes = append(r.res.Notes, rep.identity.note())
	}
	if err := e.forgetState(dev.ID()); err != nil {
		return r.res, err
	}
	if err := e.start(r, map[string]string{"path": string(sess.Path), "profile": p.Name, "cert_id": rep.CertID, "amt": dev.Info.Version.String()}); err != nil {
		return r.res, err
	}
	e.log.Info("activation started", "device", dev.ID(), "path", sess.Path, "amt", dev.Info.Version.String(), "cert", rep.CertID)
	return r.res, e.execute(ctx, r, 0)
}

// start records the session's start. When the first step seals the
// passwords, the start goes into that step's transaction: nothing reaches
// the device before it, so one commit does for both.
func (e *Engine) start(r *run, detail map[string]string) error {
	if len(r.steps) > 0 && r.steps[0].name == sealStepName {
		e.queue(r, "provision.start", store.OutcomeSuccess, detail)
		return nil
	}
	return e.event(r, "provision.start", store.OutcomeSuccess, detail)
}

// denied audits a refusal; the error text carries no secret.
func (e *Engine) denied(device, action string, err error) {
	d := map[string]string{"error": err.Error()}
	var pe *PreflightError
	if errors.As(err, &pe) {
		d["reasons"] = strconv.Itoa(len(pe.Reasons))
	}
	if aerr := e.st.Audit(store.Event{Time: e.opts.Clock(), Actor: e.opts.Actor, Action: action, Subject: device, Outcome: store.OutcomeDenied, Detail: d}); aerr != nil {
		e.log.Warn("audit write failed", "device", device, "err", aerr)
	}
}

// Resume picks up a device's session after a crash, from the device's own
// state: post-provisioned with the stored password → the remaining
// configuration steps; in-provisioning → StopConfiguration and start over;
// pre-provisioned → start over. A provisioned device whose stored password
// does not authenticate is reported with ErrUnknownPassword.
func (e *Engine) Resume(ctx context.Context, dev *Device) (*Result, error) {
	release, err := e.acquireFresh(ctx, dev)
	if err != nil {
		return nil, err
	}
	defer release()
	sess, err := e.GetSession(dev.ID())
	if err != nil {
		return nil, err
	}
	if sess.Status == StatusDone {
		return &Result{Device: sess.Device, Path: sess.Path, CertID: sess.CertID, AdminSecret: sess.AdminSecret, Resumed: true, Notes: []string{"the session had already finished"}}, nil
	}
	if sess.Path == PathDeactivate {
		return nil, fmt.Errorf("device %s: the last session was a deactivation; run it again", sess.Device)
	}
	if sess.Path == PathRotatePassword {
		return e.resumeRotation(ctx, dev, &sess)
	}
	p := e.restoreStatic(sess)
	if dev.Host == nil {
		return e.resumeLegacy(ctx, dev, &sess, p)
	}
	if st := dev.Info.ProvisioningState; st != amt.PostProvisioning && (sess.Path == PathTLS || st == amt.InProvisioning) {
		// A TLS-based setup may be open; stopping an idle device is
		// answered with an error we do not need. A commit whose reply was
		// lost may land meanwhile, so the decision below reads the state
		// afresh: that device continues with its sealed password.
		if err := dev.Host.StopConfiguration(ctx); err == nil {
			e.log.Info("stopped an open setup before starting over", "device", dev.ID())
		}
		if err := dev.ReadInfo(ctx); err != nil {
			return nil, err
		}
	}
	st, mode := dev.Info.ProvisioningState, dev.Info.ControlMode
	if st != amt.PostProvisioning || (sess.Path == PathUpgrade && mode == amt.ControlCCM) {
		e.audit(sess.Device, "provision.resume", map[string]string{"path": string(sess.Path), "decision": "start over", "state": dev.Info.ProvisioningState.String()})
		res, err := e.activate(ctx, dev, p)
		if res != nil {
			res.Resumed, res.Restarted = true, true
		}
		return res, err
	}
	return e.continuePost(ctx, dev, &sess, p)
}

// continuePost runs the post steps of a provisioned device's session that
// are not done yet, after proving the stored password authenticates.
func (e *Engine) continuePost(ctx context.Context, dev *Device, sess *Session, p Profile) (*Result, error) {
	var cert *ProvisioningCert
	if sess.CertID != "" {
		cert, _ = e.certs.ProvisioningCert(ctx, sess.CertID)
	}
	r := e.newRun(dev, sess, p, cert, Domain{})
	defer r.close()
	r.res.Resumed = true
	if err := r.loadPasswords(); err != nil {
		return r.res, &StateError{Device: sess.Device, Reason: Reason{Rule: RuleDeviceState, Seen: "provisioned, and the store has no admin password for it: " + err.Error(),
			Want: "the sealed password of this session", Fix: "restore the store from a backup taken after the session started"}}
	}
	c, err := r.adminConn()
	if err != nil {
		return r.res, err
	}
	if _, err := c.GetGeneralSettings(ctx); err != nil {
		if isAuth(err) {
			return r.res, &StateError{Device: sess.Device, Reason: Reason{Rule: RuleDeviceState, Seen: "provisioned, and the stored admin password is refused",
				Want: "the password this RCS set", Fix: "the device was re-provisioned by another tool: unprovision it in MEBx and activate it again"}}
		}
		return r.res, err
	}
	from := len(r.steps)
	for i, s := range r.steps {
		if s.post {
			from = i
			break
		}
	}
	if sess.Step > from {
		from = sess.Step
	}
	sess.Resumes++
	sess.Status, sess.Error = StatusRunning, ""
	if err := e.event(r, "provision.resume", store.OutcomeSuccess, map[string]string{"path": string(sess.Path), "decision": "continue", "from_step": strconv.Itoa(from)}); err != nil {
		return r.res, err
	}
	return r.res, e.execute(ctx, r, from)
}

// restoreStatic puts back the static passwords the session's profile copy
// leaves out: from the stored profile, else from the device's sealed copy.
func (e *Engine) restoreStatic(sess Session) Profile {
	p := sess.Profile
	stored, err := GetProfile(e.st, p.Name)
	if p.AdminPassword == PasswordStatic {
		if err == nil && stored.AdminPassword == PasswordStatic {
			p.AdminPasswordStatic = stored.AdminPasswordStatic
		} else if b, err := e.st.Secret(AdminSecretName(sess.Device)); err == nil {
			p.AdminPasswordStatic = string(b)
		}
	}
	if p.MEBxPassword == PasswordStatic {
		if err == nil && stored.MEBxPassword == PasswordStatic {
			p.MEBxPasswordStatic = stored.MEBxPasswordStatic
		} else if b, err := e.st.Secret(MEBxSecretName(sess.Device)); err == nil {
			p.MEBxPasswordStatic = string(b)
		}
	}
	return p
}

func (e *Engine) audit(device, action string, d map[string]string) {
	if err := e.st.Audit(store.Event{Time: e.opts.Clock(), Actor: e.opts.Actor, Action: action, Subject: device, Outcome: store.OutcomeSuccess, Detail: d}); err != nil {
		e.log.Warn("audit write failed", "device", device, "err", err)
	}
}
