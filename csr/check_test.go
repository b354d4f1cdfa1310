package csr_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/csr/csrtest"
)

var (
	v11 = amt.Version{Major: 11}
	v16 = amt.Version{Major: 16}
	v19 = amt.Version{Major: 19}
)

// trustRoot is the vendor root's SHA-256 as a custom hash, as an admin
// adds it in MEBx.
func trustRoot(root *x509.Certificate) []amt.RootHash {
	s := sha256.Sum256(root.Raw)
	return []amt.RootHash{{Name: "Test Vendor Root CA", Algorithm: amt.HashSHA256, Hash: s[:]}}
}

func reasonLines(v csr.Verdict) []string {
	var out []string
	for _, r := range v.Reasons {
		out = append(out, r.Error())
	}
	return out
}

func TestCheck(t *testing.T) {
	t.Parallel()
	good := csrtest.NewVendor(csrtest.VendorOptions{})
	old := csrtest.NewVendor(csrtest.VendorOptions{Name: "Old Vendor", IntermediateSHA1: true})
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(v *csrtest.Vendor, o csrtest.LeafOptions) []*x509.Certificate {
		l, _ := v.Issue(o)
		return []*x509.Certificate{l, v.Intermediate, v.Root}
	}
	versions := []amt.Version{v11, v16, v19}
	type want struct {
		usable map[amt.Version]bool
		// reasons maps a version to its exact reason lines.
		reasons map[amt.Version][]string
	}
	all := func(lines ...string) map[amt.Version][]string {
		return map[amt.Version][]string{v11: lines, v16: lines, v19: lines}
	}
	cases := map[string]struct {
		chain    []*x509.Certificate
		suffixes []string
		custom   bool // trust the vendor root by custom hash
		vendor   *csrtest.Vendor
		want     want
	}{
		"success": {
			chain: leaf(good, csrtest.LeafOptions{}), custom: true, suffixes: []string{"corp.example.com", "example.com"},
			want: want{usable: map[amt.Version]bool{v11: true, v16: true, v19: true}, reasons: all()},
		},
		"OU marking alone is enough": {
			chain: leaf(good, csrtest.LeafOptions{NoAMTEKU: true, OU: []string{"Intel(R) Client Setup Certificate"}}), custom: true,
			want: want{usable: map[amt.Version]bool{v11: true, v16: true, v19: true}, reasons: all()},
		},
		"missing AMT marking": {
			chain: leaf(good, csrtest.LeafOptions{NoAMTEKU: true}), custom: true,
			want: want{reasons: all(`AMT marking: the leaf has neither the AMT provisioning EKU nor the AMT OU; want EKU 2.16.840.1.113741.1.2.3, or OU exactly "Intel(R) Client Setup Certificate" (case-sensitive, no trailing period); fix: buy an Intel AMT provisioning certificate, or make the CSR with ` + "`amtrcs csr new --ou-marking`")},
		},
		"OU spelled differently": {
			chain: leaf(good, csrtest.LeafOptions{NoAMTEKU: true, OU: []string{"Intel(R) Client Setup Certificate."}}), custom: true,
			want: want{reasons: all(`AMT marking: OU "Intel(R) Client Setup Certificate." is not spelled exactly as the firmware compares it; want EKU 2.16.840.1.113741.1.2.3, or OU exactly "Intel(R) Client Setup Certificate" (case-sensitive, no trailing period); fix: ask the vendor to reissue with the OU spelled exactly, or with the AMT provisioning EKU`)},
		},
		"no server auth": {
			chain: leaf(good, csrtest.LeafOptions{NoServer: true}), custom: true,
			want: want{reasons: all(`server authentication EKU: the leaf has no server-authentication EKU; want extended key usage 1.3.6.1.5.5.7.3.1 (TLS Web Server Authentication); fix: ask the vendor to reissue the certificate as an Intel AMT provisioning (TLS server) certificate`)},
		},
		"any EKU does not stand in for server auth": {
			chain: leaf(good, csrtest.LeafOptions{NoServer: true, AnyEKU: true}), custom: true,
			want: want{reasons: all(`server authentication EKU: the leaf has no server-authentication EKU; want extended key usage 1.3.6.1.5.5.7.3.1 (TLS Web Server Authentication); fix: ask the vendor to reissue the certificate as an Intel AMT provisioning (TLS server) certificate`)},
		},
		"RSA-1024 leaf": {
			chain: leaf(good, csrtest.LeafOptions{Bits: 1024}), custom: true,
			want: want{usable: map[amt.Version]bool{v11: true}, reasons: map[amt.Version][]string{
				v11: nil,
				v16: {"RSA key size: leaf \"rcs.corp.example.com\" has a 1024-bit RSA key; want at least 2048 bits on AMT 16; fix: make a new CSR with `amtrcs csr new --key rsa2048` (or larger) and have it reissued"},
				v19: {"RSA key size: leaf \"rcs.corp.example.com\" has a 1024-bit RSA key; want at least 2048 bits on AMT 19; fix: make a new CSR with `amtrcs csr new --key rsa2048` (or larger) and have it reissued"},
			}},
		},
		"ECDSA leaf": {
			chain: leaf(good, csrtest.LeafOptions{Key: &ecKey.PublicKey}), custom: true,
			want: want{reasons: all("key type: the leaf has a ECDSA P-256 key (256 bits); want an RSA key (AMT firmware does not accept elliptic-curve provisioning certificates); fix: make a new CSR with `amtrcs csr new --key rsa2048` and have the certificate reissued")},
		},
		"SHA-1 signed intermediate": {
			chain: leaf(old, csrtest.LeafOptions{}), custom: true, vendor: old,
			want: want{usable: map[amt.Version]bool{v11: true}, reasons: map[amt.Version][]string{
				v11: nil,
				v16: {`SHA-1 signature: intermediate "Old Vendor AMT Issuing CA" is signed with SHA1-RSA; want SHA-256 or stronger for every certificate, root included, on AMT 16 and later; fix: ask the vendor for a chain signed with SHA-256 up to a SHA-256 root`},
				v19: {`SHA-1 signature: intermediate "Old Vendor AMT Issuing CA" is signed with SHA1-RSA; want SHA-256 or stronger for every certificate, root included, on AMT 19 and later; fix: ask the vendor for a chain signed with SHA-256 up to a SHA-256 root`},
			}},
		},
		"expired": {
			chain: leaf(good, csrtest.LeafOptions{NotBefore: csrtest.Epoch.AddDate(-2, 0, 0)}), custom: true,
			want: want{reasons: all("validity: leaf \"rcs.corp.example.com\" expired on 2025-01-15T12:00:00Z; want valid at 2026-01-15T12:00:00Z; fix: renew it (`amtrcs cert renew ID` makes the CSR) and import the new certificate")},
		},
		"not yet valid": {
			chain: leaf(good, csrtest.LeafOptions{NotBefore: csrtest.Epoch.AddDate(0, 0, 2)}), custom: true,
			want: want{reasons: all(`validity: leaf "rcs.corp.example.com" is not valid before 2026-01-17T12:00:00Z; want valid at 2026-01-15T12:00:00Z (the firmware checks against its own clock); fix: wait until it is valid, or ask the vendor to reissue it with a back-dated not-before`)},
		},
		"missing intermediate": {
			chain: func() []*x509.Certificate { c := leaf(good, csrtest.LeafOptions{}); return c[:1] }(), custom: true,
			want: want{reasons: all(`chain complete: the issuer of leaf "rcs.corp.example.com", "Test Vendor AMT Issuing CA", is missing; want every intermediate up to a root; fix: add the certificate of "Test Vendor AMT Issuing CA" from the vendor's delivery or website`)},
		},
		"CN does not cover a requested suffix": {
			chain: leaf(good, csrtest.LeafOptions{}), custom: true, suffixes: []string{"corp.example.com", "branch.example.net"},
			want: want{reasons: map[amt.Version][]string{v11: {suffixLine("11.0")}, v16: {suffixLine("16.0")}, v19: {suffixLine("19.0")}}},
		},
		"root absent from every hash table": {
			chain: leaf(good, csrtest.LeafOptions{}),
			want: want{reasons: map[amt.Version][]string{
				v11: {"root trusted by AMT: root \"Test Vendor Root CA\" (SHA-256 " + sha(good.Root) + ") is not trusted by AMT 11.0 firmware; want a root whose hash is in the firmware's default table, or added as a custom hash; fix: buy from a vendor whose root the firmware holds (see `amtrcs hashes`), or add this SHA-256 as a custom hash in MEBx and pass it with --trust-hash"},
				v16: {"root trusted by AMT: root \"Test Vendor Root CA\" (SHA-256 " + sha(good.Root) + ") is not trusted by AMT 16.0 firmware; want a root whose hash is in the firmware's default table, or added as a custom hash; fix: buy from a vendor whose root the firmware holds (see `amtrcs hashes`), or add this SHA-256 as a custom hash in MEBx and pass it with --trust-hash"},
				v19: {"root trusted by AMT: root \"Test Vendor Root CA\" (SHA-256 " + sha(good.Root) + ") is not trusted by AMT 19.0 firmware; want a root whose hash is in the firmware's default table, or added as a custom hash; fix: buy from a vendor whose root the firmware holds (see `amtrcs hashes`), or add this SHA-256 as a custom hash in MEBx and pass it with --trust-hash"},
			}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := csr.CheckOptions{Versions: versions, Suffixes: tc.suffixes, Now: csrtest.Epoch}
			if tc.custom {
				v := tc.vendor
				if v == nil {
					v = good
				}
				opts.CustomHashes = append(trustRoot(v.Root), trustRoot(old.Root)...)
			}
			rep := csr.Check(tc.chain, opts)
			if len(rep.Verdicts) != len(versions) {
				t.Fatalf("%d verdicts, want %d", len(rep.Verdicts), len(versions))
			}
			allUsable := true
			for _, vd := range rep.Verdicts {
				if vd.Usable != tc.want.usable[vd.Version] {
					t.Errorf("%s: usable %v, want %v (reasons %q)", vd.Profile, vd.Usable, tc.want.usable[vd.Version], reasonLines(vd))
				}
				if got, want := reasonLines(vd), tc.want.reasons[vd.Version]; strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s reasons:\n got %q\nwant %q", vd.Profile, got, want)
				}
				allUsable = allUsable && vd.Usable
			}
			if rep.Usable != allUsable {
				t.Errorf("report usable %v, verdicts say %v", rep.Usable, allUsable)
			}
		})
	}
}

func sha(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return amt.FormatHash(s[:])
}

func suffixLine(v string) string {
	cut := "AMT " + v + " cuts it to example.com (.com keeps 2 labels), and branch.example.net is not under example.com"
	return "domain suffix: no name of the certificate can configure devices in branch.example.net: CN rcs.corp.example.com: " + cut +
		"; SAN rcs.corp.example.com: " + cut +
		"; want a certificate name that covers the device suffix branch.example.net; fix: buy a certificate for a name under example.net, or set the MEBx PKI DNS suffix to corp.example.com"
}
