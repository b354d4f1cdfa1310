package provisioning

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hello"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/store"
)

// NoteLegacyTLS is recorded on every legacy activation: the device's own
// TLS key and certificate (GenerateKeyPair, AddCertificate,
// TLSCredentialContext, TLSSettingData) are issued by the TLS task of
// issue 7, not here; with them goes the user-consent policy, which the
// firmware relaxes only in ACM, after the commit closed the setup port.
const NoteLegacyTLS = "TLS key and certificate not configured, and user consent left at the firmware's default (all) until then: left to the TLS maintenance task (issue 7)"

// legacySteps is legacy network setup (reference §7, §14) over mutual TLS
// to the device's port 16993: user admin with an empty password until
// SetAdminAclEntryEx.
func legacySteps() []step {
	return []step{
		{name: "get-realm", do: stepSetupRealm},
		{name: "read-firmware", do: stepLegacyPreflight},
		sealPasswords(true, true),
		{name: "set-mebx-password", do: func(ctx context.Context, r *run) error {
			c, err := r.setupConn("")
			if err != nil {
				return err
			}
			return c.SetMEBxPassword(ctx, r.mebxPW)
		}},
		{name: "set-admin-acl", do: stepSetupACL},
		{name: "time-sync", do: func(ctx context.Context, r *run) error {
			c, err := r.setupConn(r.adminPW)
			if err != nil {
				return err
			}
			return r.e.syncTime(ctx, c, r.res)
		}},
		// The device closes its setup port when it commits, and a device
		// that was set up over the network is reached again only once its
		// TLS is configured (issue 7): the profile goes in before the commit.
		{name: "redirection", do: stepRedirection},
		{name: "network", do: stepNetwork},
		{name: "hostname", do: stepHostname},
		{name: "commit", do: stepCommitTLS},
	}
}

// stepLegacyPreflight reads what the hello did not say (version, state,
// clock) and judges the chosen certificate before the first write.
func stepLegacyPreflight(ctx context.Context, r *run) error {
	c, err := r.setupConn("")
	if err != nil {
		return err
	}
	v, err := c.FirmwareVersion(ctx)
	if err != nil {
		return err
	}
	r.dev.Info.Version = v
	sc, err := c.GetSetupAndConfigurationService(ctx)
	if err != nil {
		return err
	}
	r.dev.Info.ProvisioningState = amt.ProvisioningState(sc.ProvisioningState)
	now, src := r.e.opts.Clock(), ClockHost
	if t, err := c.GetLowAccuracyTimeSynch(ctx); err == nil {
		now, src = time.Unix(t, 0).UTC(), ClockDevice
	}
	var reasons []Reason
	if r.dev.Info.ProvisioningState == amt.PostProvisioning {
		reasons = append(reasons, Reason{Rule: RuleDeviceState, Seen: "post-provisioning", Want: "a device in network setup mode", Fix: "the device is already provisioned; deactivate it to set it up again"})
	}
	rep := csr.Check(r.cert.Chain, csr.CheckOptions{Versions: []amt.Version{v}, Now: now})
	for _, vd := range rep.Verdicts {
		for _, rs := range vd.Reasons {
			// The root was matched against the hello's own hashes.
			if rs.Rule != csr.RuleRootTrusted {
				reasons = append(reasons, rs)
			}
		}
	}
	r.res.Preflight = &PreflightReport{Device: r.dev.ID(), Version: v, Path: PathLegacy, CertID: r.cert.ID, Clock: now, ClockSource: src, DNSSuffix: r.dev.Info.DNSSuffix}
	if len(reasons) > 0 {
		return &PreflightError{Device: r.dev.ID(), Reasons: reasons}
	}
	return nil
}

func digestB64(realm, pw string) string {
	return b64(amt.DigestPassword(amt.AdminUser, realm, pw))
}

