package csr_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/csr/csrtest"
)

func subjects(cs []*x509.Certificate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Subject.CommonName)
	}
	return out
}

func TestBuildChain(t *testing.T) {
	t.Parallel()
	v := csrtest.NewVendor(csrtest.VendorOptions{})
	other := csrtest.NewVendor(csrtest.VendorOptions{Name: "Other Vendor"})
	leaf, key := v.Issue(csrtest.LeafOptions{})
	leaf2, _ := v.Issue(csrtest.LeafOptions{CN: "rcs.branch.example.net"})
	roots := csr.RootList{Label: "test roots", Certs: []*x509.Certificate{other.Root, v.Root}}
	full := []string{"rcs.corp.example.com", "Test Vendor AMT Issuing CA", "Test Vendor Root CA"}
	cases := map[string]struct {
		certs    []*x509.Certificate
		opts     csr.ChainOptions
		want     []string
		complete bool
		rootFrom string
		unused   int
		err      string
	}{
		"in order":                      {certs: []*x509.Certificate{leaf, v.Intermediate, v.Root}, want: full, complete: true},
		"root first":                    {certs: []*x509.Certificate{v.Root, v.Intermediate, leaf}, want: full, complete: true},
		"leaf last, root in middle":     {certs: []*x509.Certificate{v.Intermediate, v.Root, leaf}, want: full, complete: true},
		"root completed from the roots": {certs: []*x509.Certificate{v.Intermediate, leaf}, opts: csr.ChainOptions{Roots: roots}, want: full, complete: true, rootFrom: "test roots"},
		"root not completed when off":   {certs: []*x509.Certificate{v.Intermediate, leaf}, opts: csr.ChainOptions{Roots: roots, NoCompletion: true}, want: full[:2]},
		"missing intermediate":          {certs: []*x509.Certificate{leaf, v.Root}, opts: csr.ChainOptions{Roots: roots}, want: full[:1], unused: 1},
		"unrelated CA left over":        {certs: []*x509.Certificate{leaf, other.Intermediate, v.Intermediate, v.Root}, want: full, complete: true, unused: 1},
		"leaf picked by key":            {certs: []*x509.Certificate{leaf2, leaf, v.Intermediate}, opts: csr.ChainOptions{Leaf: key.Public(), NoCompletion: true}, want: full[:2], unused: 1},
		"two leaves":                    {certs: []*x509.Certificate{leaf2, leaf, v.Intermediate}, err: "leaf certificate: several end-entity certificates: rcs.branch.example.net, rcs.corp.example.com; want one provisioning certificate per import; fix: import each certificate with its own chain"},
		"key matches no certificate":    {certs: []*x509.Certificate{leaf2, v.Intermediate}, opts: csr.ChainOptions{Leaf: key.Public()}, err: "leaf certificate: no certificate of the delivery holds the public key of the given private key; want the certificate issued for that key; fix: import the files the vendor sent for this key, or the PFX exported with it"},
		"CAs only":                      {certs: []*x509.Certificate{v.Intermediate, v.Root}, err: "leaf certificate: 2 CA certificates and no end-entity certificate; want the provisioning certificate issued for your CSR; fix: add the certificate file the vendor issued for your CSR"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ch, err := csr.BuildChain(tc.certs, tc.opts)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || !errors.Is(err, csr.ErrUnreadable) {
					t.Fatalf("error:\n got %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := subjects(ch.Certs); !equalStrings(got, tc.want) {
				t.Errorf("chain %q, want %q", got, tc.want)
			}
			if ch.Complete != tc.complete || ch.RootFrom != tc.rootFrom || len(ch.Unused) != tc.unused {
				t.Errorf("complete %v rootFrom %q unused %d; want %v %q %d", ch.Complete, ch.RootFrom, len(ch.Unused), tc.complete, tc.rootFrom, tc.unused)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A real root of the Mozilla set is named by the AMT catalog.
func TestMozillaRootsNamedByCatalog(t *testing.T) {
	t.Parallel()
	roots := csr.MozillaRoots()
	if len(roots.Certs) < 100 {
		t.Fatalf("%d Mozilla roots, want over 100", len(roots.Certs))
	}
	var g2 *x509.Certificate
	for _, r := range roots.Certs {
		if r.Subject.CommonName == "DigiCert Global Root G2" {
			g2 = r
		}
	}
	if g2 == nil {
		t.Fatal("DigiCert Global Root G2 not in the Mozilla roots")
	}
	rep := csr.Check([]*x509.Certificate{g2}, csr.CheckOptions{Now: csrtest.Epoch})
	if rep.Root == nil || rep.Root.CatalogName != "DigiCert Global Root G2" ||
		rep.Root.SHA256 != "CB3CCBB76031E5E0138F8DD39A23F9DE47FFC35E43C1144CEA27D46A5AB1CB5F" {
		t.Fatalf("root summary %+v", rep.Root)
	}
}

// AAA Certificate Services, the Sectigo root, left the Mozilla TLS set
// embedded by x509roots/fallback. The amt package keeps the public roots that
// left it in testdata (taken from Debian's ca-certificates), so the test
// needs nothing installed on the machine.
func TestAAACertificateServicesNamedByCatalog(t *testing.T) {
	t.Parallel()
	const path = "../amt/testdata/debian-roots.pem"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var aaa *x509.Certificate
	for b, rest := pem.Decode(data); b != nil; b, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if c.Subject.CommonName == "AAA Certificate Services" {
			aaa = c
		}
	}
	if aaa == nil {
		t.Fatalf("%s holds no AAA Certificate Services", path)
	}
	rep := csr.Check([]*x509.Certificate{aaa}, csr.CheckOptions{Now: csrtest.Epoch, Versions: []amt.Version{v11, v16}})
	if rep.Root == nil || rep.Root.CatalogName != "Comodo AAA Certificate Services (Sectigo)" ||
		rep.Root.SHA256 != "D7A7A0FB5D7E2731D771E9484EBCDEF71D5F0C3E0A2948782BC83EE0EA699EF4" ||
		rep.Root.SHA1 != "D1EB23A46D17D68FD92564C2F1F1601764D8E349" {
		t.Fatalf("root summary %+v", rep.Root)
	}
	// The root itself is SHA-1 signed, so AMT 16 refuses it and 11 does not
	// on that count.
	for _, vd := range rep.Verdicts {
		hasSHA1 := false
		for _, r := range vd.Reasons {
			hasSHA1 = hasSHA1 || r.Rule == amt.RuleSHA1
		}
		if hasSHA1 != (vd.Version == v16) {
			t.Errorf("%s: SHA-1 reason %v, reasons %q", vd.Profile, hasSHA1, reasonLines(vd))
		}
	}
	if !bytes.Equal(aaa.RawSubject, aaa.RawIssuer) {
		t.Fatal("AAA is not self-issued")
	}
}
