package main

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/csr/csrtest"
	"github.com/amtrcs/amtrcs/rcs"
)

// A PFX is imported into a running amtrcs serve through the CLI, listed,
// checked and renewed, without stopping the server; the password is in
// neither the answers nor the server's log.
func TestCertCommandsThroughRunningServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	f := newServeFixture(t)
	f.start()
	defer f.kill9()

	const password = "pfx-secret-Zq81"
	now := time.Now()
	leaf, key := f.vendor.Issue(csrtest.LeafOptions{CN: "rcs2." + killSuffix, NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(2, 0, 0)})
	pfx, err := pkcs12.Modern.Encode(key, leaf, []*x509.Certificate{f.vendor.Intermediate, f.vendor.Root}, password)
	if err != nil {
		t.Fatal(err)
	}
	pfxPath := filepath.Join(t.TempDir(), "rcs2.pfx")
	os.WriteFile(pfxPath, pfx, 0o600)
	pwPath := filepath.Join(t.TempDir(), "pfx.pass")
	os.WriteFile(pwPath, []byte(password+"\n"), 0o600)
	remote := []string{"--server", "https://" + f.api, "--token", f.token, "--ca", filepath.Join(f.dir, rcs.ServerCertFile)}
	hash := hex.EncodeToString(f.rootHash.Hash)

	// Without the custom hash the chain's root is unknown to AMT: refused,
	// with the rule, and exit 1.
	code, out, errOut := runCLI(t, append([]string{"cert", "import", pfxPath, "--password-file", pwPath}, remote...)...)
	if code != exitVerdict || !strings.Contains(errOut, "usable chain") || !strings.Contains(errOut, "fix:") {
		t.Fatalf("import without the trust hash: code %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, append([]string{"cert", "import", pfxPath, "--password-file", pwPath, "--trust-hash", hash, "--json"}, remote...)...)
	if code != 0 {
		t.Fatalf("import: code %d\n%s%s", code, out, errOut)
	}
	var imp struct {
		Cert csr.ProvisioningCert `json:"certificate"`
	}
	if err := json.Unmarshal([]byte(out), &imp); err != nil || imp.Cert.ID == "" {
		t.Fatalf("import answer %q: %v", out, err)
	}
	id := imp.Cert.ID

	code, out, errOut = runCLI(t, append([]string{"cert", "list"}, remote...)...)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "rcs2."+killSuffix) || !strings.Contains(out, f.certID) {
		t.Fatalf("list: code %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, append([]string{"cert", "check", id, "--trust-hash", hash, "--device-suffix", killSuffix}, remote...)...)
	if code != 0 || !strings.Contains(out, "Usable for every AMT version checked.") {
		t.Fatalf("check: code %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, append([]string{"cert", "renew", id}, remote...)...)
	if code != 0 || !strings.Contains(out, "BEGIN CERTIFICATE REQUEST") {
		t.Fatalf("renew: code %d\n%s%s", code, out, errOut)
	}
	// One pending renewal per certificate: the second names the rule.
	code, _, errOut = runCLI(t, append([]string{"cert", "renew", id}, remote...)...)
	if code != exitVerdict || !strings.Contains(errOut, "renew") || !strings.Contains(errOut, "fix:") {
		t.Fatalf("second renew: code %d\n%s", code, errOut)
	}
	code, _, errOut = runCLI(t, append([]string{"cert", "check", "nope"}, remote...)...)
	if code == 0 || !strings.Contains(errOut, "404") {
		t.Fatalf("check of an unknown id: code %d\n%s", code, errOut)
	}
	// A domain round-trips: shown, written back under a new name, listed,
	// deleted.
	code, out, errOut = runCLI(t, append([]string{"domain", "show", "corp"}, remote...)...)
	if code != 0 || !strings.Contains(out, f.certID) {
		t.Fatalf("domain show: code %d\n%s%s", code, out, errOut)
	}
	domainFile := filepath.Join(t.TempDir(), "lab.json")
	os.WriteFile(domainFile, []byte(strings.NewReplacer(`"corp"`, `"lab"`, `"`+killSuffix+`"`, `"lab.`+killSuffix+`"`).Replace(out)), 0o600)
	if code, out, errOut = runCLI(t, append([]string{"domain", "set", domainFile}, remote...)...); code != 0 {
		t.Fatalf("domain set: code %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut = runCLI(t, append([]string{"domain", "list"}, remote...)...); code != 0 || !strings.Contains(out, "lab") {
		t.Fatalf("domain list: code %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut = runCLI(t, append([]string{"domain", "delete", "lab"}, remote...)...); code != 0 {
		t.Fatalf("domain delete: code %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(f.logs.String(), password) {
		t.Fatal("the server log holds the PFX password")
	}
	var events []map[string]any
	f.get("/api/v1/audit", &events)
	b, _ := json.Marshal(events)
	if strings.Contains(string(b), password) || !strings.Contains(string(b), "api.cert.import") {
		t.Fatalf("audit: %s", b)
	}
}
