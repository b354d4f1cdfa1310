package dnssuffix

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
)

// matchCase is one row of testdata/match_cases.json.
type matchCase struct {
	Cert        string `json:"cert"`
	Suffix      string `json:"suffix"`
	Version     string `json:"version"`
	Match       bool   `json:"match"`
	Rule        string `json:"rule"`
	Registrable string `json:"registrable"`
	Why         string `json:"why"`
}

func loadCases(t testing.TB) []matchCase {
	t.Helper()
	b, err := os.ReadFile("testdata/match_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		About string      `json:"about"`
		Cases []matchCase `json:"cases"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("match_cases.json: %v", err)
	}
	if len(f.Cases) < 40 {
		t.Fatalf("match_cases.json has %d cases, want at least 40", len(f.Cases))
	}
	return f.Cases
}

func mustVersion(t testing.TB, s string) amt.Version {
	t.Helper()
	v, err := amt.ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMatchTable(t *testing.T) {
	t.Parallel()
	for i, c := range loadCases(t) {
		if c.Why == "" || c.Version == "" {
			t.Errorf("case %d (%s / %s): every case needs a version and a why", i, c.Cert, c.Suffix)
		}
		v := mustVersion(t, c.Version)
		r := Match(c.Cert, c.Suffix, v)
		label := c.Cert + " / " + c.Suffix + " @" + c.Version
		if r.Match != c.Match {
			t.Errorf("%s: match %v, want %v (%s)\n  reason: %s", label, r.Match, c.Match, c.Why, r.Reason)
		}
		if c.Rule != "" && r.Rule != c.Rule {
			t.Errorf("%s: rule %q, want %q (%s)", label, r.Rule, c.Rule, c.Why)
		}
		if c.Registrable != "" && r.Registrable != c.Registrable {
			t.Errorf("%s: registrable %q, want %q (%s)", label, r.Registrable, c.Registrable, c.Why)
		}
		checkResultShape(t, label, r)
	}
}

// checkResultShape holds for every verdict: a reason always, a fix exactly
// on a mismatch, and every suggestion in the fix verified by the rule.
func checkResultShape(t *testing.T, label string, r Result) {
	t.Helper()
	if r.Reason == "" || strings.Contains(r.Reason, "\n") {
		t.Errorf("%s: reason %q, want one non-empty line", label, r.Reason)
	}
	if r.Match && r.Fix != "" {
		t.Errorf("%s: a match carries fix %q", label, r.Fix)
	}
	if !r.Match && (r.Fix == "" || strings.Contains(r.Fix, "\n")) {
		t.Errorf("%s: mismatch with fix %q, want one non-empty line", label, r.Fix)
	}
	v, _ := amt.ParseVersion(r.AMTVersion)
	if r.Rule != RuleInvalidName && r.AMTVersion == "" {
		t.Errorf("%s: no AMT version in result", label)
	}
	if r.SuggestedSuffix != "" {
		if !strings.Contains(r.Fix, r.SuggestedSuffix) {
			t.Errorf("%s: fix %q does not name suggested suffix %s", label, r.Fix, r.SuggestedSuffix)
		}
		if m := Match(r.Name, r.SuggestedSuffix, v); !m.Match {
			t.Errorf("%s: suggested MEBx suffix %s does not match %s: %s", label, r.SuggestedSuffix, r.Name, m.Reason)
		}
	}
	if r.CertificateFor != "" {
		if m := Match(r.CertificateFor, r.DeviceSuffix, v); !m.Match {
			t.Errorf("%s: proposed certificate %s does not match %s: %s", label, r.CertificateFor, r.DeviceSuffix, m.Reason)
		}
	}
	if !r.Match && (r.Rule == RuleExtendedTLD || r.Rule == RuleLabelSuffix || r.Rule == RuleWildcard) && r.CertificateFor == "" {
		t.Errorf("%s: rule mismatch without a certificate to buy", label)
	}
}

// TestMatchNormalization: the verdict ignores case and one trailing dot on
// either side, over every case of the table.
func TestMatchNormalization(t *testing.T) {
	t.Parallel()
	for _, c := range loadCases(t) {
		v := mustVersion(t, c.Version)
		want := Match(c.Cert, c.Suffix, v)
		for _, alt := range [][2]string{
			{asciiUpper(c.Cert), c.Suffix},
			{c.Cert, asciiUpper(c.Suffix)},
			{addDot(c.Cert), c.Suffix},
			{c.Cert, addDot(c.Suffix)},
			{addDot(asciiUpper(c.Cert)), addDot(asciiUpper(c.Suffix))},
		} {
			got := Match(alt[0], alt[1], v)
			if got.Match != want.Match || got.Rule != want.Rule || got.Registrable != want.Registrable {
				t.Errorf("Match(%q, %q) = %v/%s, but Match(%q, %q) = %v/%s", alt[0], alt[1], got.Match, got.Rule, c.Cert, c.Suffix, want.Match, want.Rule)
			}
		}
	}
}

func TestMatchMessages(t *testing.T) {
	t.Parallel()
	v19 := amt.Version{Major: 19}
	tests := map[string]struct {
		cert, suffix string
		v            amt.Version
		reason, fix  string // exact, for the wording users see
	}{
		"design example": {
			cert: "rcs.corp.example.com", suffix: "branch.example.net", v: v19,
			reason: "CN rcs.corp.example.com cannot configure devices in branch.example.net: AMT 19.0 cuts it to example.com (.com keeps 2 labels), and branch.example.net is not under example.com",
			fix:    "buy a certificate for a name under example.net, or set the MEBx PKI DNS suffix to corp.example.com",
		},
		"uk kept whole": {
			cert: "rcs.example.uk", suffix: "example.uk", v: v19,
			reason: "CN rcs.example.uk cannot configure devices in example.uk: AMT 19.0 cuts it to rcs.example.uk (.uk keeps 3 labels), and example.uk is not under rcs.example.uk",
			fix:    "buy a certificate for exactly example.uk (.uk keeps 3 labels, so a longer name would be cut below example.uk), or set the MEBx PKI DNS suffix to rcs.example.uk",
		},
		"local": {
			cert: "rcs.vprodemo.com", suffix: "corp.local", v: v19,
			reason: "CN rcs.vprodemo.com cannot configure devices in corp.local: .local is reserved for multicast DNS (RFC 6762), not a public top-level domain, so no public CA sells a certificate under it and a purchased certificate can never match it",
			fix:    "set the MEBx PKI DNS suffix to vprodemo.com on these devices (Intel advises this when DHCP option 15 is .local or .corp), or issue rcs.corp.local from a private CA whose root hash you add to every device",
		},
		"label rule": {
			cert: "rcs.example.com", suffix: "amt.example.com", v: amt.Version{Major: 4},
			reason: "CN rcs.example.com cannot configure devices in amt.example.com: AMT 4.0 predates extended TLD support (AMT 4.1/5.1), so the device suffix must end the certificate name on a label boundary, and amt.example.com does not end rcs.example.com",
			fix:    "buy a certificate for a name under amt.example.com, or set the MEBx PKI DNS suffix to example.com",
		},
		"unknown tld": {
			cert: "rcs.a.io", suffix: "b.io", v: v19,
			reason: "CN rcs.a.io cannot configure devices in b.io: .io is not in AMT's TLD depth table and the firmware's cut for it is not documented, so only the certificate's own domain a.io and the domains above it are trusted to match; b.io does not end a.io (some firmware may accept it, none is documented to)",
			fix:    "buy a certificate for a host directly in b.io, such as rcs.b.io (.io is not in AMT's TLD depth table, so no wider name is sure to match), or set the MEBx PKI DNS suffix to a.io",
		},
		"idn": {
			cert: "rcs.bücher.de", suffix: "bücher.de", v: v19,
			reason: `certificate name "rcs.bücher.de" is not a DNS name the suffix rule can compare: it contains non-ASCII characters, which AMT firmware does not compare as an IDN`,
			fix:    "use the punycode A-label form rcs.xn--bcher-kva.de",
		},
		"private CA match": {
			cert: "rcs.corp.local", suffix: "corp.local", v: v19,
			reason: "CN rcs.corp.local can configure devices in corp.local: .local is not in AMT's TLD depth table and the firmware's cut for it is not documented, so only the certificate's own domain corp.local and the domains above it are trusted to match, and corp.local is that domain; note that no public CA issues certificates under .local, so this one must come from a private CA whose root hash is added to every device",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := Match(tc.cert, tc.suffix, tc.v)
			if r.Reason != tc.reason {
				t.Errorf("reason\n got %s\nwant %s", r.Reason, tc.reason)
			}
			if r.Fix != tc.fix {
				t.Errorf("fix\n got %s\nwant %s", r.Fix, tc.fix)
			}
		})
	}
}

func TestExtendedTLD(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"1", false}, {"3.2", false}, {"4", false}, {"4.0.9", false}, {"4.1", true}, {"4.2", true},
		{"5", false}, {"5.1", true}, {"6", true}, {"11.8.65", true}, {"19", true},
	} {
		if got := ExtendedTLD(mustVersion(t, tc.v)); got != tc.want {
			t.Errorf("ExtendedTLD(%s) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// TestTLDDepthTable pins the table against the reference, entry by entry.
func TestTLDDepthTable(t *testing.T) {
	t.Parallel()
	two := "net com org gov edu de ch dk cz cl ua"
	three := "arpa fr cn nl br mx uk pl tw ca fi be ru se ar es no at in tr ro hu nz pt il gr co ie za th sg hk lt id hr ee bg"
	want := map[string]int{}
	for _, s := range strings.Fields(two) {
		want[s] = 2
	}
	for _, s := range strings.Fields(three) {
		want[s] = 3
	}
	if len(tldDepth) != len(want) {
		t.Errorf("table has %d entries, reference has %d", len(tldDepth), len(want))
	}
	for tld, d := range want {
		got, listed := TLDDepth(strings.ToUpper(tld))
		if !listed || got != d {
			t.Errorf("TLDDepth(%s) = %d, %v; want %d, true", tld, got, listed, d)
		}
	}
	if d, listed := TLDDepth("io"); listed || d != 2 {
		t.Errorf("TLDDepth(io) = %d, %v; want the default 2, false", d, listed)
	}
}

func newCert(t *testing.T, cn string, sans ...string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     sans,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMatchCertificate(t *testing.T) {
	t.Parallel()
	v := amt.Version{Major: 16, Minor: 1}
	tests := map[string]struct {
		cert       *x509.Certificate
		suffix     string
		match      bool
		source     string
		name       string
		rule       string
		reasonHas  []string
		fixHas     string
		suggestion string
	}{
		"CN matches": {
			cert: newCert(t, "rcs.vprodemo.com", "rcs.other.net"), suffix: "amt.vprodemo.com",
			match: true, source: "CN", name: "rcs.vprodemo.com", rule: RuleExtendedTLD,
		},
		"SAN matches": {
			cert: newCert(t, "rcs.vprodemo.com", "rcs.other.net", "rcs.branch.example.net"), suffix: "branch.example.net",
			match: true, source: "SAN", name: "rcs.branch.example.net", rule: RuleExtendedTLD,
		},
		"SAN wildcard matches": {
			cert: newCert(t, "", "*.corp.example.com"), suffix: "corp.example.com",
			match: true, source: "SAN", name: "*.corp.example.com", rule: RuleExtendedTLD,
		},
		"invalid SAN skipped": {
			cert: newCert(t, "Intel AMT provisioning", "rcs.corp.example.com"), suffix: "corp.example.com",
			match: true, source: "SAN", name: "rcs.corp.example.com",
		},
		"none matches": {
			cert: newCert(t, "rcs.vprodemo.com", "rcs.other.net"), suffix: "branch.example.org",
			rule:      RuleExtendedTLD,
			reasonHas: []string{"no name of the certificate can configure devices in branch.example.org", "CN rcs.vprodemo.com: AMT 16.1 cuts it to vprodemo.com", "SAN rcs.other.net: AMT 16.1 cuts it to other.net"},
			fixHas:    "buy a certificate for a name under example.org", suggestion: "vprodemo.com",
		},
		"only invalid names": {
			cert: newCert(t, "Intel AMT provisioning"), suffix: "vprodemo.com",
			rule: RuleInvalidName, reasonHas: []string{`CN "Intel AMT provisioning"`, "whitespace"},
		},
		"no names": {
			cert: newCert(t, ""), suffix: "vprodemo.com", rule: RuleInvalidName,
			reasonHas: []string{"no CN and no SAN DNS name"}, fixHas: "rcs.vprodemo.com",
		},
		"nil": {
			suffix: "vprodemo.com", rule: RuleInvalidName, reasonHas: []string{"no certificate"},
		},
		"bad suffix": {
			cert: newCert(t, "rcs.vprodemo.com"), suffix: "vpro_demo.com", rule: RuleInvalidName,
			reasonHas: []string{`device suffix "vpro_demo.com"`, "underscore"}, fixHas: "hyphen",
		},
		"local suffix": {
			cert: newCert(t, "rcs.vprodemo.com"), suffix: "corp.local", rule: RulePrivateSuffix,
			reasonHas: []string{"multicast DNS"}, fixHas: "MEBx PKI DNS suffix to vprodemo.com", suggestion: "vprodemo.com",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := MatchCertificate(tc.cert, tc.suffix, v)
			if r.Match != tc.match {
				t.Fatalf("match %v, want %v: %s", r.Match, tc.match, r.Reason)
			}
			if tc.source != "" && (r.Source != tc.source || r.Name != tc.name) {
				t.Errorf("matched %s %s, want %s %s", r.Source, r.Name, tc.source, tc.name)
			}
			if tc.rule != "" && r.Rule != tc.rule {
				t.Errorf("rule %s, want %s", r.Rule, tc.rule)
			}
			for _, s := range tc.reasonHas {
				if !strings.Contains(r.Reason, s) {
					t.Errorf("reason %q lacks %q", r.Reason, s)
				}
			}
			if !strings.Contains(r.Fix, tc.fixHas) {
				t.Errorf("fix %q lacks %q", r.Fix, tc.fixHas)
			}
			if r.SuggestedSuffix != tc.suggestion {
				t.Errorf("suggested suffix %q, want %q", r.SuggestedSuffix, tc.suggestion)
			}
			checkResultShape(t, name, r)
		})
	}
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func addDot(s string) string {
	if strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

// FuzzMatch: Match never panics, every verdict has the documented shape,
// its suggestions are verified by the rule, and case or a trailing dot
// never changes it.
func FuzzMatch(f *testing.F) {
	for _, c := range loadCases(f) {
		v := mustVersion(f, c.Version)
		f.Add(c.Cert, c.Suffix, v.Major, v.Minor)
	}
	f.Add("*.", "*", 19, 0)
	f.Add("a.b.c.d.e.f.co.uk", "e.f.co.uk", 4, 1)
	f.Fuzz(func(t *testing.T, cert, suffix string, major, minor int) {
		v := amt.Version{Major: major % 100, Minor: minor % 100}
		if v.Major < 0 || v.Minor < 0 {
			return // ParseVersion never yields these
		}
		r := Match(cert, suffix, v)
		checkResultShape(t, cert+" / "+suffix, r)
		for _, alt := range [][2]string{
			{asciiUpper(cert), suffix}, {cert, asciiUpper(suffix)},
			{addDot(cert), suffix}, {cert, addDot(suffix)},
		} {
			got := Match(alt[0], alt[1], v)
			if got.Match != r.Match || got.Rule != r.Rule {
				t.Fatalf("Match(%q, %q) = %v/%s, Match(%q, %q) = %v/%s", cert, suffix, r.Match, r.Rule, alt[0], alt[1], got.Match, got.Rule)
			}
		}
		if r.Match {
			// A match is label-aligned containment of the suffix in the
			// name's domain; check it without the rule's helpers.
			n := strings.TrimPrefix(strings.ToLower(strings.TrimSuffix(cert, ".")), "*.")
			d := strings.ToLower(strings.TrimSuffix(suffix, "."))
			reg := r.Registrable
			if reg == "" {
				reg = n
			}
			if !strings.HasSuffix(n, reg) || !(d == reg || strings.HasSuffix(d, "."+reg)) && !(d == n || strings.HasSuffix(n, "."+d)) {
				t.Fatalf("Match(%q, %q) matched, but %q is not within %q", cert, suffix, d, reg)
			}
		}
	})
}
