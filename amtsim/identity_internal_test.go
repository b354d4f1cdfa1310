package amtsim

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

// TestIdentityChainShape: a simulated device sends its identity chain in
// the shape real firmware does: six certificates, leaf first, no root, the
// CSME ROM certificate third from the leaf, all verifying to the root the
// RCS is given.
func TestIdentityChainShape(t *testing.T) {
	ca, err := NewIdentityCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tc, err := ca.issue("8c0e6bd4-0000-4000-8000-000000000001", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var chain []*x509.Certificate
	for _, der := range tc.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if c.Equal(ca.Cert) {
			t.Fatal("the chain sends the root; real firmware does not")
		}
		chain = append(chain, c)
	}
	if len(chain) != 6 || chain[0].Subject.CommonName != "AMT RCFG" {
		t.Fatalf("chain of %d, leaf %q: want 6 certificates, leaf AMT RCFG", len(chain), chain[0].Subject.CommonName)
	}
	rom := chain[3]
	if !strings.Contains(rom.Subject.CommonName, "ROM CA") || !strings.HasPrefix(rom.Issuer.OrganizationalUnit[0], "On Die CSME P") {
		t.Errorf("position 3: CN %q, issuer OU %q", rom.Subject.CommonName, rom.Issuer.OrganizationalUnit)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
		t.Fatalf("the chain does not verify to the identity root: %v", err)
	}
}
