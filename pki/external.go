package pki

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/smallstep/certificates/api"
	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/certificates/ca"
)

// defaultExternalTimeout bounds each call to an external step-ca.
const defaultExternalTimeout = 15 * time.Second

// maxIntermediatesPEM caps what Open reads from /intermediates.pem.
const maxIntermediatesPEM = 256 << 10

type external struct {
	prov *ca.Provisioner
	url  string
}

func (e *ExternalCA) check() error {
	u, err := url.Parse(e.URL)
	switch {
	case e.URL == "":
		return fmt.Errorf("%w: external CA without URL: set ca.url, e.g. \"https://ca.corp.example.com:9000\"", ErrConfig)
	case err != nil || u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("%w: external CA URL %q, want an https URL with a host: set ca.url, e.g. \"https://ca.corp.example.com:9000\"", ErrConfig, e.URL)
	case e.Provisioner == "":
		return fmt.Errorf("%w: external CA without a provisioner name: set ca.provisioner to the name of a JWK provisioner of %s", ErrConfig, e.URL)
	case len(e.Password) == 0:
		return fmt.Errorf("%w: external CA provisioner %q without a password: set ca.jwk_password_file or ca.jwk_password_env", ErrConfig, e.Provisioner)
	}
	fp := normalizeFingerprint(e.RootFingerprint)
	if b, err := hex.DecodeString(fp); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("%w: external CA root fingerprint %q, want 64 hex digits (SHA-256): set ca.root_fingerprint to the output of `step certificate fingerprint root_ca.crt`", ErrConfig, e.RootFingerprint)
	}
	return nil
}

func normalizeFingerprint(s string) string {
	return strings.ToLower(strings.NewReplacer(":", "", "-", "", " ", "").Replace(strings.TrimSpace(s)))
}

// Fingerprint is the SHA-256 of a certificate's DER in lowercase hex, the
// form step-ca and ca.root_fingerprint use.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

func (c *CA) openExternal(ctx context.Context, cfg Config) error {
	e := cfg.External
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = defaultExternalTimeout
	}
	fp := normalizeFingerprint(e.RootFingerprint)
	// The provisioner's encrypted JWK comes from the CA over TLS pinned to
	// the root fingerprint, and opens with the password: the JWK itself is
	// never stored by amtrcs.
	prov, err := ca.NewProvisioner(e.Provisioner, "", e.URL, e.Password, ca.WithRootSHA256(fp), ca.WithTimeout(timeout))
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "not found (or your password is wrong)"):
			return fmt.Errorf("%w: external CA %s has no JWK provisioner %q that opens with the configured password: check ca.provisioner against `step ca provisioner list`, and the password file or variable", ErrConfig, e.URL, e.Provisioner)
		case strings.Contains(msg, "fingerprint"):
			return fmt.Errorf("%w: external CA %s: its root does not have fingerprint %s: check ca.root_fingerprint against `step certificate fingerprint root_ca.crt` on the CA", ErrConfig, e.URL, fp)
		}
		return fmt.Errorf("%w: reach external CA %s (provisioner %q): %v: check ca.url and that step-ca is running", ErrConfig, e.URL, e.Provisioner, err)
	}
	rr, err := prov.RootWithContext(ctx, fp)
	if err != nil {
		return fmt.Errorf("%w: external CA %s: fetch root %s: %v: check ca.root_fingerprint", ErrConfig, e.URL, fp, err)
	}
	root := rr.RootPEM.Certificate
	if root == nil || Fingerprint(root) != fp {
		return fmt.Errorf("%w: external CA %s sent a root that does not match fingerprint %s: check ca.root_fingerprint", ErrConfig, e.URL, fp)
	}
	inters, err := fetchIntermediates(ctx, prov, e.URL, timeout, root)
	if err != nil {
		return err
	}
	c.be = &external{prov: prov, url: e.URL}
	c.root, c.intermediates = root, inters
	return nil
}

