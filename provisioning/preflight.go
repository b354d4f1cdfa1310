package provisioning

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/store"
)

// Rule names of preflight refusals not owned by csr or amt.
const (
	RuleDeviceState  = "device state"
	RuleCertificate  = "provisioning certificate"
	RuleRootInDevice = "root hash in device table"
	RulePath         = "activation path"
)

// Clock sources a preflight reports.
const (
	ClockDevice = "device" // AMT_TimeSynchronizationService.GetLowAccuracyTimeSynch
	ClockHost   = "host"   // the RCS's clock: the device's could not be read
)

// PreflightReport is what a passed preflight found. Its Notes say what was
// assumed (for example the clock source).
type PreflightReport struct {
	Device      string      `json:"device"`
	Version     amt.Version `json:"version"`
	AMTProfile  string      `json:"amt_profile"`
	Path        Path        `json:"path"`
	DNSSuffix   string      `json:"dns_suffix"`
	Domain      string      `json:"domain,omitempty"`
	CertID      string      `json:"cert_id,omitempty"`
	Root        string      `json:"root,omitempty"` // the device's table entry the chain's root matches
	Clock       time.Time   `json:"clock"`
	ClockSource string      `json:"clock_source"`
	Notes       []string    `json:"notes,omitempty"`

	cert   *ProvisioningCert
	domain Domain
	// identity is the device's identity chain seen for the first time on
	// its local TLS port, for the activation to record.
	identity *IdentityState
}

// Preflight proves, before any write, that the device will accept an
// activation with profile p: the state and path, the provisioning
// certificate its domain names, that certificate's root in the device's
// table and active, the suffix rule, the version's capabilities and the
// certificate's validity against the device's clock. It reads the device
// (host interface, and GetLowAccuracyTimeSynch when the device answers on
// port 16992) and never writes to it. A refusal is a *PreflightError with
// every reason. csr.Check's verdict on a chain is cached per chain content,
// version and suffix (certChecks); validity is judged at each device's
// clock.
func (e *Engine) Preflight(ctx context.Context, dev *Device, p Profile) (*PreflightReport, error) {
	if dev.Host != nil && dev.Info.Version == (amt.Version{}) {
		if err := dev.ReadInfo(ctx); err != nil {
			return nil, err
		}
	}
	rep := &PreflightReport{Device: dev.ID(), Version: dev.Info.Version, DNSSuffix: dev.Info.DNSSuffix}
	var reasons []Reason
	if err := p.Validate(); err != nil {
		reasons = append(reasons, reasonsOf(err)...)
	}
	prof, err := amt.LookupProfile(dev.Info.Version)
	if err != nil {
		reasons = append(reasons, reasonsOf(err)...)
		return rep, &PreflightError{Device: dev.ID(), Reasons: reasons}
	}
	rep.AMTProfile = prof.Name
	path, r := e.choosePath(dev, p, prof)
	rep.Path = path
	if r != nil {
		reasons = append(reasons, *r)
	}
	if r := amtStateReason(dev, p); r != nil {
		reasons = append(reasons, *r)
	} else if st := dev.Info.AMTState; st != nil && !st.Operational() {
		rep.Notes = append(rep.Notes, "AMT is disabled in firmware: activation enables it first (SetAmtOperationalState)")
	}
	if dev.Info.TLSEnforced() {
		rep.Notes = append(rep.Notes, "the firmware enforces TLS on its local ports: WS-MAN goes to port 16993")
	}
	if path == PathHostBased || path == PathTLS || path == PathUpgrade {
		reasons = append(reasons, e.deviceClock(ctx, dev, rep)...)
		reasons = append(reasons, e.pickCert(ctx, dev, rep)...)
	}
	if len(reasons) > 0 {
		e.log.Info("preflight refused", "device", dev.ID(), "reasons", len(reasons))
		return rep, &PreflightError{Device: dev.ID(), Reasons: reasons}
	}
	return rep, nil
}

