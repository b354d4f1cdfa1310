package amt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"
)

// selfSigned makes a throwaway root certificate, DER encoded.
func selfSigned(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestAddCustomRefusals(t *testing.T) {
	t.Parallel()
	sha256Of := func(s string) []byte { return HashSHA256.Sum([]byte(s)) }
	g3, _ := hexHash("EB04CF5EB1F39AFA762F2BB120F296CBA520C1B97DB1589565B81CB9A17B7244")
	full := func() HashTable {
		tab := DefaultHashTable(v3("16"))
		for i := 0; i < 3; i++ {
			if err := tab.AddCustom("corp", HashSHA256, sha256Of(string(rune('a'+i)))); err != nil {
				t.Fatal(err)
			}
		}
		return tab
	}
	huge := func() HashTable {
		var tab HashTable
		for i := 0; i < MaxHashEntries; i++ {
			tab.Entries = append(tab.Entries, RootHash{Name: "d", Algorithm: HashSHA256, Hash: sha256Of(strings.Repeat("x", i)), Default: true, Active: true})
		}
		return tab
	}
	cases := map[string]struct {
		table      func() HashTable
		name       string
		alg        HashAlgorithm
		hash       []byte
		rule, seen string
	}{
		"empty name":          {func() HashTable { return DefaultHashTable(v3("16")) }, " ", HashSHA256, sha256Of("x"), RuleHashName, "empty name"},
		"name of 257 bytes":   {func() HashTable { return DefaultHashTable(v3("16")) }, strings.Repeat("n", MaxHashNameLen+1), HashSHA256, sha256Of("x"), RuleHashName, "257 bytes"},
		"unknown algorithm":   {func() HashTable { return DefaultHashTable(v3("16")) }, "corp", HashAlgorithm(9), sha256Of("x"), RuleHashAlgorithm, "code 9"},
		"longer than 64":      {func() HashTable { return DefaultHashTable(v3("16")) }, "corp", HashSHA512, make([]byte, 65), RuleHashSize, "65 bytes"},
		"size mismatch":       {func() HashTable { return DefaultHashTable(v3("16")) }, "corp", HashSHA384, sha256Of("x"), RuleHashSize, "32 bytes for SHA-384"},
		"SHA-1 on 16":         {func() HashTable { return DefaultHashTable(v3("16")) }, "corp", HashSHA1, make([]byte, 20), RuleSHA1Hash, "AMT 16.0"},
		"SHA-1 on 19":         {func() HashTable { return DefaultHashTable(v3("19.0.5")) }, "corp", HashSHA1, make([]byte, 20), RuleSHA1Hash, "AMT 19.0.5"},
		"duplicate default":   {func() HashTable { return DefaultHashTable(v3("16")) }, "again", HashSHA256, g3, RuleDuplicateHash, "VeriSign Class 3 Public Primary CA - G3"},
		"fourth custom":       {full, "corp4", HashSHA256, sha256Of("d"), RuleCustomHashes, "3 custom hashes"},
		"table of 33 entries": {huge, "corp", HashSHA256, sha256Of("new"), RuleHashEntries, "33 entries"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tab := c.table()
			before := len(tab.Entries)
			err := tab.AddCustom(c.name, c.alg, c.hash)
			var re *RuleError
			if !errors.As(err, &re) || re.Rule != c.rule {
				t.Fatalf("AddCustom: %v; want a %q refusal", err, c.rule)
			}
			msg := err.Error()
			if !strings.Contains(re.Seen, c.seen) || re.Want == "" || re.Fix == "" || strings.Contains(msg, "\n") {
				t.Errorf("refusal %q should name the value seen (%q), the value wanted and the fix, in one line", msg, c.seen)
			}
			if len(tab.Entries) != before {
				t.Errorf("a refused entry changed the table: %d entries, was %d", len(tab.Entries), before)
			}
		})
	}
}

