package csr_test

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/csr/csrtest"
)

// withMACIterations re-encodes a PFX with the MAC's iteration count set to
// n (the MAC then no longer verifies, which a parser learns only after
// running all n iterations).
func withMACIterations(t *testing.T, pfx []byte, n int) []byte {
	t.Helper()
	var p struct {
		Version  int
		AuthSafe asn1.RawValue
		MacData  struct {
			Mac        asn1.RawValue
			MacSalt    []byte
			Iterations int
		}
	}
	if _, err := asn1.Unmarshal(pfx, &p); err != nil {
		t.Fatal(err)
	}
	p.MacData.Iterations = n
	out, err := asn1.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestParsePFXBoundsIterations: a PFX whose key derivations ask for more
// iterations than MaxPFXIterations is refused at once, naming the limit,
// whichever derivation asks (the MAC, the certificates' encryption, the
// key's), instead of keeping the CPU busy for minutes.
func TestParsePFXBoundsIterations(t *testing.T) {
	t.Parallel()
	v := csrtest.NewVendor(csrtest.VendorOptions{Name: "Iter Vendor", Bits: 1024})
	leaf, key := v.Issue(csrtest.LeafOptions{Bits: 1024})
	// 32768 is the smallest count DER writes as 02 03 00 80 00, which the
	// test can raise in place to 02 03 7f ff ff (8388607).
	pfx, err := pkcs12.Modern.WithIterations(32768).Encode(key, leaf, []*x509.Certificate{v.Intermediate}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := csr.ParsePFX(pfx, "pw"); err != nil {
		t.Fatalf("a PFX with 32768 iterations: %v", err)
	}
	count := []byte{0x02, 0x03, 0x00, 0x80, 0x00}
	if n := bytes.Count(pfx, count); n != 3 {
		t.Fatalf("found %d iteration counts of 32768, want 3 (certificates, key, MAC)", n)
	}
	raise := func(k int) []byte {
		b := bytes.Clone(pfx)
		off := 0
		for range k {
			off += bytes.Index(b[off:], count) + 1
		}
		i := off + bytes.Index(b[off:], count)
		copy(b[i:], []byte{0x02, 0x03, 0x7f, 0xff, 0xff})
		return b
	}
	cases := map[string]struct {
		data []byte
		seen string
	}{
		"certificates' encryption": {raise(0), "8388607"},
		"key's encryption":         {raise(1), "8388607"},
		"MAC":                      {raise(2), "8388607"},
		"MAC at 2^31":              {withMACIterations(t, pfx, 1<<31), "2147483648"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, _, err := csr.ParsePFX(tc.data, "pw")
			if !errors.Is(err, csr.ErrUnreadable) {
				t.Fatalf("ParsePFX = %v, want an unreadable-input refusal", err)
			}
			for _, want := range []string{tc.seen, fmt.Sprint(csr.MaxPFXIterations), "iterations", "export the PFX again"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}