// choosePath picks the path from the device's state, version and profile.
func (e *Engine) choosePath(dev *Device, p Profile, prof amt.Profile) (Path, *Reason) {
	st, mode := dev.Info.ProvisioningState, dev.Info.ControlMode
	seen := fmt.Sprintf("%s, control mode %s", st, mode)
	switch {
	case st == amt.InProvisioning:
		return "", &Reason{Rule: RuleDeviceState, Seen: seen, Want: amt.PreProvisioning.String(),
			Fix: "a TLS-based setup was started and not committed: run resume for this device (it stops the setup), or StopConfiguration"}
	case p.Mode == ModeCCM && st == amt.PreProvisioning:
		return PathCCM, nil
	case p.Mode == ModeCCM:
		return PathCCM, &Reason{Rule: RuleDeviceState, Seen: seen, Want: "pre-provisioning for a CCM profile", Fix: "deactivate the device first"}
	case st == amt.PreProvisioning && dev.Info.AMTState != nil && !dev.Info.TLSEnforced() && prof.AdminSetup:
		// rpc-go picks host-based AdminSetup when the firmware does not
		// enforce TLS locally (local.go activateACM), whatever the version.
		return PathHostBased, nil
	case st == amt.PreProvisioning && prof.TLSSetup:
		// TLS-based setup: firmware that enforces TLS on its local ports
		// (rpc-go's choice), and AMT 19+ when the flags were not read.
		return PathTLS, nil
	case st == amt.PreProvisioning && prof.AdminSetup:
		// AdminSetup, over TLS on 16993 where the firmware enforces it.
		return PathHostBased, nil
	case st == amt.PreProvisioning:
		return "", &Reason{Rule: RulePath, Seen: prof.Name + " offers neither AdminSetup nor TLS-based setup", Want: "a firmware that does", Fix: "update the firmware"}
	case mode == amt.ControlCCM:
		exists, err := e.hasSecret(AdminSecretName(dev.ID()))
		if err != nil || !exists {
			return PathUpgrade, &Reason{Rule: RuleDeviceState, Seen: "CCM with an admin password the store does not hold",
				Want: "a CCM device activated by this RCS", Fix: "deactivate the device (CCM allows the host command), then activate it in ACM"}
		}
		return PathUpgrade, nil
	}
	return "", &Reason{Rule: RuleDeviceState, Seen: seen, Want: "pre-provisioning, or CCM to upgrade", Fix: "the device is already in ACM: deactivate it first to activate it again"}
}

func (e *Engine) hasSecret(name string) (bool, error) {
	var ok bool
	err := e.st.View(func(tx *store.Tx) error {
		for _, n := range tx.SecretNames() {
			if n == name {
				ok = true
			}
		}
		return nil
	})
	return ok, err
}

// deviceClock reads the firmware clock into rep where the device answers
// on 16992 (or 16993 when it enforces TLS) before provisioning; else it
// falls back to the RCS clock and says so. On 16993 the device's identity
// chain is held to the one recorded for its UUID: another is refused (the
// reason), and one seen for the first time goes in rep for the activation
// to record.
func (e *Engine) deviceClock(ctx context.Context, dev *Device, rep *PreflightReport) []Reason {
	rep.Clock, rep.ClockSource = e.opts.Clock(), ClockHost
	if dev.Host == nil {
		rep.Notes = []string{"device clock not read (no host interface): judged validity at the RCS clock"}
		return nil
	}
	r := &run{e: e, dev: dev}
	defer r.close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := r.localConn(cctx)
	if err == nil {
		var t int64
		if t, err = c.GetLowAccuracyTimeSynch(cctx); err == nil {
			rep.Clock, rep.ClockSource, rep.Notes = time.Unix(t, 0).UTC(), ClockDevice, nil
			rep.identity = r.takeIdentity()
			return nil
		}
	}
	var re Reason
	if errors.As(err, &re) && re.Rule == RuleDeviceIdentity {
		rep.Notes = nil
		return []Reason{re}
	}
	rep.Notes = []string{fmt.Sprintf("device clock not readable (%v): judged validity at the RCS clock", err)}
	return nil
}

// pickCert finds the certificate of the device's domain, or, with no
// domain configured, the first stored one that passes, and judges it.
func (e *Engine) pickCert(ctx context.Context, dev *Device, rep *PreflightReport) []Reason {
	var ids []string
	if e.opts.Domains != nil {
		d, ok, err := e.opts.Domains(ctx, dev.Info.DNSSuffix)
		if err != nil {
			return []Reason{{Rule: RuleCertificate, Seen: "domain lookup failed: " + err.Error(), Want: "the domain of suffix " + dev.Info.DNSSuffix, Fix: "check the domain configuration"}}
		}
		if ok {
			rep.Domain, rep.domain = d.Name, d
			ids = []string{d.CertID}
		}
	}
	if ids == nil {
		all, err := e.certs.ProvisioningCertIDs(ctx)
		if err != nil {
			return []Reason{{Rule: RuleCertificate, Seen: "listing certificates failed: " + err.Error(), Want: "the stored provisioning certificates", Fix: "check the store"}}
		}
		if len(all) == 0 {
			return []Reason{{Rule: RuleCertificate, Seen: fmt.Sprintf("no domain lists suffix %q and no provisioning certificate is stored", dev.Info.DNSSuffix),
				Want: "a provisioning certificate for the device's domain", Fix: "import one (`amtrcs cert import`) and add the suffix to a domain"}}
		}
		ids = all
	}
	var all []Reason
	for _, id := range ids {
		pc, err := e.certs.ProvisioningCert(ctx, id)
		if err != nil {
			all = append(all, Reason{Rule: RuleCertificate, Seen: fmt.Sprintf("certificate %q: %v", id, err), Want: "a stored provisioning certificate with its key", Fix: "import it again, or fix the domain's provisioning_cert"})
			continue
		}
		rs, root := e.judgeCert(dev, pc, rep.Clock)
		if len(rs) == 0 {
			rep.CertID, rep.cert, rep.Root = pc.ID, pc, root
			if rep.domain.CertID == "" {
				rep.domain = Domain{Name: "(by certificate)", Suffixes: []string{dev.Info.DNSSuffix}, CertID: pc.ID}
			}
			return nil
		}
		if len(ids) > 1 {
			for i := range rs {
				rs[i].Seen = fmt.Sprintf("certificate %s: %s", id, rs[i].Seen)
			}
		}
		all = append(all, rs...)
	}
	return all
}

