package main

import (
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/csr/csrtest"
)

func TestCSRNew(t *testing.T) {
	data := t.TempDir()
	cases := map[string]struct {
		args   []string
		code   int
		stderr string
		cn     string
	}{
		"name by the planner": {[]string{"--host", "rcs", "--device-suffix", "corp.example.com", "--device-suffix", "eu.example.com"}, exitOK, "", "rcs.example.com"},
		"explicit name":       {[]string{"--cn", "rcs.corp.example.com", "--device-suffix", "corp.example.com", "--country", "de", "--key", "rsa3072"}, exitOK, "", "rcs.corp.example.com"},
		"name misses a suffix": {[]string{"--cn", "rcs.corp.example.com", "--device-suffix", "branch.example.net"}, exitVerdict,
			"amtrcs: domain suffix: CN rcs.corp.example.com cannot configure devices in branch.example.net: AMT 7.0 cuts it to example.com (.com keeps 2 labels), and branch.example.net is not under example.com; want a certificate name that covers the device suffix branch.example.net; fix: buy a certificate for a name under example.net, or set the MEBx PKI DNS suffix to corp.example.com\n", ""},
		"suffixes need two names": {[]string{"--host", "rcs", "--device-suffix", "corp.example.com", "--device-suffix", "branch.example.net"}, exitVerdict,
			"amtrcs: the suffixes need 2 certificates: rcs.example.com (covers corp.example.com); rcs.example.net (covers branch.example.net); fix: make one CSR per name, each with --cn NAME and the --device-suffix values it covers\n", ""},
		"ECDSA": {[]string{"--cn", "rcs.corp.example.com", "--key", "ecdsa"}, exitUsage,
			"amtrcs: key type: ecdsa (elliptic curve); want rsa2048, rsa3072 or rsa4096; fix: AMT firmware accepts only RSA provisioning certificates: use --key rsa2048\n", ""},
		"three-letter country": {[]string{"--cn", "rcs.corp.example.com", "--country", "USA"}, exitUsage,
			"amtrcs: country: \"USA\"; want a two-letter ISO 3166 code such as US or DE; fix: give --country with two letters\n", ""},
		"no name":          {[]string{"--org", "x"}, exitUsage, "", ""},
		"both cn and host": {[]string{"--cn", "a.example.com", "--host", "rcs", "--device-suffix", "example.com"}, exitUsage, "", ""},
	}
	// The store is created first, so that its notice about the new KEK file
	// does not land in the stderr of whichever case runs first.
	newStore(t, data)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"--data-dir", data, "csr", "new"}, tc.args...)
			code, out, errOut := runCLI(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, errOut)
			}
			if tc.stderr != "" && errOut != tc.stderr {
				t.Fatalf("stderr:\n got %q\nwant %q", errOut, tc.stderr)
			}
			if tc.cn == "" {
				return
			}
			b, _ := pem.Decode([]byte(out))
			if b == nil || b.Type != "CERTIFICATE REQUEST" || !strings.Contains(errOut, "for "+tc.cn+" (PEM on stdout)") {
				t.Fatalf("stdout %q stderr %q", out, errOut)
			}
		})
	}
	code, out, _ := runCLI(t, "--data-dir", data, "csr", "list", "--json")
	var recs []csr.CSRRecord
	if err := json.Unmarshal([]byte(out), &recs); err != nil || code != exitOK || len(recs) != 2 {
		t.Fatalf("csr list: exit %d, %v, %s", code, err, out)
	}
	var explicit string
	for _, r := range recs {
		if r.KeyType == csr.RSA3072 {
			explicit = r.ID
		}
	}
	code, out, _ = runCLI(t, "--data-dir", data, "csr", "show", explicit)
	if code != exitOK || !strings.Contains(out, "subject:  CN=rcs.corp.example.com,C=DE") || !strings.Contains(out, "key:      rsa3072") {
		t.Fatalf("csr show: exit %d\n%s", code, out)
	}
	if code, _, _ := runCLI(t, "--data-dir", data, "csr", "show", "nosuchid"); code != exitUsage {
		t.Fatalf("csr show of an unknown id: exit %d", code)
	}
}

