package provisioning

import (
	"context"
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
	leaf := r.cert.Chain[0]
	suffixes := startSuffixes(r.dev.Info.DNSSuffix, r.domain.Suffixes)
	req := hostif.StartConfig{Algorithm: amt.HashSHA256, LeafHash: amt.HashSHA256.Sum(leaf.Raw), Suffixes: suffixes}
	var res hostif.StartConfigResult
	var err error
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

// startSuffixes puts the device's suffix first and fills up with the
// domain's, at most five, as StartConfigurationHBased takes them.
func startSuffixes(device string, domain []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, s := range append([]string{device}, domain...) {
		n := normSuffix(s)
		if n == "" || seen[n] || len(out) == amt.MaxStartConfigSuffixes {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	return out
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
