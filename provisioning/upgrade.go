package provisioning

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/store"
)

// upgradeSteps moves a CCM device this RCS activated to ACM with
// UpgradeClientToAdmin (reference §5): the same nonce signature as
// AdminSetup, as admin with the device's stored password, which stays.
func upgradeSteps() []step {
	s := []step{
		{name: "load-password", do: func(ctx context.Context, r *run) error {
			if err := r.loadPasswords(); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("%w: no sealed admin password for this CCM device; deactivate it and activate again", ErrUnknownPassword)
				}
				return err
			}
			// The stored password is never replaced blind: the firmware
			// proves it holds it before the MEBx password is sealed anew.
			c, err := r.adminConn()
			if err != nil {
				return err
			}
			if _, err := c.GetGeneralSettings(ctx); err != nil {
				if isAuth(err) {
					return &StateError{Device: r.sess.Device, Reason: Reason{Rule: RuleStoredPassword, Seen: "the firmware refuses the stored admin password",
						Want: "the password this RCS set", Fix: "the device was re-provisioned by another tool, or another device answered: deactivate it in MEBx and activate it again"}}
				}
				return err
			}
			return nil
		}},
		sealPasswords(false, true),
		{name: "get-realm", do: func(ctx context.Context, r *run) error {
			c, err := r.adminConn()
			if err != nil {
				return err
			}
			r.realm, err = realmOf(ctx, c)
			return err
		}},
		{name: "get-nonce", do: stepNonce},
		{name: "add-cert-chain", do: stepAddChain},
		{name: "upgrade-client-to-admin", do: func(ctx context.Context, r *run) error {
			c, err := r.adminConn()
			if err != nil {
				return err
			}
			mc, sig, err := r.signNonce()
			if err != nil {
				return err
			}
			return c.UpgradeClientToAdmin(ctx, &wsman.UpgradeClientToAdminInput{
				McNonce:          base64.StdEncoding.EncodeToString(mc),
				SigningAlgorithm: int(amt.SigningRSASHA256),
				DigitalSignature: base64.StdEncoding.EncodeToString(sig),
			})
		}},
		{name: "set-mebx-password", post: true, do: stepSetMEBx},
	}
	return append(s, configureSteps(amt.ControlACM)...)
}
