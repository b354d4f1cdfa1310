package provisioning

import (
	"errors"
	"fmt"

	"github.com/amtrcs/amtrcs/store"
)

// RuleStoredPassword names the refusal to replace a stored password blind:
// an activation of a device whose record says its firmware holds the
// password in the store.
const RuleStoredPassword = "stored password"

// passwordInFirmware reports whether the session record says the device's
// firmware took the sealed admin password: the session ended well, or it
// is one that starts from a provisioned device (rotation, upgrade), or it
// got past the step that provisions the device (the first post step runs
// on a provisioned device).
func passwordInFirmware(sess Session) bool {
	switch {
	case sess.Path == PathDeactivate:
		return false
	case sess.Status == StatusDone, sess.Path == PathRotatePassword, sess.Path == PathUpgrade:
		return true
	}
	for i, s := range stepsFor(sess.Path) {
		if s.post {
			return sess.Step >= i
		}
	}
	return false
}

// guardStoredPassword refuses to start a session that would set a new
// admin password on a device whose record says its firmware holds the one
// in the store: such a session cannot first prove the firmware with the
// stored password (a device that reports itself unprovisioned has none to
// check), so it is either a device unprovisioned out of band or another
// device reported under this one's UUID. A device that reports itself
// provisioned is left to the preflight: it refuses ACM, and the CCM to
// ACM upgrade proves the stored password before it changes anything.
func (e *Engine) guardStoredPassword(device string, reportsProvisioned bool) error {
	if reportsProvisioned {
		return nil
	}
	sess, err := e.GetSession(device)
	if errors.Is(err, ErrNoSession) {
		return nil
	}
	if err != nil {
		return err
	}
	if !passwordInFirmware(sess) {
		return nil
	}
	if held, err := e.hasSecret(AdminSecretName(device)); err != nil || !held {
		return err
	}
	return &StateError{Device: device, Reason: Reason{Rule: RuleStoredPassword,
		Seen: fmt.Sprintf("device %s is recorded as provisioned (session %s %s) with its admin password in the store, and a session asked to activate it again", device, sess.Path, sess.Status),
		Want: "a session that first proves the firmware with the stored password, or a device this store holds no password for",
		Fix:  "deactivate it with its agent connected (amtrcs device deactivate " + device + "); if it was unprovisioned out of band (MEBx, CMOS clear) and you checked that in MEBx, forget it (amtrcs device forget " + device + ") and activate it again"}}
}

// Forget drops what the engine holds of a device: its session, its
// maintenance state and recorded identity (so that a replaced board is
// recorded afresh at its next identity chain) and its sealed passwords, in
// one transaction with the audit event. It is for a device unprovisioned out of band (MEBx, CMOS
// clear), whose stored password no firmware holds any more; forgetting a
// device that is still provisioned loses its password, so the caller (an
// admin) must have checked.
func (e *Engine) Forget(device, actor string) error {
	release, err := e.acquire(device)
	if err != nil {
		return err
	}
	defer release()
	return e.st.Update(func(tx *store.Tx) error {
		for _, del := range []func() error{
			func() error { return tx.Delete(store.Sessions, device) },
			func() error { return tx.Delete(store.Maintenance, StateKey(device)) },
			func() error { return tx.DeleteSecret(AdminSecretName(device)) },
			func() error { return tx.DeleteSecret(MEBxSecretName(device)) },
		} {
			if err := del(); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return tx.Audit(store.Event{Time: e.opts.Clock(), Actor: actor, Action: "provision.forget", Subject: device, Outcome: store.OutcomeSuccess,
			Detail: map[string]string{"deleted_secret_name": AdminSecretName(device), "deleted_mebx_secret_name": MEBxSecretName(device)}})
	})
}
