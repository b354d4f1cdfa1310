package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"time"
)

// backend signs a checked request. It returns the leaf followed by the
// intermediates, leaf side first. The window is final: the backend must make
// the certificate carry exactly notBefore and notAfter.
type backend interface {
	sign(ctx context.Context, csr *x509.CertificateRequest, p profile, notBefore, notAfter time.Time) ([]*x509.Certificate, error)
	close() error
}

// CA issues certificates. It is safe for concurrent use.
type CA struct {
	mode     Mode
	validity Validity
	now      func() time.Time
	log      *slog.Logger
	be       backend

	root *x509.Certificate
	// intermediates, top-down: the one signed by the root first.
	intermediates []*x509.Certificate
	created       bool
}

// Open starts the CA cfg describes. In embedded mode it creates the root,
// the intermediate and DataDir/ca.db on first use, sealing both keys with
// sealer. In external mode it pins the step-ca's root by fingerprint and
// loads the provisioner's key. clock may be nil for time.Now; tests pass
// their own to control validity windows.
func Open(ctx context.Context, cfg Config, sealer Sealer, clock func() time.Time) (*CA, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if clock == nil {
		clock = time.Now
	}
	c := &CA{mode: cfg.Mode, validity: cfg.Validity, now: clock, log: cfg.Logger}
	if c.log == nil {
		c.log = slog.Default()
	}
	var err error
	switch cfg.Mode {
	case Embedded:
		err = c.openEmbedded(ctx, cfg, sealer)
	case External:
		err = c.openExternal(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Close releases the embedded authority's database.
func (c *CA) Close() error { return c.be.close() }

// Mode says whether the CA is embedded or external.
func (c *CA) Mode() Mode { return c.mode }

// Created reports whether Open created the embedded CA: a new root that
// consoles must be given (amtrcs pki bundle).
func (c *CA) Created() bool { return c.created }

// Roots returns the root certificate.
func (c *CA) Roots() []*x509.Certificate { return []*x509.Certificate{c.root} }

// Intermediates returns the intermediate certificates, top-down: the one the
// root signed first.
func (c *CA) Intermediates() []*x509.Certificate {
	return append([]*x509.Certificate(nil), c.intermediates...)
}

// RootPool is a pool holding the root, for verifying what the CA issued.
func (c *CA) RootPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.root)
	return p
}

// Bundle is the PEM that consoles and KVM viewers import: the root first,
// then the intermediates top-down.
func (c *CA) Bundle() []byte {
	var b bytes.Buffer
	for _, crt := range append([]*x509.Certificate{c.root}, c.intermediates...) {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: crt.Raw})
	}
	return b.Bytes()
}

// SignOption changes one issuance.
type SignOption func(*signOptions)

type signOptions struct {
	notBefore, notAfter time.Time
}

// WithWindow issues the certificate with exactly this validity window
// (truncated to whole seconds, as X.509 stores it) instead of the configured
// validity: for renewals that must end on a given day, and for tests that
// need certificates close to expiry. notAfter must be after the CA's clock
// says now: a certificate is never issued already expired.
func WithWindow(notBefore, notAfter time.Time) SignOption {
	return func(o *signOptions) { o.notBefore, o.notAfter = notBefore, notAfter }
}

// SignAMTTLS signs the CSR an AMT device's firmware made for its TLS server
// key. The certificate names fqdn as CN and DNS SAN, has the server-auth
// usage, and lives Validity.AMTTLS. It returns the leaf and the
// intermediates, leaf side first, as the device presents them.
func (c *CA) SignAMTTLS(ctx context.Context, csr *x509.CertificateRequest, fqdn string, opts ...SignOption) (*x509.Certificate, []*x509.Certificate, error) {
	p, err := amtTLSProfile(fqdn)
	if err != nil {
		return nil, nil, err
	}
	return c.issue(ctx, csr, p, opts)
}

// SignAgent signs an agent's CSR. The certificate names agentID as CN and as
// the URI SAN urn:amtrcs:agent:<agentID> (see AgentID), has the client-auth
// usage, and lives Validity.Agent.
func (c *CA) SignAgent(ctx context.Context, csr *x509.CertificateRequest, agentID string, opts ...SignOption) (*x509.Certificate, []*x509.Certificate, error) {
	p, err := agentProfile(agentID)
	if err != nil {
		return nil, nil, err
	}
	return c.issue(ctx, csr, p, opts)
}

// IssueServer issues the RCS's own server certificate for names (DNS names
// or IP addresses; the first is the CN) with a new ECDSA P-256 key. The
// result carries the leaf and the intermediates, ready for tls.Config.
func (c *CA) IssueServer(ctx context.Context, names []string, opts ...SignOption) (tls.Certificate, error) {
	p, err := serverProfile(names)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, csr, err := serverRequest(p)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, chain, err := c.issue(ctx, csr, p, opts)
	if err != nil {
		return tls.Certificate{}, err
	}
	out := tls.Certificate{PrivateKey: key, Leaf: leaf, Certificate: [][]byte{leaf.Raw}}
	for _, crt := range chain {
		out.Certificate = append(out.Certificate, crt.Raw)
	}
	return out, nil
}

