package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/amtrcs/amtrcs/dnssuffix"
)

// Kind is a kind of certificate the CA issues.
type Kind int

const (
	KindAMTTLS Kind = iota + 1 // TLS server certificate held by AMT firmware
	KindAgent                  // agent client certificate
	KindServer                 // the RCS's own server certificate
)

func (k Kind) String() string {
	switch k {
	case KindAMTTLS:
		return "AMT TLS"
	case KindAgent:
		return "agent"
	case KindServer:
		return "server"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// AgentURIPrefix starts the URI SAN naming an agent in its certificate.
const AgentURIPrefix = "urn:amtrcs:agent:"

// minRSABits is the smallest RSA key signed: what AMT firmware generates
// and what current TLS clients accept.
const minRSABits = 2048

// profile is what a certificate of one kind must say. The same profile
// drives the embedded template, the external CA's token, and the check of
// what came back, so the two modes cannot drift apart.
type profile struct {
	kind Kind
	cn   string
	dns  []string
	ips  []net.IP
	uris []*url.URL
	eku  x509.ExtKeyUsage
}

// sans lists the names for a step-ca token, which splits them back into
// DNS names, IPs and URIs by their form.
func (p profile) sans() []string {
	out := slices.Clone(p.dns)
	for _, ip := range p.ips {
		out = append(out, ip.String())
	}
	for _, u := range p.uris {
		out = append(out, u.String())
	}
	return out
}

func amtTLSProfile(fqdn string) (profile, error) {
	name, err := dnssuffix.ValidateName(fqdn)
	if err != nil {
		return profile{}, fmt.Errorf("%w: AMT TLS certificate: %v", ErrRequest, err)
	}
	if !strings.Contains(name, ".") {
		return profile{}, fmt.Errorf("%w: AMT TLS certificate for %q: want the device's fully qualified name (host.domain), as consoles connect by FQDN: give the FQDN AMT reports", ErrRequest, fqdn)
	}
	return profile{kind: KindAMTTLS, cn: name, dns: []string{name}, eku: x509.ExtKeyUsageServerAuth}, nil
}

// ValidAgentID says whether id can name an agent: 1 to 64 letters, digits,
// dots, hyphens and underscores, starting with a letter or digit (a UUID or
// a host name fits), so that it fits a CN and a URI without escaping.
func ValidAgentID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: agent ID %q is %d characters, want 1 to 64: use the device UUID", ErrRequest, id, len(id))
	}
	for i, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && (r == '.' || r == '-' || r == '_')
		if !ok {
			return fmt.Errorf("%w: agent ID %q has %q at offset %d, want letters, digits, and inner '.', '-' or '_': use the device UUID", ErrRequest, id, r, i)
		}
	}
	return nil
}

func agentProfile(id string) (profile, error) {
	if err := ValidAgentID(id); err != nil {
		return profile{}, err
	}
	u, err := url.Parse(AgentURIPrefix + id)
	if err != nil {
		return profile{}, fmt.Errorf("%w: agent ID %q: %v", ErrRequest, id, err)
	}
	return profile{kind: KindAgent, cn: id, uris: []*url.URL{u}, eku: x509.ExtKeyUsageClientAuth}, nil
}

func serverProfile(names []string) (profile, error) {
	if len(names) == 0 {
		return profile{}, fmt.Errorf("%w: server certificate with no name: give the RCS's DNS names or IP addresses, e.g. rcs.corp.example.com", ErrRequest)
	}
	p := profile{kind: KindServer, eku: x509.ExtKeyUsageServerAuth}
	seen := map[string]bool{}
	for _, n := range names {
		var key string
		if ip := net.ParseIP(n); ip != nil {
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			key = ip.String()
			if !seen[key] {
				p.ips = append(p.ips, ip)
			}
		} else {
			name, err := dnssuffix.ValidateName(n)
			if err != nil {
				return profile{}, fmt.Errorf("%w: server certificate: %v", ErrRequest, err)
			}
			key = name
			if !seen[key] {
				p.dns = append(p.dns, name)
			}
		}
		if p.cn == "" {
			p.cn = key
		}
		seen[key] = true
	}
	return p, nil
}

