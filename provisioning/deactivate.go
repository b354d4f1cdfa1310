package provisioning

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/store"
)

// RulePartialUnprovision names the refusal of a partial unprovision where
// amtrcs does not send one.
const RulePartialUnprovision = "partial unprovision"

// DeactivateOptions steer DeactivateWith; the zero value is a full
// unprovision.
type DeactivateOptions struct {
	// Partial sends AMT_SetupAndConfigurationService.PartialUnprovision:
	// the firmware keeps the admin ACL (name and password), TLS-PSK keys,
	// host and domain name and the provisioning server address, and resets
	// the rest, custom root hashes included (go-wsman-messages documents
	// what stays; the hashes are not among it). ACM only, as rpc-go sends
	// it: in CCM the RCS unprovisions with the host command.
	Partial bool `json:"partial,omitempty"`
}

// Deactivate fully unprovisions a device; see DeactivateWith.
func (e *Engine) Deactivate(ctx context.Context, dev *Device) (*Result, error) {
	return e.DeactivateWith(ctx, dev, DeactivateOptions{})
}

// DeactivateWith unprovisions a device (reference §9): over WS-MAN as
// admin with the stored password in ACM (the host command works only in
// CCM), with the host command in CCM. Once the device reports
// pre-provisioning, its admin password is deleted from the store in the
// same transaction as the session record and the audit event (kept after
// a partial unprovision, since the firmware keeps it); the MEBx password
// is kept, as the firmware keeps it. The result notes the custom root hash
// the device's activation needed, which unprovisioning clears.
func (e *Engine) DeactivateWith(ctx context.Context, dev *Device, opts DeactivateOptions) (*Result, error) {
	release, err := e.acquireFresh(ctx, dev)
	if err != nil {
		return nil, err
	}
	defer release()
	if prev, err := e.GetSession(dev.ID()); err == nil && prev.Path == PathRotatePassword && prev.Status != StatusDone {
		// The device may already take the sealed next password, which only
		// the rotation's session leads back to: a deactivation record over
		// it would leave that password where nothing looks for it.
		return nil, &StateError{Device: dev.ID(), Reason: Reason{Rule: RuleDeviceState,
			Seen: fmt.Sprintf("a password rotation stopped at step %q (%s)", prev.StepName, prev.Status), Want: "a finished rotation",
			Fix: "run the password-rotation task (or reconnect the device's agent) to finish it, then deactivate"}}
	}
	sess := &Session{Device: dev.ID(), Path: PathDeactivate, Status: StatusRunning, Started: e.opts.Clock(), Address: addrString(dev)}
	r := e.newRun(dev, sess, Profile{}, nil, Domain{})
	defer r.close()
	res := r.res
	res.AdminSecret = ""
	mode := dev.Info.ControlMode
	if dev.Host == nil {
		// A legacy device: ask WS-MAN which mode it is in.
		mode = amt.ControlACM
	}
	fail := func(step string, err error) (*Result, error) {
		serr := &StepError{Device: sess.Device, Path: PathDeactivate, Step: step, Err: err}
		sess.Status, sess.Error = StatusFailed, serr.Error()
		_ = e.event(r, "provision.deactivate", store.OutcomeFailure, map[string]string{"step": step, "error": serr.Error()})
		return res, serr
	}
	provisioned := dev.Host == nil || dev.Info.ProvisioningState != amt.PreProvisioning
	if opts.Partial && provisioned && mode == amt.ControlCCM {
		return nil, &StateError{Device: dev.ID(), Reason: Reason{Rule: RulePartialUnprovision,
			Seen: "the device is in client control mode (CCM)", Want: "a device in admin control mode (ACM)",
			Fix: "deactivate it without --partial: in CCM amtrcs unprovisions with the host command, as rpc-go does, which sends a partial unprovision in ACM only"}}
	}
	var lostHash string
	if provisioned {
		lostHash = e.customHashNeeded(ctx, dev)
	}
	switch {
	case !provisioned:
		res.Notes = append(res.Notes, "the device was not provisioned")
	case mode == amt.ControlCCM:
		if _, _, err := dev.Host.Unprovision(ctx, wsman.UnprovisionFull); err != nil {
			return fail("host-unprovision", err)
		}
		res.Steps = append(res.Steps, "host-unprovision")
	default:
		if err := r.loadPasswords(); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				err = fmt.Errorf("%w: unprovision it in MEBx (or with its password by another tool)", ErrUnknownPassword)
			}
			return fail("load-password", err)
		}
		c, err := r.adminConn()
		if err != nil {
			return fail("unprovision", err)
		}
		if opts.Partial {
			if err := c.PartialUnprovision(ctx); err != nil {
				return fail("partial-unprovision", err)
			}
			res.Steps = append(res.Steps, "partial-unprovision")
		} else {
			if err := c.Unprovision(ctx, wsman.UnprovisionFull); err != nil {
				return fail("unprovision", err)
			}
			res.Steps = append(res.Steps, "unprovision")
		}
	}
	if lostHash != "" {
		res.Notes = append(res.Notes, fmt.Sprintf("unprovisioning cleared the custom root hash %s that this device's activation needed: "+
			"add it again in MEBx (or with a USB key) before the device is activated again, or it cannot reach ACM with that certificate", lostHash))
	}
	if opts.Partial && provisioned {
		res.Notes = append(res.Notes, "partial unprovision: the firmware kept its admin account and password (still sealed in the store), host and domain name")
	}
	if dev.Host != nil {
		if err := waitUnprovisioned(ctx, dev); err != nil {
			return fail("confirm", err)
		}
		res.Steps = append(res.Steps, "confirm")
	}
	res.ControlMode = amt.ControlNone
	sess.Status, sess.Step, sess.StepName = StatusDone, len(res.Steps), "confirm"
	now := e.opts.Clock()
	sess.Updated = now
	err = e.st.Update(func(tx *store.Tx) error {
		// After a partial unprovision the firmware keeps its admin
		// password: so does the store, or nothing would know it.
		if !opts.Partial {
			if err := tx.DeleteSecret(AdminSecretName(sess.Device)); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if err := tx.Put(store.Sessions, sess.Device, sess); err != nil {
			return err
		}
		// What maintenance knew (TLS certificate, clock, names) belongs to
		// the provisioning that just ended; the part's identity stays.
		if err := resetState(tx, sess.Device, now); err != nil {
			return err
		}
		detail := map[string]string{"mode": mode.String(), "deleted_secret_name": AdminSecretName(sess.Device)}
		if opts.Partial {
			detail = map[string]string{"mode": mode.String(), "unprovision": "partial", "kept_secret_name": AdminSecretName(sess.Device)}
		}
		if lostHash != "" {
			detail["cleared_custom_hash"] = lostHash
		}
		return tx.Audit(store.Event{Time: now, Actor: e.opts.Actor, Action: "provision.deactivate", Subject: sess.Device, Outcome: store.OutcomeSuccess, Detail: detail})
	})
	return res, err
}