func (c *CA) validityOf(k Kind) time.Duration {
	switch k {
	case KindAMTTLS:
		return c.validity.AMTTLS
	case KindAgent:
		return c.validity.Agent
	}
	return c.validity.Server
}

// window decides the validity of one certificate. Times are truncated to
// seconds so that what is asked is exactly what X.509 can carry, and the
// issued certificate can be compared to it.
func (c *CA) window(k Kind, o signOptions) (time.Time, time.Time, error) {
	now := c.now()
	nb, na := o.notBefore, o.notAfter
	if nb.IsZero() && na.IsZero() {
		nb, na = now.Add(-Backdate), now.Add(c.validityOf(k))
	}
	nb, na = nb.Truncate(time.Second).UTC(), na.Truncate(time.Second).UTC()
	switch {
	case nb.IsZero() || na.IsZero():
		return nb, na, fmt.Errorf("%w: %s validity window has NotBefore %s and NotAfter %s, want both set: give both times, or neither to use the configured %s",
			ErrRequest, k, fmtTime(nb), fmtTime(na), c.validityOf(k))
	case !na.After(nb):
		return nb, na, fmt.Errorf("%w: %s validity window ends %s, not after its start %s: give a NotAfter later than NotBefore", ErrRequest, k, fmtTime(na), fmtTime(nb))
	case !na.After(now):
		return nb, na, fmt.Errorf("%w: %s validity window ends %s, before now (%s), so the certificate would be born expired: give a NotAfter in the future", ErrRequest, k, fmtTime(na), fmtTime(now))
	}
	issuer := c.root
	if n := len(c.intermediates); n > 0 {
		issuer = c.intermediates[n-1]
	}
	if na.After(issuer.NotAfter) {
		return nb, na, fmt.Errorf("%w: %s validity ends %s, after the issuing CA certificate %q expires (%s): ask for a shorter validity, or renew the CA",
			ErrRequest, k, fmtTime(na), issuer.Subject.CommonName, fmtTime(issuer.NotAfter))
	}
	return nb, na, nil
}

func (c *CA) issue(ctx context.Context, csr *x509.CertificateRequest, p profile, opts []SignOption) (*x509.Certificate, []*x509.Certificate, error) {
	var o signOptions
	for _, f := range opts {
		f(&o)
	}
	if err := p.checkCSR(csr); err != nil {
		return nil, nil, err
	}
	nb, na, err := c.window(p.kind, o)
	if err != nil {
		return nil, nil, err
	}
	certs, err := c.be.sign(ctx, csr, p, nb, na)
	if err != nil {
		return nil, nil, err
	}
	if err := c.checkIssued(certs, csr, p, nb, na); err != nil {
		return nil, nil, err
	}
	leaf := certs[0]
	c.log.Info("pki: certificate issued", "ca", string(c.mode), "kind", p.kind.String(), "subject", leaf.Subject.CommonName,
		"serial", leaf.SerialNumber.Text(16), "not_before", leaf.NotBefore, "not_after", leaf.NotAfter)
	return leaf, certs[1:], nil
}

// checkIssued holds what came back to the request: the pitfall of a CA that
// silently applies its own validity, template or names is caught here
// rather than on a device a year later.
func (c *CA) checkIssued(certs []*x509.Certificate, csr *x509.CertificateRequest, p profile, nb, na time.Time) error {
	if len(certs) == 0 {
		return fmt.Errorf("%w: the CA returned no certificate", ErrIssued)
	}
	leaf := certs[0]
	if !leaf.NotBefore.Equal(nb) || !leaf.NotAfter.Equal(na) {
		return fmt.Errorf("%w: %s certificate for %s is valid %s to %s, asked %s to %s: if the CA is an external step-ca, allow this duration in the provisioner's claims (maxTLSCertDuration) and remove any template that sets validity",
			ErrIssued, p.kind, p.cn, fmtTime(leaf.NotBefore), fmtTime(leaf.NotAfter), fmtTime(nb), fmtTime(na))
	}
	if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(csr.PublicKey) {
		return fmt.Errorf("%w: %s certificate for %s carries another public key than the CSR", ErrIssued, p.kind, p.cn)
	}
	if err := p.checkLeaf(leaf); err != nil {
		return err
	}
	pool := x509.NewCertPool()
	for _, crt := range certs[1:] {
		pool.AddCert(crt)
	}
	at := c.now()
	if at.Before(nb) || at.After(na) {
		at = nb.Add(na.Sub(nb) / 2)
	}
	vo := x509.VerifyOptions{Roots: c.RootPool(), Intermediates: pool, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{p.eku}}
	if p.kind != KindAgent {
		vo.DNSName = p.cn
	}
	if _, err := leaf.Verify(vo); err != nil {
		return fmt.Errorf("%w: %s certificate for %s does not verify against the CA root %q: %v", ErrIssued, p.kind, p.cn, c.root.Subject.CommonName, err)
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "(unset)"
	}
	return t.UTC().Format(time.RFC3339)
}