// checkCSR refuses a CSR whose signature, key or names do not fit the
// profile. A CSR may leave the names out; the names it gives must be the
// profile's, as an external step-ca checks the same and the two modes must
// accept the same requests.
func (p profile) checkCSR(csr *x509.CertificateRequest) error {
	if csr == nil {
		return fmt.Errorf("%w: %s certificate for %s: no CSR given", ErrRequest, p.kind, p.cn)
	}
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("%w: %s CSR for %s: signature does not verify (%v): make the CSR again with the key it names", ErrRequest, p.kind, p.cn, err)
	}
	if err := checkKey(p.kind, csr.PublicKey); err != nil {
		return fmt.Errorf("%w: %s CSR for %s: %v", ErrRequest, p.kind, p.cn, err)
	}
	if cn := csr.Subject.CommonName; cn != "" && !strings.EqualFold(cn, p.cn) {
		return fmt.Errorf("%w: %s CSR names CN %q, want %q or none: make the CSR with CN %s", ErrRequest, p.kind, cn, p.cn, p.cn)
	}
	var dns []string
	for _, n := range csr.DNSNames {
		dns = append(dns, strings.ToLower(strings.TrimSuffix(n, ".")))
	}
	var ips, uris []string
	for _, ip := range csr.IPAddresses {
		ips = append(ips, ip.String())
	}
	for _, u := range csr.URIs {
		uris = append(uris, u.String())
	}
	want := p.names()
	for _, got := range []struct {
		what  string
		names []string
		want  []string
	}{{"DNS", dns, want.dns}, {"IP", ips, want.ips}, {"URI", uris, want.uris}} {
		if len(got.names) > 0 && !sameSet(got.names, got.want) {
			return fmt.Errorf("%w: %s CSR names %s SANs %v, want %v or none: make the CSR with exactly these names", ErrRequest, p.kind, got.what, got.names, nonNil(got.want))
		}
	}
	if len(csr.EmailAddresses) > 0 {
		return fmt.Errorf("%w: %s CSR names e-mail addresses %v, want none: make the CSR without them", ErrRequest, p.kind, csr.EmailAddresses)
	}
	return nil
}

type nameSets struct{ dns, ips, uris []string }

func (p profile) names() nameSets {
	var s nameSets
	s.dns = p.dns
	for _, ip := range p.ips {
		s.ips = append(s.ips, ip.String())
	}
	for _, u := range p.uris {
		s.uris = append(s.uris, u.String())
	}
	return s
}

// checkLeaf holds an issued certificate to the profile.
func (p profile) checkLeaf(leaf *x509.Certificate) error {
	fail := func(what string, got, want any) error {
		return fmt.Errorf("%w: %s certificate for %s has %s %v, want %v: if the CA is an external step-ca, remove the provisioner's template so that the default one is used",
			ErrIssued, p.kind, p.cn, what, got, want)
	}
	if leaf.Subject.CommonName != p.cn {
		return fail("CN", leaf.Subject.CommonName, p.cn)
	}
	want := p.names()
	var ips, uris []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	for _, u := range leaf.URIs {
		uris = append(uris, u.String())
	}
	switch {
	case !sameSet(leaf.DNSNames, want.dns):
		return fail("DNS SANs", leaf.DNSNames, want.dns)
	case !sameSet(ips, want.ips):
		return fail("IP SANs", ips, want.ips)
	case !sameSet(uris, want.uris):
		return fail("URI SANs", uris, want.uris)
	case leaf.IsCA:
		return fail("CA flag", true, false)
	case !slices.Contains(leaf.ExtKeyUsage, p.eku):
		return fail("extended key usage", leaf.ExtKeyUsage, p.eku)
	case leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0:
		return fail("key usage", leaf.KeyUsage, "digitalSignature")
	}
	return nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// checkKey refuses keys a peer would refuse. AMT firmware makes RSA keys
// only, so an AMT TLS CSR with another key did not come from firmware.
func checkKey(k Kind, pub any) error {
	switch key := pub.(type) {
	case *rsa.PublicKey:
		if bits := key.N.BitLen(); bits < minRSABits {
			return fmt.Errorf("RSA key of %d bits, want at least %d: generate a %d-bit key", bits, minRSABits, minRSABits)
		}
		return nil
	case *ecdsa.PublicKey:
		if k == KindAMTTLS {
			return fmt.Errorf("ECDSA key, want RSA: AMT firmware holds RSA keys only; have the firmware generate the key pair")
		}
		if c := key.Curve; c != elliptic.P256() && c != elliptic.P384() {
			return fmt.Errorf("ECDSA key on curve %s, want P-256 or P-384", c.Params().Name)
		}
		return nil
	case ed25519.PublicKey:
		if k == KindAMTTLS {
			return fmt.Errorf("Ed25519 key, want RSA: AMT firmware holds RSA keys only; have the firmware generate the key pair")
		}
		return nil
	}
	return fmt.Errorf("key of type %T, want RSA (at least %d bits), ECDSA P-256/P-384 or Ed25519", pub, minRSABits)
}

// serverRequest makes the RCS's server key and its CSR.
func serverRequest(p profile) (*ecdsa.PrivateKey, *x509.CertificateRequest, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("server certificate: generate key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: p.cn},
		DNSNames:    p.dns,
		IPAddresses: p.ips,
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("server certificate: make CSR: %w", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, nil, fmt.Errorf("server certificate: read back CSR: %w", err)
	}
	return key, csr, nil
}

// AgentID returns the agent an agent certificate names, and whether the
// certificate is one: client-auth usage, and a CN equal to the ID in its
// single urn:amtrcs:agent: URI SAN. It does not verify the chain; the TLS
// handshake does that.
func AgentID(cert *x509.Certificate) (string, bool) {
	if cert == nil || len(cert.URIs) != 1 || !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return "", false
	}
	id, ok := strings.CutPrefix(cert.URIs[0].String(), AgentURIPrefix)
	if !ok || id != cert.Subject.CommonName || ValidAgentID(id) != nil {
		return "", false
	}
	return id, true
}
