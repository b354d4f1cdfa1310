package main

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/csr/csrtest"
	"github.com/amtrcs/amtrcs/rcs"
)

// remoteArgs are the flags that make a CLI command talk to the fixture's
// running server.
func (f *serveFixture) remoteArgs() []string {
	return []string{"--server", "https://" + f.api, "--token", f.token, "--ca", filepath.Join(f.dir, rcs.ServerCertFile)}
}

// cli runs a command against the running server and fails the test unless
// it exits with want.
func (f *serveFixture) cli(want int, args ...string) (string, string) {
	f.t.Helper()
	code, out, errOut := runCLI(f.t, append(args, f.remoteArgs()...)...)
	if code != want {
		f.t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, out, errOut)
	}
	return out, errOut
}

// TestActivateWithCertImportedThroughAPI: a provisioning certificate that
// reaches the server only through `cert import --server` (PFX), put in a
// domain with `domain set`, activates simulated AMT 16 and AMT 19 devices
// of that domain end to end, to ACM.
func TestActivateWithCertImportedThroughAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	f := newServeFixture(t)
	f.start()
	defer f.kill9()

	const suffix = "api.example.net"
	vendor := csrtest.NewVendor(csrtest.VendorOptions{Name: "API Import"})
	now := time.Now()
	leaf, key := vendor.Issue(csrtest.LeafOptions{CN: "rcs." + suffix, NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(1, 0, 0)})
	pfx, err := pkcs12.Modern.Encode(key, leaf, []*x509.Certificate{vendor.Intermediate, vendor.Root}, "pfx-pw")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	pfxPath, pwPath := filepath.Join(tmp, "rcs.pfx"), filepath.Join(tmp, "pfx.pass")
	os.WriteFile(pfxPath, pfx, 0o600)
	os.WriteFile(pwPath, []byte("pfx-pw\n"), 0o600)
	root := amt.RootHash{Name: "API Import Root", Algorithm: amt.HashSHA256, Hash: amt.HashSHA256.Sum(vendor.Root.Raw), Active: true}

	out, _ := f.cli(exitOK, "cert", "import", pfxPath, "--password-file", pwPath, "--trust-hash", hex.EncodeToString(root.Hash), "--device-suffix", suffix, "--json")
	var imp struct {
		Cert csr.ProvisioningCert `json:"certificate"`
	}
	if err := json.Unmarshal([]byte(out), &imp); err != nil || imp.Cert.ID == "" {
		t.Fatalf("import answer %q: %v", out, err)
	}
	domain, _ := json.Marshal(rcs.Domain{Name: "api", Suffixes: []string{suffix}, CertID: imp.Cert.ID, Profile: "default"})
	domainFile := filepath.Join(tmp, "api.json")
	os.WriteFile(domainFile, domain, 0o600)
	f.cli(exitOK, "domain", "set", domainFile)

	// The devices hold only the new vendor's root as a custom hash, not the
	// root of the certificate the fixture put in the store: reaching ACM
	// proves the certificate imported through the API was the one used.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var devs []*amtsim.Device
	for i, version := range []string{"16.1.27", "19.0.5"} {
		v, _ := amt.ParseVersion(version)
		sd, err := amtsim.New(amtsim.Config{Version: v, DHCPSuffix: suffix, OSHostname: fmt.Sprintf("pc%d", i), Identity: f.idCA,
			CustomHashes: []amtsim.CustomHash{{Name: root.Name, Algorithm: amt.HashSHA256, Hash: root.Hash}}})
		if err != nil {
			t.Fatal(err)
		}
		devs = append(devs, sd)
		ag, err := agent.New(agent.Options{Server: "https://" + f.gw, EnrollToken: f.enrollToken(), Hostname: fmt.Sprintf("pc%d", i),
			Backend: agent.OnDevice(fmt.Sprintf("pc%d", i), sd), TLS: f.tlsCfg, MinBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); ag.Run(ctx) }()
	}
	deadline := time.Now().Add(3 * time.Minute)
	for _, sd := range devs {
		for {
			if st, mode := sd.State(); st == amt.PostProvisioning && mode == amt.ControlACM {
				break
			}
			if time.Now().After(deadline) {
				st, mode := sd.State()
				t.Fatalf("AMT %s: %s %s after 3 minutes, want post-provisioning in ACM:\n%s", sd.Version(), st, mode, f.logs)
			}
			time.Sleep(100 * time.Millisecond)
		}
		var pw rcs.DevicePassword
		if code := f.get("/api/v1/devices/"+sd.ID().String()+"/password", &pw); code != 200 {
			t.Fatalf("AMT %s: no stored password (%d)", sd.Version(), code)
		}
		if err := passwordOpens(sd, pw.Password); err != nil {
			t.Fatalf("AMT %s: the stored password does not open it: %v", sd.Version(), err)
		}
	}
}

