package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readBundle parses a PEM bundle and checks its order: a self-signed root
// first, then each certificate signed by the one before it.
func readBundle(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			t.Fatalf("bundle holds a %q block, want certificates only", blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) < 2 {
		t.Fatalf("bundle has %d certificates, want root and intermediate", len(certs))
	}
	if !certs[0].IsCA || certs[0].CheckSignatureFrom(certs[0]) != nil {
		t.Fatalf("bundle starts with %q, which is not a self-signed root", certs[0].Subject.CommonName)
	}
	for i := 1; i < len(certs); i++ {
		if err := certs[i].CheckSignatureFrom(certs[i-1]); err != nil || !certs[i].IsCA {
			t.Fatalf("bundle[%d] %q is not a CA signed by bundle[%d] %q: %v", i, certs[i].Subject.CommonName, i-1, certs[i-1].Subject.CommonName, err)
		}
	}
	return certs
}

func TestPKIBundle(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ca.pem")
	code, stdout, stderr := runCLI(t, "pki", "bundle", "--data-dir", dir, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	first := readBundle(t, out)
	for _, want := range []string{"created a new embedded CA", "wrote " + out + ": 2 certificates, root first (embedded CA)", first[0].Subject.CommonName, first[1].Subject.CommonName} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.db")); err != nil {
		t.Errorf("the embedded CA's database is not in the data directory: %v", err)
	}

	// Again, as JSON: the same CA, not a new one.
	out2 := filepath.Join(dir, "again.pem")
	code, stdout, stderr = runCLI(t, "pki", "bundle", "--data-dir", dir, "--out", out2, "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var rep pkiBundleReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, stdout)
	}
	second := readBundle(t, out2)
	if rep.Created || rep.Mode != "embedded" || len(rep.Certificates) != 2 || rep.Certificates[0].Role != "root" || rep.Certificates[1].Role != "intermediate" {
		t.Errorf("report %+v", rep)
	}
	if !second[0].Equal(first[0]) || !second[1].Equal(first[1]) {
		t.Error("second bundle differs from the first: the CA was not reused")
	}
	if rep.Certificates[0].Subject != first[0].Subject.CommonName || !rep.Certificates[1].NotAfter.Equal(first[1].NotAfter) {
		t.Errorf("JSON describes other certificates than the bundle: %+v", rep.Certificates)
	}
	if strings.Contains(stdout, "PRIVATE") {
		t.Error("report mentions a private key")
	}
	if st, err := os.Stat(out2); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("bundle file mode %v (%v), want 0644: it is public", st.Mode().Perm(), err)
	}
}

func TestPKIBundleRefusals(t *testing.T) {
	dir := t.TempDir()
	// An external CA that is not there: refused with the config's fix.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("secret-password\n"), 0o600)
	ext := filepath.Join(dir, "ext.hcl")
	os.WriteFile(ext, []byte(`ca {
  mode = "external"
  url = "https://127.0.0.1:`+strconv.Itoa(port)+`"
  jwk_password_file = "`+pw+`"
  root_fingerprint = "`+strings.Repeat("ab", 32)+`"
}
`), 0o600)
	broken := filepath.Join(dir, "broken.hcl")
	os.WriteFile(broken, []byte("ca {\n  mode = \"sideways\"\n}\n"), 0o600)

	tests := map[string]struct {
		args []string
		want string
	}{
		"no --out":        {[]string{"pki", "bundle", "--data-dir", dir}, "--out is missing"},
		"unwritable":      {[]string{"pki", "bundle", "--data-dir", dir, "--out", filepath.Join(dir, "no", "such", "dir", "ca.pem")}, "give a writable path"},
		"external absent": {[]string{"pki", "bundle", "--config", ext, "--data-dir", dir, "--out", filepath.Join(dir, "x.pem")}, "check ca.url"},
		"broken config":   {[]string{"pki", "bundle", "--config", broken, "--data-dir", dir, "--out", filepath.Join(dir, "x.pem")}, "has errors"},
		"extra argument":  {[]string{"pki", "bundle", "--data-dir", dir, "--out", filepath.Join(dir, "x.pem"), "extra"}, "unknown command"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d saying %q", code, stderr, exitUsage, tc.want)
			}
			if strings.Contains(stderr, "secret-password") {
				t.Error("stderr shows the provisioner password")
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "x.pem")); err == nil {
		t.Error("a refused run left a bundle file")
	}
}
