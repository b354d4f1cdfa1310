package amt

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// subjectFragments says, for each catalog name, what the subject of the
// real root certificate must contain. It is what holds a catalog name to its
// hash: a swapped hash lands on a certificate whose subject disagrees.
var subjectFragments = map[string][]string{
	"VeriSign Class 3 Public Primary CA (G1)":   {"VeriSign", "Class 3 Public Primary Certification Authority"},
	"VeriSign Class 3 Public Primary CA (G1.5)": {"VeriSign", "Class 3 Public Primary Certification Authority"},
	"VeriSign Class 3 Public Primary CA - G2":   {"VeriSign", "Class 3 Public Primary Certification Authority - G2"},
	"VeriSign Class 3 Public Primary CA - G3":   {"VeriSign", "Class 3 Public Primary Certification Authority - G3"},
	"VeriSign Class 3 Public Primary CA - G5":   {"VeriSign", "Class 3 Public Primary Certification Authority - G5"},
	"VeriSign Universal Root CA":                {"CN=VeriSign Universal Root Certification Authority"},
	"Go Daddy Class 2 CA":                       {"OU=Go Daddy Class 2 Certification Authority", "The Go Daddy Group"},
	"Comodo AAA Certificate Services (Sectigo)": {"CN=AAA Certificate Services", "O=Comodo CA Limited"},
	"Starfield Class 2 CA":                      {"OU=Starfield Class 2 Certification Authority", "Starfield Technologies"},
	"GTE CyberTrust Global Root":                {"CN=GTE CyberTrust Global Root"},
	"Baltimore CyberTrust Root":                 {"CN=Baltimore CyberTrust Root", "O=Baltimore"},
	"Cybertrust Global Root":                    {"CN=Cybertrust Global Root"},
	"Verizon Global Root CA":                    {"CN=Verizon Global Root CA"},
	"Entrust.net CA (2048)":                     {"CN=Entrust.net Certification Authority (2048)", "O=Entrust.net"},
	"Entrust Root Certification Authority":      {"CN=Entrust Root Certification Authority,", "(c) 2006 Entrust"},
	"Entrust Root Certification Authority - G2": {"CN=Entrust Root Certification Authority - G2"},
	"Go Daddy Root Certificate Authority - G2":  {"CN=Go Daddy Root Certificate Authority - G2", "GoDaddy.com"},
	"Starfield Root Certificate Authority - G2": {"CN=Starfield Root Certificate Authority - G2", "Starfield Technologies"},
	"AffirmTrust Premium":                       {"CN=AffirmTrust Premium", "O=AffirmTrust"},
	"DigiCert Global Root CA":                   {"CN=DigiCert Global Root CA", "O=DigiCert Inc"},
	"DigiCert Global Root G2":                   {"CN=DigiCert Global Root G2", "O=DigiCert Inc"},
	"DigiCert Global Root G3":                   {"CN=DigiCert Global Root G3", "O=DigiCert Inc"},
	"DigiCert Trusted Root G4":                  {"CN=DigiCert Trusted Root G4", "O=DigiCert Inc"},
	"GlobalSign NP RSA CA 2018":                 {"GlobalSign"},
	"GlobalSign NP ECC CA 2018":                 {"GlobalSign"},
	"GlobalSign Root CA - R3":                   {"OU=GlobalSign Root CA - R3", "O=GlobalSign"},
	"GlobalSign ECC Root CA - R5":               {"OU=GlobalSign ECC Root CA - R5", "O=GlobalSign"},
	"GlobalSign Root CA - R6":                   {"OU=GlobalSign Root CA - R6", "O=GlobalSign"},
	// The name is unknown, so any subject that ever matches must be looked
	// at by a person: "?" matches no real subject.
	"Unknown root (seen on a recent device)": {"?"},
}

type rootSource struct {
	from string
	der  []byte
}

// realRoots collects public root certificates: the NSS bundle that
// golang.org/x/crypto/x509roots/fallback embeds, and the Debian roots that
// NSS has since dropped (testdata/debian-roots.pem).
func realRoots(t *testing.T) []rootSource {
	t.Helper()
	var out []rootSource
	for r := range bundle.Roots() {
		out = append(out, rootSource{"x509roots/fallback", r.Certificate})
	}
	if len(out) < 100 {
		t.Fatalf("the fallback bundle has %d roots; expected the NSS store", len(out))
	}
	raw, err := os.ReadFile("testdata/debian-roots.pem")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		var b *pem.Block
		b, raw = pem.Decode(raw)
		if b == nil {
			break
		}
		out = append(out, rootSource{"testdata/debian-roots.pem", b.Bytes})
		n++
	}
	if n != 9 {
		t.Fatalf("testdata/debian-roots.pem holds %d certificates; want 9", n)
	}
	return out
}