// TestProfileRoundTripThroughServer: what `profile set` sends is what
// `profile show` gives back, list names it, delete removes it, and a bad
// profile is refused with the rule, what was seen, what was wanted and
// the fix (exit 1: the server's verdict).
func TestProfileRoundTripThroughServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	f := newServeFixture(t)
	f.start()
	defer f.kill9()
	tmp := t.TempDir()

	out, _ := f.cli(exitOK, "profile", "show", "default")
	var prof map[string]any
	if err := json.Unmarshal([]byte(out), &prof); err != nil {
		t.Fatalf("profile show: %v\n%s", err, out)
	}
	prof["name"] = "lab"
	prof["mode"] = "ccm"
	prof["user_consent"] = "all"
	setFile := filepath.Join(tmp, "lab.json")
	b, _ := json.Marshal(prof)
	os.WriteFile(setFile, b, 0o600)
	out, _ = f.cli(exitOK, "profile", "set", setFile)
	if !strings.Contains(out, "profile lab set") {
		t.Fatalf("profile set: %s", out)
	}
	out, _ = f.cli(exitOK, "profile", "show", "lab")
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	for k, v := range prof {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("profile show lab: %s = %v, set %v", k, got[k], v)
		}
	}
	out, _ = f.cli(exitOK, "profile", "list")
	if !strings.Contains(out, "lab\n") || !strings.Contains(out, "default\n") {
		t.Fatalf("profile list: %q", out)
	}
	f.cli(exitOK, "profile", "delete", "lab")
	out, _ = f.cli(exitOK, "profile", "list")
	if strings.Contains(out, "lab\n") {
		t.Fatalf("profile list after delete: %q", out)
	}
	_, errOut := f.cli(exitVerdict, "profile", "show", "lab")
	if !strings.Contains(errOut, "404") {
		t.Fatalf("show of a deleted profile: %s", errOut)
	}

	// A bad profile: refused with rule, seen, want and fix, and not stored.
	prof["name"] = "broken"
	prof["mode"] = "turbo"
	b, _ = json.Marshal(prof)
	os.WriteFile(setFile, b, 0o600)
	_, errOut = f.cli(exitVerdict, "profile", "set", setFile)
	for _, w := range []string{"turbo", "acm", "ccm", "fix:"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("refusal of mode turbo %q does not say %q", errOut, w)
		}
	}
	var body rcs.APIError
	if code := f.get("/api/v1/profiles/broken", &body); code != 404 {
		t.Errorf("the refused profile was stored (GET %d)", code)
	}
}