// fetchIntermediates reads the CA's intermediates over the pinned TLS and
// orders them top-down from the root, refusing any that does not chain.
func fetchIntermediates(ctx context.Context, prov *ca.Provisioner, base string, timeout time.Duration, root *x509.Certificate) ([]*x509.Certificate, error) {
	u, err := url.JoinPath(base, "intermediates.pem")
	if err != nil {
		return nil, fmt.Errorf("%w: external CA URL %q: %v", ErrConfig, base, err)
	}
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: prov.GetRootCAs(), MinVersion: tls.VersionTLS12}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: external CA %s: %v", ErrConfig, base, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: external CA %s: fetch intermediates: %v: check that step-ca is reachable", ErrConfig, base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: external CA %s: GET /intermediates.pem answered %s, want 200: use a step-ca version that serves its intermediates", ErrConfig, base, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxIntermediatesPEM+1))
	if err != nil || len(data) > maxIntermediatesPEM {
		return nil, fmt.Errorf("%w: external CA %s: intermediates unreadable or over %d bytes", ErrConfig, base, maxIntermediatesPEM)
	}
	var all []*x509.Certificate
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		crt, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: external CA %s: intermediate does not parse: %v", ErrConfig, base, err)
		}
		all = append(all, crt)
	}
	ordered, err := orderFromRoot(root, all)
	if err != nil {
		return nil, fmt.Errorf("%w: external CA %s: %v", ErrConfig, base, err)
	}
	return ordered, nil
}

// orderFromRoot arranges CA certificates into the path that starts under
// root, each signed by the one before. Every certificate must be on it.
func orderFromRoot(root *x509.Certificate, certs []*x509.Certificate) ([]*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, errors.New("the CA serves no intermediate certificate, want at least one: configure step-ca with an intermediate")
	}
	var out []*x509.Certificate
	left := append([]*x509.Certificate(nil), certs...)
	parent := root
	for len(left) > 0 {
		found := -1
		for i, crt := range left {
			if crt.IsCA && crt.CheckSignatureFrom(parent) == nil {
				found = i
				break
			}
		}
		if found < 0 {
			return nil, fmt.Errorf("intermediate %q is not signed by %q (the chain from root %q breaks): serve only the intermediates of this root",
				left[0].Subject.CommonName, parent.Subject.CommonName, root.Subject.CommonName)
		}
		parent = left[found]
		out = append(out, parent)
		left = append(left[:found], left[found+1:]...)
	}
	return out, nil
}

// sign asks step-ca with a one-time token that names exactly the profile's
// subject and SANs, and the exact window: the provisioner's default template
// then copies them, and its claims must allow the duration.
func (e *external) sign(ctx context.Context, csr *x509.CertificateRequest, p profile, nb, na time.Time) ([]*x509.Certificate, error) {
	tok, err := e.prov.Token(p.cn, p.sans()...)
	if err != nil {
		return nil, fmt.Errorf("external CA %s: make a one-time token for %s: %w", e.url, p.cn, err)
	}
	resp, err := e.prov.SignWithContext(ctx, &api.SignRequest{
		CsrPEM:    api.CertificateRequest{CertificateRequest: csr},
		OTT:       tok,
		NotBefore: provisioner.NewTimeDuration(nb),
		NotAfter:  provisioner.NewTimeDuration(na),
	})
	if err != nil {
		return nil, fmt.Errorf("external CA %s refused the %s certificate for %s valid %s to %s: %v: if the duration is refused, raise the provisioner's maxTLSCertDuration or lower the configured validity",
			e.url, p.kind, p.cn, fmtTime(nb), fmtTime(na), err)
	}
	var certs []*x509.Certificate
	for _, c := range resp.CertChainPEM {
		if c.Certificate != nil {
			certs = append(certs, c.Certificate)
		}
	}
	if len(certs) == 0 && resp.ServerPEM.Certificate != nil {
		certs = append(certs, resp.ServerPEM.Certificate)
		if resp.CaPEM.Certificate != nil {
			certs = append(certs, resp.CaPEM.Certificate)
		}
	}
	return certs, nil
}

func (e *external) close() error {
	e.prov.CloseIdleConnections()
	return nil
}