func addrString(d *Device) string {
	if d.Addr.IsValid() {
		return d.Addr.String()
	}
	return ""
}

// waitUnprovisioned polls the host interface until the firmware reports
// pre-provisioning: unprovisioning finishes after the call returns.
func waitUnprovisioned(ctx context.Context, dev *Device) error {
	_, st, err := waitState(ctx, dev, func(_ amt.ControlMode, st amt.ProvisioningState) bool { return st == amt.PreProvisioning })
	if err != nil {
		return fmt.Errorf("device still reports %s 30 s after unprovisioning: %w", st, err)
	}
	return nil
}

// errStateNotReached: the firmware answered, but not with the state
// waited for.
var errStateNotReached = errors.New("state not reached")

// waitState polls the host interface until ok holds for what the firmware
// reports, for at most 30 s, and returns the last state read; the error is
// errStateNotReached, the last read's error or the context's. Firmware
// applies a commit or an unprovision after answering it (RPS waits after
// CommitChanges before it checks, activation.ts WAIT_AFTER_COMMIT).
func waitState(ctx context.Context, dev *Device, ok func(amt.ControlMode, amt.ProvisioningState) bool) (amt.ControlMode, amt.ProvisioningState, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		mode, st, err := dev.state(ctx)
		if err == nil && ok(mode, st) {
			dev.Info.ControlMode, dev.Info.ProvisioningState = mode, st
			return mode, st, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errStateNotReached
			}
			return mode, st, err
		}
		select {
		case <-ctx.Done():
			return mode, st, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// customHashNeeded names the custom root hash the device's activation
// relied on: the root of the certificate its session used, found in the
// device's reported table as a custom entry, or (no table reported) absent
// from its version's default table. "" when none, or when it cannot tell.
func (e *Engine) customHashNeeded(ctx context.Context, dev *Device) string {
	sess, err := e.GetSession(dev.ID())
	if err != nil || sess.CertID == "" {
		return ""
	}
	pc, err := e.certs.ProvisioningCert(ctx, sess.CertID)
	if err != nil || len(pc.Chain) == 0 {
		return ""
	}
	root := pc.Chain[len(pc.Chain)-1]
	sum := sha256.Sum256(root.Raw)
	name := fmt.Sprintf("%q (SHA-256 %X)", root.Subject.CommonName, sum[:])
	if t := &dev.Info.Hashes; len(t.Entries) > 0 {
		if entry, ok := t.Find(root.Raw); ok && !entry.Default {
			return name
		}
		return ""
	}
	defaults := amt.DefaultHashTable(dev.Info.Version)
	if _, ok := defaults.Find(root.Raw); !ok {
		return name
	}
	return ""
}