// TestDeliveryMatchedToCSRThroughAPI: a key and CSR made with `csr new`,
// the vendor's certificate sent back without its key (.cer, DER, and the
// chain as .p7b), imported through the running server: the pending CSR is
// consumed and the certificate is listed, active, with the CSR's key.
func TestDeliveryMatchedToCSRThroughAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	f := newServeFixture(t)
	tmp := t.TempDir()
	csrPath := filepath.Join(tmp, "rcs.csr")
	f.start()
	defer func() {
		if f.cmd.ProcessState == nil {
			f.kill9()
		}
	}()
	// Made through the running server, which seals the key in its store.
	var code int
	var errOut string
	out, _ := f.cli(exitOK, "csr", "new", "--cn", "rcs3."+killSuffix, "--device-suffix", killSuffix, "--out", csrPath)
	if !strings.Contains(out, "csr delete --server") {
		t.Errorf("csr new --server: the next steps do not name --server:\n%s", out)
	}
	// One made in error is deleted, key and all, through the server too.
	out, _ = f.cli(exitOK, "--json", "csr", "new", "--cn", "rcs-typo."+killSuffix)
	var typo csr.CSRRecord
	if err := json.Unmarshal([]byte(out), &typo); err != nil || typo.ID == "" {
		t.Fatalf("csr new --json: %v\n%s", err, out)
	}
	f.cli(exitOK, "csr", "delete", typo.ID)
	out, _ = f.cli(exitOK, "csr", "list", "--json")
	var recs []csr.CSRRecord
	if json.Unmarshal([]byte(out), &recs) != nil || len(recs) != 1 || recs[0].Subject.CommonName != "rcs3."+killSuffix {
		t.Fatalf("csr list --server after a delete: %s, want the one CSR for rcs3", out)
	}
	pending := recs[0]

	pemCSR, err := os.ReadFile(csrPath)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	leaf, err := f.vendor.IssueCSR(pemCSR, csrtest.LeafOptions{NotBefore: now.AddDate(0, 0, -1), NotAfter: now.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	p7b, err := pkcs7.DegenerateCertificate(append(append([]byte{}, f.vendor.Intermediate.Raw...), f.vendor.Root.Raw...))
	if err != nil {
		t.Fatal(err)
	}
	cerPath, p7bPath := filepath.Join(tmp, "rcs3.cer"), filepath.Join(tmp, "chain.p7b")
	os.WriteFile(cerPath, leaf.Raw, 0o644)
	os.WriteFile(p7bPath, p7b, 0o644)

	out, _ = f.cli(exitOK, "cert", "import", cerPath, p7bPath, "--trust-hash", hex.EncodeToString(f.rootHash.Hash), "--device-suffix", killSuffix)
	if !strings.Contains(out, "imported "+pending.ID) || !strings.Contains(out, "key: CSR "+pending.ID+" (now issued)") {
		t.Fatalf("import did not match the pending CSR %s:\n%s", pending.ID, out)
	}
	out, _ = f.cli(exitOK, "cert", "list", "--json")
	var entries []csr.Entry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("cert list: %v\n%s", err, out)
	}
	found := false
	for _, e := range entries {
		if e.ID != pending.ID {
			continue
		}
		if e.Status == csr.StatusPendingCSR {
			t.Errorf("CSR %s still listed as pending after its certificate was imported", e.ID)
			continue
		}
		found = true
		if e.CommonName != "rcs3."+killSuffix || e.Status != csr.StatusActive {
			t.Errorf("listed %+v, want rcs3.%s active", e, killSuffix)
		}
	}
	if !found {
		t.Fatalf("the imported certificate %s is not listed: %s", pending.ID, out)
	}
	// A second import of the same delivery finds no pending CSR left.
	_, errOut = f.cli(exitVerdict, "cert", "import", cerPath, p7bPath, "--trust-hash", hex.EncodeToString(f.rootHash.Hash))
	if !strings.Contains(errOut, "already") {
		t.Errorf("second import: %s", errOut)
	}

	// Its key is the certificate's now: deleting the CSR is refused.
	_, errOut = f.cli(exitVerdict, "csr", "delete", pending.ID)
	if !strings.Contains(errOut, csr.RuleCSRPending) {
		t.Errorf("csr delete of an issued CSR: %s, want the rule %q", errOut, csr.RuleCSRPending)
	}

	// Server stopped: the store says the CSR was consumed, and the
	// certificate exports with the key csr new made for it.
	f.kill9()
	code, out, _ = runCLI(t, "--data-dir", f.dir, "csr", "show", pending.ID, "--json")
	var after csr.CSRRecord
	if code != exitOK || json.Unmarshal([]byte(out), &after) != nil || after.Status != csr.CSRIssued || after.IssuedAs != pending.ID {
		t.Fatalf("CSR after import: exit %d, %s", code, out)
	}
	pwPath, pfxPath := filepath.Join(tmp, "out.pass"), filepath.Join(tmp, "out.pfx")
	os.WriteFile(pwPath, []byte("export-pw\n"), 0o600)
	if code, _, errOut := runCLI(t, "--data-dir", f.dir, "cert", "export", pending.ID, "--format", "pfx", "--out", pfxPath, "--password-file", pwPath); code != exitOK {
		t.Fatalf("cert export: exit %d, %s", code, errOut)
	}
	b, _ := os.ReadFile(pfxPath)
	key, exported, _, err := pkcs12.DecodeChain(b, "export-pw")
	if err != nil {
		t.Fatal(err)
	}
	if !exported.Equal(leaf) || !key.(*rsa.PrivateKey).PublicKey.Equal(leaf.PublicKey) {
		t.Fatal("the exported PFX does not pair the delivered certificate with the key of its CSR")
	}
}

// TestServePrintsDashboard: serve says where its dashboard is, and the
// address it gives answers with the login page.
func TestServePrintsDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	f := newServeFixture(t)
	f.start()
	defer f.kill9()
	want := "dashboard https://" + f.api + "/ui/"
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(f.logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("serve never printed %q:\n%s", want, f.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := f.client.Get("https://" + f.api + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "token") {
		t.Fatalf("GET /ui/: %d %s, want the login page:\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