// syncTime sets the firmware clock when it is off by more than the
// threshold (reference §14).
func (e *Engine) syncTime(ctx context.Context, c *conn, res *Result) error {
	ta0, err := c.GetLowAccuracyTimeSynch(ctx)
	if err != nil {
		return err
	}
	now := e.opts.Clock()
	skew := now.Sub(time.Unix(ta0, 0))
	if skew.Abs() <= e.opts.TimeSyncThreshold {
		return nil
	}
	tm := now.Unix()
	if err := c.SetHighAccuracyTimeSynch(ctx, ta0, tm, tm); err != nil {
		return err
	}
	res.Notes = append(res.Notes, fmt.Sprintf("device clock was off by %s; set", skew.Round(time.Second)))
	return nil
}

// HandleHello sets up the device that sent a hello from source: it picks
// the provisioning certificate whose root hash the hello lists, connects
// back to source:16993 with the chain as client certificate, and runs the
// legacy sequence. The TCP 9971 listener (rcs) decodes the hello and calls
// this.
func (e *Engine) HandleHello(ctx context.Context, m hello.Message, source netip.Addr) (*Result, error) {
	if m.InterfaceVersion != hello.InterfaceVersionPKI {
		return nil, fmt.Errorf("hello from %s: interface version %d, want %d (PKI)", source, m.InterfaceVersion, hello.InterfaceVersionPKI)
	}
	dev := e.legacyDevice(m.UUID, source)
	if e.opts.LookupAddr != nil {
		if names, err := e.opts.LookupAddr(ctx, source.String()); err == nil && len(names) > 0 {
			dev.OSFQDN = strings.TrimSuffix(names[0], ".")
			_, dev.Info.DNSSuffix = splitFQDN(dev.OSFQDN, "")
		}
	}
	var p Profile
	var err error
	if e.opts.HelloProfile != nil {
		p, err = e.opts.HelloProfile(ctx, m, source)
	} else {
		p, err = GetProfile(e.st, "default")
	}
	if err != nil {
		return nil, fmt.Errorf("hello from %s: profile: %w", source, err)
	}
	if p.Mode != ModeACM {
		return nil, fmt.Errorf("hello from %s: profile %q is %s; network setup activates ACM only", source, p.Name, p.Mode)
	}
	release, err := e.acquire(dev.ID())
	if err != nil {
		return nil, err
	}
	defer release()
	return e.activateLegacy(ctx, dev, p, m.Hashes)
}

// LegacyDevice is the Device of a hello's sender: no host interface, and
// its port 16993 over the network.
func (e *Engine) legacyDevice(id amt.UUID, source netip.Addr) *Device {
	return &Device{
		Info: hostif.Info{UUID: id},
		Addr: source,
		Dial: func(ctx context.Context, port int) (net.Conn, error) {
			return e.opts.DialNetwork(ctx, "tcp", netip.AddrPortFrom(source, uint16(port)).String())
		},
	}
}

func (e *Engine) activateLegacy(ctx context.Context, dev *Device, p Profile, hashes []hello.Hash) (*Result, error) {
	if err := e.guardStoredPassword(dev.ID(), false); err != nil {
		e.denied(dev.ID(), "provision.hello", err)
		return nil, err
	}
	if err := p.Validate(); err != nil {
		pe := &PreflightError{Device: dev.ID(), Reasons: reasonsOf(err)}
		e.denied(dev.ID(), "provision.preflight", pe)
		return nil, pe
	}
	cert, err := e.certForHello(ctx, hashes)
	if err != nil {
		pe := &PreflightError{Device: dev.ID(), Reasons: []Reason{{Rule: RuleRootInDevice, Seen: err.Error(),
			Want: "a provisioning certificate whose root hash the device announces", Fix: "import a certificate from a vendor whose root the device trusts (see `amtrcs hashes`)"}}}
		e.denied(dev.ID(), "provision.preflight", pe)
		return nil, pe
	}
	sess := &Session{Device: dev.ID(), Path: PathLegacy, Status: StatusRunning, Profile: p, CertID: cert.ID, Address: dev.Addr.String(), Started: e.opts.Clock()}
	r := e.newRun(dev, sess, p, cert, Domain{})
	defer r.close()
	r.res.Notes = append(r.res.Notes, NoteLegacyTLS)
	if err := e.forgetState(dev.ID()); err != nil {
		return r.res, err
	}
	if err := e.event(r, "provision.start", store.OutcomeSuccess, map[string]string{"path": string(PathLegacy), "profile": p.Name, "cert_id": cert.ID, "address": dev.Addr.String()}); err != nil {
		return r.res, err
	}
	err = e.execute(ctx, r, 0)
	var pe *PreflightError
	if errors.As(err, &pe) {
		e.denied(dev.ID(), "provision.preflight", pe)
		return r.res, pe
	}
	return r.res, err
}

