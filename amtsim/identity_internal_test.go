package amtsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
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
	dc, err := ca.newDeviceChain(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tc, err := ca.issue(dc, "8c0e6bd4-0000-4000-8000-000000000001", time.Now())
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

// identityChainOf is the chain a device presents on its local TLS port
// before provisioning (AMT 19, TLS enforced), read over a real handshake.
func identityChainOf(t *testing.T, d *Device) []*x509.Certificate {
	t.Helper()
	c, err := d.DialLMS(context.Background(), PortTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return tc.ConnectionState().PeerCertificates
}

// TestDeviceKeepsROMCertificate: each device has its own CSME ROM
// certificate (chain position 3) and the CAs under it, while positions 4
// and 5 are the fleet's; a device saved and loaded (its identity root
// saved and loaded too) presents the same ROM certificate, still chaining
// to the root, as a part keeps its ROM certificate for life.
func TestDeviceKeepsROMCertificate(t *testing.T) {
	ca, err := NewIdentityCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	x, err := New(Config{Version: amt.Version{Major: 19, Build: 5}, Identity: ca})
	if err != nil {
		t.Fatal(err)
	}
	y, err := New(Config{Version: amt.Version{Major: 19, Build: 5}, Identity: ca})
	if err != nil {
		t.Fatal(err)
	}
	cx, cy := identityChainOf(t, x), identityChainOf(t, y)
	for i := 1; i <= 3; i++ {
		if cx[i].Equal(cy[i]) {
			t.Errorf("position %d (%s) is shared by two devices; want one per device", i, cx[i].Subject.CommonName)
		}
	}
	for i := 4; i <= 5; i++ {
		if !cx[i].Equal(cy[i]) {
			t.Errorf("position %d (%s) differs between devices; want the fleet's", i, cx[i].Subject.CommonName)
		}
	}

	savedDev, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	savedCA, err := json.Marshal(ca)
	if err != nil {
		t.Fatal(err)
	}
	ca2 := &IdentityCA{}
	if err := json.Unmarshal(savedCA, ca2); err != nil {
		t.Fatal(err)
	}
	x2, err := LoadDevice(savedDev, LoadOptions{Identity: ca2})
	if err != nil {
		t.Fatal(err)
	}
	again := identityChainOf(t, x2)
	if !again[3].Equal(cx[3]) {
		t.Fatalf("ROM certificate after load: %q serial %s; want the one before, serial %s", again[3].Subject.CommonName, again[3].SerialNumber, cx[3].SerialNumber)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca2.Cert)
	for _, c := range again[1:] {
		inter.AddCert(c)
	}
	if _, err := again[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
		t.Fatalf("the loaded device's chain does not verify to the loaded root: %v", err)
	}
}