// judgeCert applies csr.Check for the device's version, suffix and clock,
// with the root judged against the device's own table rather than the
// version's default table (a default can be deactivated, a custom added).
func (e *Engine) judgeCert(dev *Device, pc *ProvisioningCert, now time.Time) ([]Reason, string) {
	if len(pc.Chain) == 0 || pc.Signer == nil {
		return []Reason{{Rule: RuleCertificate, Seen: fmt.Sprintf("certificate %q has no chain or no key", pc.ID), Want: "the chain and its key", Fix: "import the vendor's delivery with the pending key"}}, ""
	}
	v := e.checks.verdict(pc, dev.Info.Version, dev.Info.DNSSuffix, now)
	out := slices.Clone(v.reasons)
	if !v.complete {
		return out, ""
	}
	root := pc.Chain[len(pc.Chain)-1]
	entry, ok := dev.Info.Hashes.Find(root.Raw)
	switch {
	case !ok:
		out = append(out, Reason{Rule: RuleRootInDevice,
			Seen: fmt.Sprintf("root %q (SHA-256 %s) is not in the device's table of %d hashes", root.Subject.CommonName, v.rootSHA256, len(dev.Info.Hashes.Entries)),
			Want: "the root's hash in the device's trusted-root table",
			Fix:  "use a certificate from a vendor whose root the device holds (see `amtrcs hashes`), or add the SHA-256 as a custom hash in MEBx"})
	case !entry.Active:
		out = append(out, Reason{Rule: RuleRootInDevice,
			Seen: fmt.Sprintf("root %q matches the device's entry %q, which is deactivated", root.Subject.CommonName, entry.Name),
			Want: "an active entry",
			Fix:  "activate the hash in MEBx (MEBx > Remote Setup and Configuration > TLS PKI > Manage Certificates)"})
	}
	return out, entry.Name
}

// certChecks caches csr.Check's verdict on a provisioning chain per AMT
// version and DNS suffix: every activation's preflight judged the same
// chain again, three RSA signature verifications each time. The key holds
// a hash of the chain itself, so a replaced or renewed certificate is
// judged afresh. Only verdicts at a clock where every certificate of the
// chain is valid are cached, since then the clock plays no further part in
// them; validity is still judged per device, at its own clock, by csr's
// rule.
type certChecks struct {
	mu sync.Mutex
	m  map[certCheckKey]certVerdict
}

// maxCertChecks bounds the cache; past it the cache starts over. A fleet
// has a few certificates, versions and suffixes.
const maxCertChecks = 1024

type certCheckKey struct {
	id      string
	chain   [sha256.Size]byte
	version amt.Version
	suffix  string
}

type certVerdict struct {
	reasons    []Reason // csr.Check's, without the root-trusted rule (judged by the device's table)
	complete   bool
	rootSHA256 string
}

func (c *certChecks) verdict(pc *ProvisioningCert, v amt.Version, suffix string, now time.Time) certVerdict {
	valid := true
	for _, cert := range pc.Chain {
		if _, ok := amt.CheckValidity(cert, "", now); !ok {
			valid = false
			break
		}
	}
	var key certCheckKey
	if valid {
		key = certCheckKey{id: pc.ID, chain: chainSum(pc.Chain), version: v, suffix: suffix}
		c.mu.Lock()
		cv, ok := c.m[key]
		c.mu.Unlock()
		if ok {
			return cv
		}
	}
	rep := csr.Check(pc.Chain, csr.CheckOptions{Versions: []amt.Version{v}, Suffixes: []string{suffix}, Now: now})
	cv := certVerdict{complete: rep.Complete}
	for _, vd := range rep.Verdicts {
		for _, r := range vd.Reasons {
			if r.Rule != csr.RuleRootTrusted {
				cv.reasons = append(cv.reasons, r)
			}
		}
	}
	if rep.Root != nil {
		cv.rootSHA256 = rep.Root.SHA256
	}
	if valid {
		c.mu.Lock()
		if c.m == nil || len(c.m) >= maxCertChecks {
			c.m = map[certCheckKey]certVerdict{}
		}
		c.m[key] = cv
		c.mu.Unlock()
	}
	return cv
}

// reasonsOf flattens an error into Reasons, keeping the refusals inside it
// (as values or pointers) and those of joined errors.
func reasonsOf(err error) []Reason {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []Reason
		for _, e := range j.Unwrap() {
			out = append(out, reasonsOf(e)...)
		}
		return out
	}
	if r, ok := amt.AsRefusal(err); ok {
		return []Reason{r}
	}
	return []Reason{{Rule: "error", Seen: err.Error(), Err: err}}
}