// certForHello picks the first certificate whose root's hash is among the
// hello's.
func (e *Engine) certForHello(ctx context.Context, hashes []hello.Hash) (*ProvisioningCert, error) {
	ids, err := e.certs.ProvisioningCertIDs(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		pc, err := e.certs.ProvisioningCert(ctx, id)
		if err != nil || len(pc.Chain) == 0 {
			continue
		}
		root := pc.Chain[len(pc.Chain)-1]
		for _, h := range hashes {
			if bytes.Equal(h.Algorithm.Sum(root.Raw), h.Value) {
				return pc, nil
			}
		}
	}
	return nil, fmt.Errorf("none of %d provisioning certificates has a root among the hello's %d hashes", len(ids), len(hashes))
}

// resumeLegacy decides from what the device's setup port accepts: the
// stored password (the ACL is set: continue after it), or admin with an
// empty password (start over). A closed port means the setup ended: the
// device committed with the sealed password, or stopped and will say hello
// again.
func (e *Engine) resumeLegacy(ctx context.Context, dev *Device, sess *Session, p Profile) (*Result, error) {
	if !dev.Addr.IsValid() && sess.Address != "" {
		a, err := netip.ParseAddr(sess.Address)
		if err != nil {
			return nil, err
		}
		*dev = *e.legacyDevice(dev.Info.UUID, a)
	}
	if dev.Dial == nil {
		*dev = *e.legacyDevice(dev.Info.UUID, dev.Addr)
	}
	cert, err := e.certs.ProvisioningCert(ctx, sess.CertID)
	if err != nil {
		return nil, err
	}
	r := e.newRun(dev, sess, p, cert, Domain{})
	r.res.Resumed = true
	if err := r.loadPasswords(); err == nil {
		if c, err := r.setupConn(r.adminPW); err == nil {
			if r.realm, err = realmOf(ctx, c); err == nil {
				from := 0
				for i, s := range r.steps {
					if s.name == "set-admin-acl" {
						from = i + 1
					}
				}
				if sess.Step > from {
					from = sess.Step
				}
				defer r.close()
				sess.Resumes++
				sess.Status, sess.Error = StatusRunning, ""
				if err := e.event(r, "provision.resume", store.OutcomeSuccess, map[string]string{"path": string(PathLegacy), "decision": "continue", "from_step": strconv.Itoa(from)}); err != nil {
					return r.res, err
				}
				return r.res, e.execute(ctx, r, from)
			}
		}
	}
	r.close()
	probe, err := r.setupConn("")
	if err == nil {
		_, err = realmOf(ctx, probe)
	}
	if err != nil && !isAuth(err) {
		r.close()
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("setup port of %s closed (%v): the setup ended; if it committed, the device's admin password is the sealed %s", dev.Addr, err, AdminSecretName(sess.Device)))
		return r.res, nil
	}
	r.close()
	e.audit(sess.Device, "provision.resume", map[string]string{"path": string(PathLegacy), "decision": "start over"})
	res, err := e.activateLegacy(ctx, dev, p, []hello.Hash{{Algorithm: amt.HashSHA256, Value: amt.HashSHA256.Sum(cert.Chain[len(cert.Chain)-1].Raw)}})
	if res != nil {
		res.Resumed, res.Restarted = true, true
	}
	return res, err
}
