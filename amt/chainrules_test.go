package amt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
	"time"
)

// chainCert makes a certificate from tmpl, signed by parent's key (self
// signed when parent is nil), with a fresh key from newKey.
func chainCert(t *testing.T, tmpl, parent *x509.Certificate, parentKey crypto.Signer, newKey func() (crypto.Signer, error)) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(1)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func rsaKey(bits int) func() (crypto.Signer, error) {
	return func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, bits) }
}

func ecKey() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

// TestChainRules pins each firmware rule of a provisioning certificate: the
// rule it names, whether it passes, and the words that tell the user why.
func TestChainRules(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	valid := func(tmpl *x509.Certificate) *x509.Certificate {
		tmpl.NotBefore, tmpl.NotAfter = now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0)
		return tmpl
	}
	root, rootKey := chainCert(t, valid(&x509.Certificate{Subject: pkix.Name{CommonName: "Rule Root"}, IsCA: true, BasicConstraintsValid: true}), nil, nil, rsaKey(2048))
	leafTmpl := func(mod func(*x509.Certificate)) *x509.Certificate {
		tmpl := valid(&x509.Certificate{
			Subject:            pkix.Name{CommonName: "rcs.corp.example.com"},
			ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			UnknownExtKeyUsage: []asn1.ObjectIdentifier{ProvisioningOID()},
		})
		if mod != nil {
			mod(tmpl)
		}
		return tmpl
	}
	leaf, _ := chainCert(t, leafTmpl(nil), root, rootKey, rsaKey(2048))
	ouOnly, _ := chainCert(t, leafTmpl(func(c *x509.Certificate) {
		c.UnknownExtKeyUsage = nil
		c.Subject.OrganizationalUnit = []string{ClientSetupOU}
	}), root, rootKey, rsaKey(2048))
	ouNearMiss, _ := chainCert(t, leafTmpl(func(c *x509.Certificate) {
		c.UnknownExtKeyUsage = nil
		c.Subject.OrganizationalUnit = []string{ClientSetupOU + "."}
	}), root, rootKey, rsaKey(2048))
	unmarked, _ := chainCert(t, leafTmpl(func(c *x509.Certificate) {
		c.UnknownExtKeyUsage, c.ExtKeyUsage = nil, []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	}), root, rootKey, rsaKey(2048))
	ecLeaf, _ := chainCert(t, leafTmpl(nil), root, rootKey, ecKey)
	small, _ := chainCert(t, leafTmpl(nil), root, rootKey, rsaKey(1024))
	sha1Leaf, _ := chainCert(t, leafTmpl(func(c *x509.Certificate) { c.SignatureAlgorithm = x509.SHA1WithRSA }), root, rootKey, rsaKey(2048))
	stranger, _ := chainCert(t, valid(&x509.Certificate{Subject: pkix.Name{CommonName: "Rule Root"}, IsCA: true, BasicConstraintsValid: true}), nil, nil, ecKey)

	p11, err := LookupProfile(Version{Major: 11})
	if err != nil {
		t.Fatal(err)
	}
	p16, err := LookupProfile(Version{Major: 16})
	if err != nil {
		t.Fatal(err)
	}

	cases := map[string]struct {
		check   func() (RuleError, bool)
		rule    string
		ok      bool
		seenHas string // in Seen, passed or refused
	}{
		"marking by EKU":          {func() (RuleError, bool) { return CheckMarking(leaf) }, RuleMarking, true, "EKU " + ProvisioningOIDString},
		"marking by OU":           {func() (RuleError, bool) { return CheckMarking(ouOnly) }, RuleMarking, true, ClientSetupOU},
		"OU near miss named":      {func() (RuleError, bool) { return CheckMarking(ouNearMiss) }, RuleMarking, false, "not spelled exactly"},
		"no marking":              {func() (RuleError, bool) { return CheckMarking(unmarked) }, RuleMarking, false, "neither the AMT provisioning EKU nor the AMT OU"},
		"server auth":             {func() (RuleError, bool) { return CheckServerAuth(leaf) }, RuleServerAuth, true, "has the server-authentication EKU"},
		"any EKU is not server":   {func() (RuleError, bool) { return CheckServerAuth(unmarked) }, RuleServerAuth, false, "no server-authentication EKU"},
		"RSA leaf":                {func() (RuleError, bool) { return CheckKeyType(leaf) }, RuleKeyType, true, "RSA 2048 bits"},
		"EC leaf":                 {func() (RuleError, bool) { return CheckKeyType(ecLeaf) }, RuleKeyType, false, "ECDSA P-256 key (256 bits)"},
		"SHA-1 on AMT 11":         {func() (RuleError, bool) { return CheckSHA1(sha1Leaf, "leaf", p11) }, "", true, ""},
		"SHA-1 on AMT 16":         {func() (RuleError, bool) { return CheckSHA1(sha1Leaf, "leaf", p16) }, RuleSHA1, false, "leaf is signed with SHA1-RSA"},
		"SHA-256 on AMT 16":       {func() (RuleError, bool) { return CheckSHA1(leaf, "leaf", p16) }, "", true, ""},
		"1024 bits on AMT 11":     {func() (RuleError, bool) { return CheckRSASize(small, "leaf", p11) }, "", true, ""},
		"1024 bits on AMT 16":     {func() (RuleError, bool) { return CheckRSASize(small, "leaf", p16) }, RuleRSASize, false, "leaf has a 1024-bit RSA key"},
		"EC key has no RSA floor": {func() (RuleError, bool) { return CheckRSASize(ecLeaf, "leaf", p16) }, "", true, ""},
		"valid now":               {func() (RuleError, bool) { return CheckValidity(leaf, "leaf", now) }, "", true, ""},
		"not yet valid":           {func() (RuleError, bool) { return CheckValidity(leaf, "leaf", now.AddDate(-2, 0, 0)) }, RuleValidity, false, "leaf is not valid before"},
		"expired":                 {func() (RuleError, bool) { return CheckValidity(leaf, "leaf", now.AddDate(2, 0, 0)) }, RuleValidity, false, "leaf expired on"},
		"chain at the limit":      {func() (RuleError, bool) { return CheckChainLength(4, 4, "AMT 16") }, "", true, ""},
		"chain too long":          {func() (RuleError, bool) { return CheckChainLength(5, 4, "AMT 16") }, RuleChainLength, false, "5 certificates"},
		"no chain limit":          {func() (RuleError, bool) { return CheckChainLength(9, 0, "AMT 16") }, "", true, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			re, ok := tc.check()
			if ok != tc.ok || re.Rule != tc.rule || !strings.Contains(re.Seen, tc.seenHas) {
				t.Errorf("got ok=%t %+v; want ok=%t, rule %q, seen ~%q", ok, re, tc.ok, tc.rule, tc.seenHas)
			}
			if !ok && (re.Want == "" || re.Fix == "") {
				t.Errorf("refusal %+v: want both what the rule wants and the fix", re)
			}
		})
	}

	t.Run("issued by", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name          string
			child, parent *x509.Certificate
			want          bool
		}{
			{"leaf by root", leaf, root, true},
			{"SHA-1 leaf by root", sha1Leaf, root, true},
			{"root by itself", root, root, true},
			{"root by leaf", root, leaf, false},
			{"same name, other key", leaf, stranger, false},
		} {
			if got := IssuedBy(tc.child, tc.parent); got != tc.want {
				t.Errorf("%s: IssuedBy = %t, want %t", tc.name, got, tc.want)
			}
		}
	})
}
