package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/csr/csrtest"
)

// Certificates are judged at the fixed time the test vendors build around,
// so reports and golden files do not age.
func init() { certClock = func() time.Time { return csrtest.Epoch } }

func rootHash(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func zipOf(t *testing.T, entries map[string][]byte, order ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range order {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(entries[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var hexRun = regexp.MustCompile(`\b[0-9A-F]{40,96}\b`)

// normalize removes what changes between runs: generated keys change the
// thumbprints, and the temporary directory changes the paths.
func normalize(s, dir string) string {
	s = strings.ReplaceAll(s, dir, "$DIR")
	return hexRun.ReplaceAllStringFunc(s, func(h string) string {
		return "<" + map[int]string{40: "SHA-1", 64: "SHA-256", 96: "SHA-384"}[len(h)] + ">"
	})
}

func golden(t *testing.T, file, got string) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update if the change is intended):\n%s", path, got)
	}
}

func TestCertCheckGolden(t *testing.T) {
	dir := t.TempDir()
	good := csrtest.NewVendor(csrtest.VendorOptions{})
	leaf, _ := good.Issue(csrtest.LeafOptions{Serial: 4242})
	p7, err := pkcs7.DegenerateCertificate(good.Intermediate.Raw)
	if err != nil {
		t.Fatal(err)
	}
	delivery := writeFile(t, dir, "delivery.zip", zipOf(t, map[string][]byte{
		"readme.txt": []byte("thanks"), "rcs.crt": leaf.Raw, "chain.p7b": p7, "root.pem": csrtest.PEM(good.Root),
	}, "readme.txt", "chain.p7b", "rcs.crt", "root.pem"))

	old := csrtest.NewVendor(csrtest.VendorOptions{Name: "Old Vendor", IntermediateSHA1: true})
	oldLeaf, _ := old.Issue(csrtest.LeafOptions{Serial: 77, NoAMTEKU: true, OU: []string{"Intel(R) Client Setup Certificate"}, NotAfter: csrtest.Epoch.AddDate(0, 0, 10)})
	oldFile := writeFile(t, dir, "old.pem", csrtest.PEM(old.Root, oldLeaf, old.Intermediate))

	cases := []struct {
		file string
		args []string
		code int
	}{
		{"cert-check-ok.golden", []string{"cert", "check", delivery, "--trust-hash", rootHash(good.Root), "--device-suffix", "corp.example.com"}, exitOK},
		{"cert-check-sha1.golden", []string{"cert", "check", oldFile, "--trust-hash", rootHash(old.Root), "--amt-version", "11", "--amt-version", "16", "--amt-version", "19", "--device-suffix", "branch.example.net"}, exitVerdict},
		{"cert-check-untrusted.golden", []string{"cert", "check", delivery, "--amt-version", "19"}, exitVerdict},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != tc.code || errOut != "" {
				t.Fatalf("exit %d (want %d), stderr %q\n%s", code, tc.code, errOut, out)
			}
			golden(t, tc.file, normalize(out, dir))
		})
	}
}