func TestAddCustomAccepts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		version string
		alg     HashAlgorithm
	}{
		{"12", HashSHA1}, // SHA-1 hashes can still be added before 16
		{"", HashSHA1},   // no version known: no version rule
		{"16", HashSHA256},
		{"19", HashSHA384},
	}
	for _, c := range cases {
		var tab HashTable
		if c.version != "" {
			tab = DefaultHashTable(v3(c.version))
		}
		h := c.alg.Sum([]byte("corp root"))
		if err := tab.AddCustom("Corp Root", c.alg, h); err != nil {
			t.Errorf("AMT %q: AddCustom(%s): %v", c.version, c.alg, err)
			continue
		}
		last := tab.Entries[len(tab.Entries)-1]
		if last.Name != "Corp Root" || last.Default || !last.Active || !bytes.Equal(last.Hash, h) || tab.CustomCount() != 1 {
			t.Errorf("AMT %q: added entry %+v", c.version, last)
		}
		h[0] ^= 0xFF
		if bytes.Equal(last.Hash, h) {
			t.Error("AddCustom keeps the caller's slice")
		}
	}
}

func TestFindAndSetActive(t *testing.T) {
	t.Parallel()
	root := selfSigned(t, "Corp Root")
	other := selfSigned(t, "Other Root")
	tab := DefaultHashTable(v3("16"))
	if _, ok := tab.Find(root); ok {
		t.Fatal("a fresh root was found in the default table")
	}
	if err := tab.AddCustom("Corp SHA-256", HashSHA256, HashSHA256.Sum(root)); err != nil {
		t.Fatal(err)
	}
	if e, ok := tab.Find(root); !ok || e.Name != "Corp SHA-256" || !e.Active {
		t.Fatalf("Find = %+v, %v; want the active custom entry", e, ok)
	}
	if err := tab.SetActive(HashSHA256, HashSHA256.Sum(root), false); err != nil {
		t.Fatal(err)
	}
	if e, ok := tab.Find(root); !ok || e.Active {
		t.Fatalf("Find = %+v, %v; want the entry, inactive", e, ok)
	}
	// An active entry under another algorithm wins over an inactive one.
	if err := tab.AddCustom("Corp SHA-384", HashSHA384, HashSHA384.Sum(root)); err != nil {
		t.Fatal(err)
	}
	if e, ok := tab.Find(root); !ok || e.Name != "Corp SHA-384" || !e.Active {
		t.Fatalf("Find = %+v, %v; want the active SHA-384 entry", e, ok)
	}
	if _, ok := tab.Find(other); ok {
		t.Error("another root was found")
	}
	err := tab.SetActive(HashSHA256, HashSHA256.Sum(other), true)
	var re *RuleError
	if !errors.As(err, &re) || re.Rule != RuleHashNotPresent {
		t.Errorf("SetActive of an absent hash: %v", err)
	}
	// An entry with an unknown algorithm matches nothing, not even an empty hash.
	odd := HashTable{Entries: []RootHash{{Name: "odd", Algorithm: 9, Hash: nil, Active: true}}}
	if _, ok := odd.Find(root); ok {
		t.Error("an unknown-algorithm entry matched")
	}
}

// TestFindRealRootPerVersion: the same real root matches the SHA-1 default
// on AMT 10 and the SHA-256 default on AMT 16.
func TestFindRealRootPerVersion(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/debian-roots.pem")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw) // the first certificate is Go Daddy Class 2
	if b == nil {
		t.Fatal("no certificate in testdata/debian-roots.pem")
	}
	cases := map[string]HashAlgorithm{"10": HashSHA1, "16": HashSHA256}
	for ver, alg := range cases {
		tab := DefaultHashTable(v3(ver))
		e, ok := tab.Find(b.Bytes)
		if !ok || e.Name != "Go Daddy Class 2 CA" || e.Algorithm != alg || !e.Default {
			t.Errorf("AMT %s: Find(Go Daddy Class 2) = %+v, %v; want the %s default", ver, e, ok, alg)
		}
	}
}

func hexHash(s string) ([]byte, error) {
	_, h, err := ParseHash(s)
	return h, err
}
