package provisioning

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amt/wsman"
)

// tlsSteps is TLS-based ACM setup (AMT 19+, reference §6 and §13): the host
// interface starts the setup with the leaf's hash and the domain's
// suffixes; the RCS then terminates mutual TLS with the firmware itself over
// the relayed 16993 stream, presenting the provisioning chain, and pins the
// firmware's certificate to the hash the start returned.
func tlsSteps() []step {
	s := []step{
		sealPasswords(true, true),
		{name: "enable-amt", do: stepEnableAMT},
		{name: "start-configuration", do: stepStartConfiguration},
		{name: "get-realm", do: stepSetupRealm},
		{name: "set-admin-acl", do: stepSetupACL},
		{name: "set-mebx-password", do: func(ctx context.Context, r *run) error {
			c, err := r.setupConn(r.adminPW)
			if err != nil {
				return err
			}
			return c.SetMEBxPassword(ctx, r.mebxPW)
		}},
		{name: "commit", do: stepCommitTLS},
	}
	return append(s, configureSteps(amt.ControlACM)...)
}

// stepSetupRealm reads the digest realm inside a setup session (TLS-based
// and legacy network setup). Until SetAdminAclEntryEx the session is admin
// with an empty password: the client certificate, or the setup itself,
// authenticated it.
func stepSetupRealm(ctx context.Context, r *run) error {
	c, err := r.setupConn("")
	if err != nil {
		return err
	}
	r.realm, err = realmOf(ctx, c)
	return err
}

// stepSetupACL sets the sealed admin password inside a setup session
// (TLS-based and legacy network setup), which until then is admin with an
// empty password.
func stepSetupACL(ctx context.Context, r *run) error {
	c, err := r.setupConn("")
	if err != nil {
		return err
	}
	if err := c.SetAdminAclEntryEx(ctx, amt.AdminUser, digestB64(r.realm, r.adminPW)); err != nil {
		return err
	}
	// From here the session wants the new password.
	r.setup.close()
	r.setup = nil
	return nil
}

func stepStartConfiguration(ctx context.Context, r *run) error {
	req, err := startConfigRequest(r.cert.Chain[0])
	if err != nil {
		return err
	}
	var res hostif.StartConfigResult
	for try := 0; try < r.e.opts.StartConfigRetries; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(r.e.opts.StartConfigRetryDelay):
			}
		}
		if res, err = r.dev.Host.StartConfigurationHBased(ctx, req); err == nil {
			break
		}
		var se *hostif.StatusError
		if !errors.As(err, &se) {
			break // a transport failure: retrying the same relay will not help
		}
	}
	if err != nil {
		return fmt.Errorf("StartConfigurationHBased: %w", err)
	}
	if len(res.CertHash) == 0 {
		return errors.New("StartConfigurationHBased returned no firmware certificate hash to pin")
	}
	r.pin, r.pinAlg = res.CertHash, res.Algorithm
	r.onFail = func(ctx context.Context) error { return r.dev.Host.StopConfiguration(ctx) }
	return nil
}

// RuleStartConfigHash names the refusal of a leaf whose signature gives no
// hash StartConfigurationHBased takes.
const RuleStartConfigHash = "start-configuration hash"

// startConfigRequest is the StartConfigurationHBased request as the
// hardware-proven client sends it: the leaf hashed with the algorithm it
// is signed with, and no DNS-suffix list (the firmware matches the chain
// against its own suffix; no reference that runs on hardware fills the
// list, and the layouts seen disagree).
func startConfigRequest(leaf *x509.Certificate) (hostif.StartConfig, error) {
	alg, ok := amt.StartConfigHash(leaf.SignatureAlgorithm)
	if !ok {
		return hostif.StartConfig{}, Reason{Rule: RuleStartConfigHash,
			Seen: fmt.Sprintf("provisioning leaf %q signed with %s", leaf.Subject.CommonName, leaf.SignatureAlgorithm),
			Want: "a leaf signed with SHA-256 or SHA-384, the hashes StartConfigurationHBased announces",
			Fix:  "use a provisioning certificate signed with SHA-256 or SHA-384 (ask the vendor to reissue it)"}
	}
	return hostif.StartConfig{Algorithm: alg, LeafHash: alg.Sum(leaf.Raw)}, nil
}

// stepCommitTLS commits; on 2057 (data missing) it sets the MEBx password
// and commits again. The firmware may drop the connection while it restarts
// its network stack: success is then confirmed over the host interface.
func stepCommitTLS(ctx context.Context, r *run) error {
	c, err := r.setupConn(r.adminPW)
	if err != nil {
		return err
	}
	err = c.CommitChanges(ctx)
	var re *wsman.ReturnError
	if errors.As(err, &re) && re.Code == amt.PTDataMissing {
		if err = c.SetMEBxPassword(ctx, r.mebxPW); err == nil {
			err = c.CommitChanges(ctx)
		}
	}
	if err != nil && !errors.As(err, &re) && r.dev.Host != nil {
		mode, st, serr := r.dev.state(ctx)
		if serr == nil && mode != amt.ControlNone && st == amt.PostProvisioning {
			r.res.Notes = append(r.res.Notes, "CommitChanges dropped the connection; the host interface confirmed the device is provisioned")
			err = nil
		}
	}
	if err != nil {
		return err
	}
	r.onFail = nil // committed: nothing to stop
	r.setup.close()
	r.setup = nil
	return nil
}