func TestCertCheckInput(t *testing.T) {
	dir := t.TempDir()
	v, pfxFile, good := vendorPFX(t, dir)
	bad := writeFile(t, dir, "pw-bad", []byte("not-the-pw\n"))
	big := filepath.Join(dir, "big.cer")
	if f, err := os.Create(big); err == nil {
		f.Truncate(50_000_000)
		f.Close()
	}
	h := rootHash(v.Root)
	cases := map[string]struct {
		args   []string
		code   int
		stderr string
	}{
		"PFX with its password":       {[]string{"cert", "check", pfxFile, "--password-file", good, "--trust-hash", h}, exitOK, ""},
		"PFX with a wrong password":   {[]string{"cert", "check", pfxFile, "--password-file", bad}, exitUsage, "amtrcs: " + pfxFile + ": PFX password: the password given does not open the PFX; want the password the PFX was exported with; fix: put the right password in the file given to --password-file\n"},
		"PFX without --password-file": {[]string{"cert", "check", pfxFile}, exitUsage, "amtrcs: " + pfxFile + ": PFX password: no password was given, and the PFX does not open without one; want the password the PFX was exported with; fix: write that password to a file only you can read and give it with --password-file FILE\n"},
		"not a certificate": {[]string{"cert", "check", writeFile(t, dir, "notes.txt", []byte("hello"))}, exitUsage,
			"amtrcs: " + dir + "/notes.txt: delivery format: neither PEM, DER, PKCS#7, PKCS#12 nor ZIP; want certificates as .cer/.crt/.pem (PEM or DER), .p7b/.p7c, .zip of those, or .pfx/.p12; fix: give the files the certificate vendor sent\n"},
		"50 MB file": {[]string{"cert", "check", big}, exitUsage,
			"amtrcs: " + big + ": file size: " + big + " is 47.7 MiB or more; want at most 10.0 MiB (a certificate delivery is a few KiB); fix: give the certificate files the vendor sent, not a larger archive or another file\n"},
		"four custom hashes": {[]string{"cert", "check", pfxFile, "--trust-hash", h, "--trust-hash", h, "--trust-hash", h, "--trust-hash", h}, exitUsage,
			"amtrcs: --trust-hash: custom root hashes: 4 hashes given; want at most 3, as MEBx holds at most 3 custom hashes; fix: give the hashes added in MEBx only\n"},
		"missing password file": {[]string{"cert", "check", pfxFile, "--password-file", filepath.Join(dir, "pfx.pass")}, exitUsage,
			"amtrcs: --password-file: open " + dir + "/pfx.pass: no such file or directory; want a readable file holding the PFX password; fix: write the password to that file, for example (umask 077; openssl rand -base64 24 > pfx.pass), or correct the path\n"},
		"bad version":  {[]string{"cert", "check", pfxFile, "--amt-version", "x"}, exitUsage, ""},
		"no file":      {[]string{"cert", "check"}, exitUsage, ""},
		"missing file": {[]string{"cert", "check", filepath.Join(dir, "nope.crt")}, exitUsage, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tc.args...)
			if code != tc.code || (tc.stderr != "" && errOut != tc.stderr) {
				t.Fatalf("exit %d (want %d), stderr:\n got %q\nwant %q", code, tc.code, errOut, tc.stderr)
			}
			if strings.Contains(errOut, "vendor-pfx-pw") || strings.Contains(errOut, "not-the-pw") {
				t.Fatal("a password was printed")
			}
		})
	}

	// The JSON report carries the same verdicts.
	code, out, _ := runCLI(t, "cert", "check", pfxFile, "--password-file", good, "--amt-version", "16", "--json")
	var o checkOutput
	if err := json.Unmarshal([]byte(out), &o); err != nil || code != exitVerdict {
		t.Fatalf("JSON: exit %d, %v\n%s", code, err, out)
	}
	if len(o.Report.Verdicts) != 1 || o.Report.Verdicts[0].Usable || o.Report.Verdicts[0].Reasons[0].Rule != csr.RuleRootTrusted ||
		o.Report.Root == nil || o.Report.Root.SHA256 != strings.ToUpper(h) || len(o.Report.Certificates) != 3 {
		t.Fatalf("JSON report %+v", o.Report)
	}
	if strings.Contains(out, "vendor-pfx-pw") || strings.Contains(out, "PRIVATE") {
		t.Fatal("JSON shows secret material")
	}
}

// TestCertExportPFXMode imports a PFX and exports it over a file that
// already exists world-readable: the key must still land in a 0600 file.
func TestCertExportPFXMode(t *testing.T) {
	dir := t.TempDir()
	v, pfxFile, pw := vendorPFX(t, dir)
	data := filepath.Join(dir, "data")
	if code, out, errOut := runCLI(t, "--data-dir", data, "cert", "import", pfxFile, "--password-file", pw, "--trust-hash", rootHash(v.Root)); code != exitOK {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ := runCLI(t, "--data-dir", data, "cert", "list", "--json")
	var entries []csr.Entry
	if err := json.Unmarshal([]byte(out), &entries); err != nil || code != exitOK || len(entries) != 1 {
		t.Fatalf("list: exit %d, %v\n%s", code, err, out)
	}
	dst := filepath.Join(dir, "export.pfx")
	if err := os.WriteFile(dst, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "--data-dir", data, "cert", "export", entries[0].ID, "--format", "pfx", "--out", dst, "--password-file", pw); code != exitOK {
		t.Fatalf("export: exit %d\n%s%s", code, out, errOut)
	}
	st, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("exported PFX has mode %v, want 0600", st.Mode().Perm())
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := pkcs12.DecodeChain(got, "vendor-pfx-pw"); err != nil {
		t.Fatalf("exported PFX does not open with its password: %v", err)
	}
}

// vendorPFX writes what a vendor delivers as a PFX: a new vendor's leaf,
// key and chain under the password "vendor-pfx-pw", and a password file
// holding it with a line ending. Both are made here, in dir.
func vendorPFX(t *testing.T, dir string) (v *csrtest.Vendor, pfxFile, pwFile string) {
	t.Helper()
	v = csrtest.NewVendor(csrtest.VendorOptions{})
	leaf, key := v.Issue(csrtest.LeafOptions{})
	pfx, err := pkcs12.Modern.Encode(key, leaf, []*x509.Certificate{v.Intermediate, v.Root}, "vendor-pfx-pw")
	if err != nil {
		t.Fatal(err)
	}
	return v, writeFile(t, dir, "rcs.pfx", pfx), writeFile(t, dir, "pw", []byte("vendor-pfx-pw\n"))
}