// TestCatalogAgainstRealRoots hashes real public root certificates and holds
// every catalog entry it finds to the certificate's subject.
func TestCatalogAgainstRealRoots(t *testing.T) {
	t.Parallel()
	cat := Catalog()
	for _, e := range cat {
		if _, ok := subjectFragments[e.Name]; !ok {
			t.Errorf("catalog name %q has no expected subject in subjectFragments", e.Name)
		}
	}
	found := map[int]string{} // catalog index -> subject
	for _, r := range realRoots(t) {
		cert, err := x509.ParseCertificate(r.der)
		if err != nil {
			t.Fatalf("%s: %v", r.from, err)
		}
		s256 := sha256.Sum256(r.der)
		s1 := sha1.Sum(r.der)
		subject := cert.Subject.String()
		for i, e := range cat {
			var hit bool
			switch e.Algorithm {
			case HashSHA256:
				hit = string(e.Hash) == string(s256[:])
			case HashSHA1:
				hit = string(e.Hash) == string(s1[:])
			}
			if !hit {
				continue
			}
			found[i] = subject
			for _, frag := range subjectFragments[e.Name] {
				if !strings.Contains(subject, frag) {
					t.Errorf("catalog %q (%s) hashes the certificate %q from %s, whose subject lacks %q",
						e.Name, e.Algorithm, subject, r.from, frag)
				}
			}
		}
		if e, ok := LookupRoot(r.der); ok {
			for _, frag := range subjectFragments[e.Name] {
				if !strings.Contains(subject, frag) {
					t.Errorf("LookupRoot(%q) = %q", subject, e.Name)
				}
			}
		}
	}
	var n256 int
	for i := range found {
		if cat[i].Algorithm == HashSHA256 {
			n256++
		}
	}
	t.Logf("%d catalog entries found in real roots (%d SHA-256)", len(found), n256)
	if n256 < 15 {
		t.Errorf("found %d SHA-256 catalog roots among real certificates; want at least 15", n256)
	}
	for i, e := range cat {
		if _, ok := found[i]; e.InDebian && !ok {
			t.Errorf("catalog %q (%s) is marked as in Debian's ca-certificates but no real root hashes to %s",
				e.Name, e.Algorithm, e.HashHex())
		}
	}
	// Each SHA-1 entry that a real root confirms must agree with the
	// SHA-256 entry of the same name: both hash the same certificate.
	for i, e := range cat {
		if e.Algorithm != HashSHA1 {
			continue
		}
		if s, ok := found[i]; ok {
			twin := findCatalog(t, e.Name, HashSHA256)
			for j, f := range cat {
				if f.Name == twin.Name && f.Algorithm == HashSHA256 && found[j] != s {
					t.Errorf("%q: SHA-1 entry hashes %q, SHA-256 entry hashes %q", e.Name, s, found[j])
				}
			}
		}
	}
}

// TestSectigoRootFacts pins reference §11: the Sectigo root that AMT
// provisioning certificates chain to is itself SHA-1 signed (so AMT 16+
// refuse chains ending in it) and expires at the end of 2028.
func TestSectigoRootFacts(t *testing.T) {
	t.Parallel()
	for _, r := range realRoots(t) {
		e, ok := LookupRoot(r.der)
		if !ok || e.Name != "Comodo AAA Certificate Services (Sectigo)" {
			continue
		}
		cert, err := x509.ParseCertificate(r.der)
		if err != nil {
			t.Fatal(err)
		}
		if cert.SignatureAlgorithm != x509.SHA1WithRSA {
			t.Errorf("AAA Certificate Services is signed with %s; want SHA1-RSA", cert.SignatureAlgorithm)
		}
		if want := time.Date(2028, 12, 31, 23, 59, 59, 0, time.UTC); !cert.NotAfter.Equal(want) {
			t.Errorf("AAA Certificate Services expires %s; want %s", cert.NotAfter, want)
		}
		return
	}
	t.Fatal("AAA Certificate Services not found among real roots")
}
