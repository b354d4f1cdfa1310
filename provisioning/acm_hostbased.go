package provisioning

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
)

// hostBasedSteps is host-based ACM setup with AdminSetup (AMT 7 to 18,
// reference §5), over LMS port 16992 with the local system account, then
// as admin with the new password.
func hostBasedSteps() []step {
	s := []step{
		sealPasswords(true, true),
		{name: "enable-amt", do: stepEnableAMT},
		{name: "get-realm", do: stepLocalRealm},
		{name: "get-nonce", do: stepNonce},
		{name: "add-cert-chain", do: stepAddChain},
		{name: "admin-setup", do: func(ctx context.Context, r *run) error {
			c, err := r.localConn(ctx)
			if err != nil {
				return err
			}
			mc, sig, err := r.signNonce()
			if err != nil {
				return err
			}
			return c.AdminSetup(ctx, &wsman.AdminSetupInput{
				NetAdminPassEncryptionType: int(amt.PassEncryptionHTTPDigestMD5A1),
				NetworkAdminPassword:       amt.NetworkAdminPassword(r.realm, r.adminPW),
				McNonce:                    base64.StdEncoding.EncodeToString(mc),
				SigningAlgorithm:           int(amt.SigningRSASHA256),
				DigitalSignature:           base64.StdEncoding.EncodeToString(sig),
			})
		}},
		{name: "set-mebx-password", post: true, do: stepSetMEBx},
	}
	return append(s, configureSteps(amt.ControlACM)...)
}

func stepLocalRealm(ctx context.Context, r *run) error {
	c, err := r.localConn(ctx)
	if err != nil {
		return err
	}
	r.realm, err = realmOf(ctx, c)
	return err
}

// stepNonce reads the ConfigurationNonce the signature covers.
func stepNonce(ctx context.Context, r *run) error {
	c, err := r.nonceConn(ctx)
	if err != nil {
		return err
	}
	hbs, err := c.GetHostBasedSetupService(ctx)
	if err != nil {
		return fmt.Errorf("read IPS_HostBasedSetupService: %w", err)
	}
	n, err := hbs.Nonce()
	if err != nil || len(n) != 20 {
		return fmt.Errorf("IPS_HostBasedSetupService.ConfigurationNonce is not base64 of 20 bytes (%d bytes)", len(n))
	}
	r.nonce = n
	return nil
}

// nonceConn is the connection of the setup calls: the local system account
// before provisioning, admin with the device's password for an upgrade.
func (r *run) nonceConn(ctx context.Context) (*conn, error) {
	if r.sess.Path == PathUpgrade {
		return r.adminConn()
	}
	return r.localConn(ctx)
}

// stepAddChain sends the chain leaf first, root last.
func stepAddChain(ctx context.Context, r *run) error {
	c, err := r.nonceConn(ctx)
	if err != nil {
		return err
	}
	n := len(r.cert.Chain)
	for i, cert := range r.cert.Chain {
		if err := c.AddNextCertInChain(ctx, cert.Raw, i == 0, i == n-1); err != nil {
			return fmt.Errorf("AddNextCertInChain certificate %d of %d (%q): %w", i+1, n, cert.Subject.CommonName, err)
		}
	}
	return nil
}

// signNonce makes McNonce and the RSA PKCS#1 v1.5 SHA-256 signature over
// ConfigurationNonce || McNonce, by the provisioning key's Signer.
func (r *run) signNonce() (mc, sig []byte, err error) {
	if len(r.nonce) == 0 {
		return nil, nil, fmt.Errorf("no ConfigurationNonce read")
	}
	mc = make([]byte, 20)
	if _, err := rand.Read(mc); err != nil {
		return nil, nil, err
	}
	h := sha256.New()
	h.Write(r.nonce)
	h.Write(mc)
	sig, err = r.cert.Signer.Sign(rand.Reader, h.Sum(nil), crypto.SHA256)
	if err != nil {
		return nil, nil, fmt.Errorf("sign the setup nonce with provisioning certificate %q: %w", r.cert.ID, err)
	}
	return mc, sig, nil
}

func stepSetMEBx(ctx context.Context, r *run) error {
	c, err := r.adminConn()
	if err != nil {
		return err
	}
	return c.SetMEBxPassword(ctx, r.mebxPW)
}