// The whole journey through the CLI: CSR, delivery, import, list, export,
// renew, and the successor superseding the first certificate.
func TestCertJourney(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cli := func(args ...string) (int, string, string) {
		return runCLI(t, append([]string{"--data-dir", data}, args...)...)
	}
	v := csrtest.NewVendor(csrtest.VendorOptions{})
	trust := []string{"--trust-hash", rootHash(v.Root)}

	csrFile := filepath.Join(dir, "rcs.csr")
	if code, out, errOut := cli("csr", "new", "--cn", "rcs.corp.example.com", "--org", "Example Corp", "--out", csrFile); code != exitOK {
		t.Fatalf("csr new: %d %s %s", code, out, errOut)
	}
	csrPEM, _ := os.ReadFile(csrFile)
	leaf, err := v.IssueCSR(csrPEM, csrtest.LeafOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leafFile := writeFile(t, dir, "rcs.cer", leaf.Raw)
	chainFile := writeFile(t, dir, "chain.pem", csrtest.PEM(v.Root, v.Intermediate))

	// Not trusted without the custom hash: refused with the reasons.
	code, _, errOut := cli("cert", "import", leafFile, chainFile, "--amt-version", "16")
	if code != exitVerdict || !strings.HasPrefix(errOut, "amtrcs: import refused: no AMT version can use this chain (--force stores it anyway):\n  root trusted by AMT: root \"Test Vendor Root CA\"") {
		t.Fatalf("untrusted import: %d %q", code, errOut)
	}
	// A leaf alone names the missing intermediate.
	code, _, errOut = cli(append([]string{"cert", "import", leafFile}, trust...)...)
	if code != exitVerdict || !strings.Contains(errOut, `chain complete: the issuer of leaf "rcs.corp.example.com", "Test Vendor AMT Issuing CA", is missing`) {
		t.Fatalf("leaf alone: %d %q", code, errOut)
	}
	// A certificate for a key this store never made.
	stranger, _ := v.Issue(csrtest.LeafOptions{CN: "other.corp.example.com"})
	code, _, errOut = cli(append([]string{"cert", "import", writeFile(t, dir, "other.crt", csrtest.PEM(stranger)), chainFile}, trust...)...)
	if code != exitVerdict || !strings.Contains(errOut, `private key: the public key of "other.corp.example.com" matches no pending CSR of this store`) {
		t.Fatalf("stranger: %d %q", code, errOut)
	}

	code, out, errOut := cli(append([]string{"cert", "import", chainFile, leafFile}, trust...)...)
	if code != exitOK || !strings.Contains(out, "rcs.corp.example.com, root Test Vendor Root CA (custom hash), not after 2026-12-15T12:00:00Z, 3 certificates") {
		t.Fatalf("import: %d %s %s", code, out, errOut)
	}
	id := strings.TrimSuffix(strings.Fields(out)[1], ":")

	code, out, _ = cli("cert", "list")
	want := "ID        CN                    ROOT                               NOT AFTER   DAYS LEFT  STATUS\n" +
		id + "  rcs.corp.example.com  Test Vendor Root CA (custom hash)  2026-12-15  334        active\n"
	if code != exitOK || out != want {
		t.Fatalf("cert list:\n%s\nwant\n%s", out, want)
	}

	pw := writeFile(t, dir, "export.pw", []byte("export-pw-123\n"))
	for _, f := range []string{"pfx", "pem", "console-pem"} {
		outFile := filepath.Join(dir, "out."+f)
		if code, out, errOut := cli("cert", "export", id, "--format", f, "--out", outFile, "--password-file", pw); code != exitOK {
			t.Fatalf("export %s: %d %s %s", f, code, out, errOut)
		}
	}
	pfxData, _ := os.ReadFile(filepath.Join(dir, "out.pfx"))
	if _, l, cas, err := pkcs12.DecodeChain(pfxData, "export-pw-123"); err != nil || l.Subject.CommonName != "rcs.corp.example.com" || len(cas) != 2 {
		t.Fatalf("exported PFX: %v", err)
	}
	consolePEM, _ := os.ReadFile(filepath.Join(dir, "out.console-pem"))
	cs, err := csr.ParsePEMOrDER(consolePEM)
	if err != nil || len(cs) != 2 || cs[0].Subject.CommonName != "Test Vendor Root CA" || cs[1].Subject.CommonName != "Test Vendor AMT Issuing CA" {
		t.Fatalf("console PEM: %v", err)
	}
	if code, _, _ := cli("cert", "export", id, "--format", "der", "--out", filepath.Join(dir, "x")); code != exitUsage {
		t.Fatalf("unknown format: exit %d", code)
	}
	if code, _, errOut := cli("cert", "export", id, "--format", "pfx", "--out", filepath.Join(dir, "x")); code != exitUsage || !strings.Contains(errOut, "PFX password: none given") {
		t.Fatalf("PFX without password: exit %d %q", code, errOut)
	}

	renewFile := filepath.Join(dir, "renew.csr")
	if code, out, errOut := cli("cert", "renew", id, "--out", renewFile); code != exitOK {
		t.Fatalf("renew: %d %s %s", code, out, errOut)
	}
	code, out, _ = cli("cert", "list", "--json")
	var entries []csr.Entry
	if err := json.Unmarshal([]byte(out), &entries); err != nil || code != exitOK || len(entries) != 2 ||
		entries[0].Status != csr.StatusActive || entries[1].Status != csr.StatusPendingCSR || entries[1].Renews != id {
		t.Fatalf("list after renew: %s", out)
	}
	renewPEM, _ := os.ReadFile(renewFile)
	next, err := v.IssueCSR(renewPEM, csrtest.LeafOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cli(append([]string{"cert", "import", writeFile(t, dir, "next.pem", csrtest.PEM(next, v.Intermediate, v.Root))}, trust...)...); code != exitOK || !strings.Contains(out, "supersedes "+id) {
		t.Fatalf("import successor: %d %s %s", code, out, errOut)
	}
	code, out, _ = cli("cert", "list", "--json")
	entries = nil
	if err := json.Unmarshal([]byte(out), &entries); err != nil || code != exitOK || len(entries) != 2 {
		t.Fatalf("final list: %s", out)
	}
	statuses := map[string]string{}
	for _, e := range entries {
		statuses[e.ID] = e.Status
	}
	if statuses[id] != csr.StatusSuperseded || len(statuses) != 2 {
		t.Fatalf("statuses %v", statuses)
	}
}

// TestCSRNewSaysWhatItMade: csr new names the file, the key id and the
// next step, warns about a name no public CA issues, and a pending CSR
// made in error can be deleted with its key.
func TestCSRNewSaysWhatItMade(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	out := filepath.Join(dir, "rcs.csr")
	code, stdout, errOut := runCLI(t, "--data-dir", data, "csr", "new", "--cn", "rcs.corp.local", "--out", out)
	if code != exitOK {
		t.Fatalf("csr new: exit %d, stderr %q", code, errOut)
	}
	code, listOut, _ := runCLI(t, "--data-dir", data, "csr", "list", "--json")
	var recs []csr.CSRRecord
	if code != exitOK || json.Unmarshal([]byte(listOut), &recs) != nil || len(recs) != 1 {
		t.Fatalf("csr list: exit %d, %s", code, listOut)
	}
	rec := recs[0]
	for _, w := range []string{out, rec.ID, rec.KeyID, "amtrcs cert import", "amtrcs csr delete " + rec.ID, "warning: rcs.corp.local is under .local", "private CA", "MEBx PKI DNS suffix"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("csr new output does not say %q:\n%s", w, stdout)
		}
	}
	// A public name gets no warning.
	_, stdout2, _ := runCLI(t, "--data-dir", data, "csr", "new", "--cn", "rcs.corp.example.com", "--out", filepath.Join(dir, "2.csr"))
	if strings.Contains(stdout2, "warning") {
		t.Errorf("a name under .com got a warning:\n%s", stdout2)
	}

	code, stdout, errOut = runCLI(t, "--data-dir", data, "csr", "delete", rec.ID)
	if code != exitOK || !strings.Contains(stdout, "deleted CSR "+rec.ID) {
		t.Fatalf("csr delete: exit %d, %q %q", code, stdout, errOut)
	}
	_, listOut, _ = runCLI(t, "--data-dir", data, "csr", "list", "--json")
	if strings.Contains(listOut, rec.ID) {
		t.Errorf("the deleted CSR is still listed: %s", listOut)
	}
	code, _, errOut = runCLI(t, "--data-dir", data, "csr", "delete", rec.ID)
	if code != exitUsage || !strings.Contains(errOut, "csr list") {
		t.Errorf("delete again: exit %d, stderr %q; want 2 and the list hint", code, errOut)
	}
}
