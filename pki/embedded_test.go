package pki

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// issueKind issues one certificate of kind k for the name given, with opts.
func issueKind(t *testing.T, ca *CA, k Kind, name string, opts ...SignOption) (*x509.Certificate, []*x509.Certificate) {
	t.Helper()
	ctx := context.Background()
	switch k {
	case KindAMTTLS:
		leaf, chain, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{cn: name}), name, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return leaf, chain
	case KindAgent:
		leaf, chain, err := ca.SignAgent(ctx, makeCSR(t, csrSpec{key: ecKey(t)}), name, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return leaf, chain
	}
	crt, err := ca.IssueServer(ctx, []string{name, "127.0.0.1"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var chain []*x509.Certificate
	for _, der := range crt.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	return crt.Leaf, chain
}

// TestValidityEmbedded is the pitfall of DESIGN.md: each kind must carry the
// configured validity, or the explicit window, and never be born expired.
func TestValidityEmbedded(t *testing.T) {
	ca, now := embeddedCA(t)
	testValidityOf(t, ca, now)
}

func testValidityOf(t *testing.T, ca *CA, now time.Time) {
	t.Helper()
	names := map[Kind]string{KindAMTTLS: "pc1.corp.example.com", KindAgent: "4c4c4544-0036-3010-8033-b4c04f4b4e32", KindServer: "rcs.corp.example.com"}
	want := map[Kind]time.Duration{KindAMTTLS: 90 * day, KindAgent: 30 * day, KindServer: 45 * day}
	for _, k := range []Kind{KindAMTTLS, KindAgent, KindServer} {
		t.Run(k.String()+"/configured", func(t *testing.T) {
			leaf, chain := issueKind(t, ca, k, names[k])
			if got := leaf.NotAfter.Sub(leaf.NotBefore); got != want[k]+Backdate {
				t.Errorf("validity %s, want %s + backdate %s", got, want[k], Backdate)
			}
			if !leaf.NotBefore.Equal(now.Add(-Backdate)) || !leaf.NotAfter.Equal(now.Add(want[k])) {
				t.Errorf("window %s..%s, want %s..%s", leaf.NotBefore, leaf.NotAfter, now.Add(-Backdate), now.Add(want[k]))
			}
			if !leaf.NotAfter.After(time.Now()) || leaf.NotBefore.After(time.Now()) {
				t.Errorf("not valid now: %s..%s", leaf.NotBefore, leaf.NotAfter)
			}
			if len(chain) != len(ca.Intermediates()) {
				t.Errorf("chain has %d certificates, want the %d intermediates", len(chain), len(ca.Intermediates()))
			}
		})
		t.Run(k.String()+"/explicit", func(t *testing.T) {
			// Maintenance tests need a certificate 20 days from expiry.
			nb, na := now.Add(-345*day), now.Add(20*day)
			leaf, _ := issueKind(t, ca, k, names[k], WithWindow(nb, na))
			if !leaf.NotBefore.Equal(nb) || !leaf.NotAfter.Equal(na) {
				t.Errorf("window %s..%s, want %s..%s", leaf.NotBefore, leaf.NotAfter, nb, na)
			}
		})
	}
}

func TestProfilesEmbedded(t *testing.T) {
	ca, _ := embeddedCA(t)
	ctx := context.Background()

	leaf, chain, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{}), "PC7.Corp.Example.com")
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != "pc7.corp.example.com" || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "pc7.corp.example.com" {
		t.Errorf("AMT TLS names: CN %q SANs %v", leaf.Subject.CommonName, leaf.DNSNames)
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("AMT TLS EKU %v, want serverAuth only", leaf.ExtKeyUsage)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
		t.Errorf("AMT TLS key usage %v, want digitalSignature|keyEncipherment for RSA", leaf.KeyUsage)
	}
	inter := x509.NewCertPool()
	for _, c := range chain {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.RootPool(), Intermediates: inter, DNSName: "pc7.corp.example.com"}); err != nil {
		t.Errorf("AMT TLS does not verify against RootPool with the FQDN: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.RootPool(), Intermediates: inter, DNSName: "pc8.corp.example.com"}); err == nil {
		t.Error("AMT TLS verifies for another FQDN")
	}

	id := "4c4c4544-0036-3010-8033-b4c04f4b4e32"
	aleaf, _, err := ca.SignAgent(ctx, makeCSR(t, csrSpec{key: ecKey(t), cn: id, uris: []string{AgentURIPrefix + id}}), id)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := AgentID(aleaf); !ok || got != id {
		t.Errorf("AgentID = %q, %v; want %q", got, ok, id)
	}
	if got, ok := AgentID(leaf); ok {
		t.Errorf("AgentID of an AMT TLS certificate = %q, want none", got)
	}
	if aleaf.KeyUsage != x509.KeyUsageDigitalSignature || len(aleaf.DNSNames) != 0 {
		t.Errorf("agent: key usage %v, DNS SANs %v; want digitalSignature and none", aleaf.KeyUsage, aleaf.DNSNames)
	}

	srv, err := ca.IssueServer(ctx, []string{"rcs.corp.example.com", "::1", "127.0.0.1", "rcs.corp.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Leaf.IPAddresses; len(got) != 2 || !got[0].Equal(net.IPv6loopback) || !got[1].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("server IP SANs %v", got)
	}
	if len(srv.Leaf.DNSNames) != 1 || len(srv.Certificate) != 2 {
		t.Errorf("server DNS SANs %v (duplicates must go), %d certificates in tls.Certificate, want leaf+intermediate", srv.Leaf.DNSNames, len(srv.Certificate))
	}
}

func TestRefusals(t *testing.T) {
	ca, now := embeddedCA(t)
	ctx := context.Background()
	fqdn := "pc1.corp.example.com"
	tampered := makeCSR(t, csrSpec{cn: fqdn})
	tampered.Signature[len(tampered.Signature)-1] ^= 1
	tests := map[string]struct {
		do   func() error
		want string
	}{
		"ECDSA key for AMT": {func() error {
			_, _, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{key: ecKey(t)}), fqdn)
			return err
		}, "want RSA"},
		"RSA-1024": {func() error {
			_, _, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{key: rsaKey1024()}), fqdn)
			return err
		}, "1024 bits, want at least 2048"},
		"other CN": {func() error {
			_, _, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{cn: "pc2.corp.example.com"}), fqdn)
			return err
		}, `CN "pc2.corp.example.com", want "pc1.corp.example.com"`},
		"other SAN": {func() error {
			_, _, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{dns: []string{fqdn, "evil.example.com"}}), fqdn)
			return err
		}, "DNS SANs"},
		"IP SAN on AMT": {func() error {
			_, _, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{ips: []net.IP{net.IPv4(10, 0, 0, 1)}}), fqdn)
			return err
		}, "IP SANs [10.0.0.1], want []"},
		"tampered": {func() error {
			_, _, err := ca.SignAMTTLS(ctx, tampered, fqdn)
			return err
		}, "signature does not verify"},
		"nil CSR": {func() error {
			_, _, err := ca.SignAMTTLS(ctx, nil, fqdn)
			return err
		}, "no CSR"},
		"bare host": {func() error {
			_, _, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{}), "pc1")
			return err
		}, "fully qualified"},
		"underscore": {func() error {
			_, _, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{}), "pc_1.corp.example.com")
			return err
		}, "pc_1.corp.example.com"},
		"born expired": {func() error {
			_, _, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{}), fqdn, WithWindow(now.Add(-30*day), now.Add(-time.Second)))
			return err
		}, "born expired"},
		"inverted window": {func() error {
			_, _, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{}), fqdn, WithWindow(now.Add(30*day), now.Add(day)))
			return err
		}, "not after its start"},
		"half window": {func() error {
			_, _, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{}), fqdn, WithWindow(time.Time{}, now.Add(day)))
			return err
		}, "want both set"},
		"beyond the intermediate": {func() error {
			_, _, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{}), fqdn, WithWindow(now, now.Add(11*365*day)))
			return err
		}, "after the issuing CA certificate"},
		"agent ID with slash": {func() error {
			_, _, err := ca.SignAgent(ctx, makeCSR(t, csrSpec{key: ecKey(t)}), "a/b")
			return err
		}, `'/' at offset 1`},
		"agent CSR with DNS": {func() error {
			_, _, err := ca.SignAgent(ctx, makeCSR(t, csrSpec{key: ecKey(t), dns: []string{"agent.example.com"}}), "agent1")
			return err
		}, "DNS SANs [agent.example.com], want []"},
		"server without names": {func() error {
			_, err := ca.IssueServer(ctx, nil)
			return err
		}, "no name"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.do()
			if !errors.Is(err, ErrRequest) {
				t.Fatalf("err = %v, want ErrRequest", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestEmbeddedLifeCycle: created once, the same CA on reopen, and refused
// under another KEK; the CA keys never sit in ca.db unsealed.
func TestEmbeddedLifeCycle(t *testing.T) {
	dir := t.TempDir()
	st := testStore(t, dir)
	ctx := context.Background()
	cfg := Config{Mode: Embedded, DataDir: dir, Validity: testValidity, Logger: quiet}
	ca1, err := Open(ctx, cfg, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !ca1.Created() {
		t.Error("first Open did not report a created CA")
	}
	root1 := Fingerprint(ca1.Roots()[0])
	checkBundle(t, parseBundle(t, ca1.Bundle()), 2)
	if ca1.Roots()[0].PublicKeyAlgorithm != x509.RSA || ca1.Intermediates()[0].PublicKeyAlgorithm != x509.RSA {
		t.Error("the embedded chain is not RSA throughout")
	}
	if err := ca1.Close(); err != nil {
		t.Fatal(err)
	}

	raw, err := os.ReadFile(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "\x02\x01\x00\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01") {
		t.Error("ca.db holds an unsealed PKCS#8 RSA key")
	}

	ca2, err := Open(ctx, cfg, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ca2.Created() || Fingerprint(ca2.Roots()[0]) != root1 {
		t.Errorf("reopen: created %v, root %s; want the same root %s", ca2.Created(), Fingerprint(ca2.Roots()[0]), root1)
	}
	if _, _, err := ca2.SignAMTTLS(ctx, makeCSR(t, csrSpec{}), "pc1.corp.example.com"); err != nil {
		t.Errorf("sign after reopen: %v", err)
	}
	ca2.Close()

	other := testStore(t, t.TempDir())
	_, err = Open(ctx, cfg, other, nil)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "KEK") {
		t.Errorf("Open under another KEK: %v, want ErrConfig naming the KEK", err)
	}
}

func TestConfigRefusals(t *testing.T) {
	ctx := context.Background()
	good := ExternalCA{URL: "https://ca.example.com:9000", Provisioner: "amtrcs", Password: []byte("pw"), RootFingerprint: strings.Repeat("ab", 32)}
	tests := map[string]struct {
		cfg  Config
		want string
	}{
		"no mode":         {Config{Validity: testValidity}, "want \"embedded\" or \"external\""},
		"short validity":  {Config{Mode: Embedded, DataDir: "x", Validity: Validity{AMTTLS: time.Minute, Agent: day, Server: day}}, "ca.amt_tls_validity"},
		"no data dir":     {Config{Mode: Embedded, Validity: testValidity}, "data directory"},
		"http URL":        {Config{Mode: External, Validity: testValidity, External: ExternalCA{URL: "http://ca:9000", Provisioner: "p", Password: []byte("x"), RootFingerprint: good.RootFingerprint}}, "want an https URL"},
		"no provisioner":  {Config{Mode: External, Validity: testValidity, External: ExternalCA{URL: good.URL, Password: []byte("x"), RootFingerprint: good.RootFingerprint}}, "ca.provisioner"},
		"no password":     {Config{Mode: External, Validity: testValidity, External: ExternalCA{URL: good.URL, Provisioner: "p", RootFingerprint: good.RootFingerprint}}, "jwk_password_file"},
		"bad fingerprint": {Config{Mode: External, Validity: testValidity, External: ExternalCA{URL: good.URL, Provisioner: "p", Password: []byte("x"), RootFingerprint: "abc"}}, "64 hex digits"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Open(ctx, tc.cfg, nil, nil)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrConfig saying %q", err, tc.want)
			}
		})
	}
	if _, err := Open(ctx, Config{Mode: Embedded, DataDir: t.TempDir(), Validity: testValidity}, nil, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("embedded without a sealer: %v, want ErrConfig", err)
	}
}
