package main

import (
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/internal/softhsm"
	"github.com/amtrcs/amtrcs/store"
)

// hsmKEK makes a SoftHSM2 token and a PIN file, and returns the kek.kms URI
// of the pair object in it.
func hsmKEK(t *testing.T, object string) string {
	t.Helper()
	module := softhsm.Token(t)
	pin := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pin, []byte(softhsm.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return "pkcs11:module-path=" + module + ";token=" + softhsm.Label + ";object=" + object + "?pin-source=" + pin
}

func kekHCL(uri string) string { return fmt.Sprintf("kek {\n  kms = %q\n}\n", uri) }

// config check runs on kek.kms the check serve runs at start: before the
// pair exists it refuses at the kek line and says how to create it; kek
// init creates it; then config check passes and names the pair's key id.
func TestConfigCheckKEKInHSM(t *testing.T) {
	uri := hsmKEK(t, "amtrcs-kek")
	p := writeConfig(t, kekHCL(uri))

	code, out, errOut := runCLI(t, "config", "check", p)
	if code != exitUsage || !strings.Contains(out, "KEK unavailable: KEK key pair") || !strings.Contains(out, "amtrcs kek init") ||
		!strings.Contains(out, "on "+p+" line 2") || !strings.Contains(errOut, "1 error(s)") {
		t.Fatalf("config check before kek init: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut = runCLI(t, "kek", "init", "--config", p)
	if code != exitOK {
		t.Fatalf("kek init: exit %d\n%s%s", code, out, errOut)
	}
	keyID := regexp.MustCompile(`sha256:[0-9a-f]{64}`).FindString(out)
	if keyID == "" || !strings.Contains(out, "object=amtrcs-kek") || strings.Contains(out, softhsm.PIN) {
		t.Fatalf("kek init output lacks the pair and its key id, or shows the PIN:\n%s", out)
	}
	if code, out, errOut := runCLI(t, "kek", "init", "--kms", uri); code != exitUsage || !strings.Contains(errOut, "already holds key pair") || !strings.Contains(errOut, keyID) {
		t.Errorf("kek init twice: exit %d, want %d and a refusal naming the pair\n%s%s", code, exitUsage, out, errOut)
	}

	code, out, errOut = runCLI(t, "config", "check", p)
	if code != exitOK || !strings.Contains(out, "kek: kms pkcs11 (token reached, key pair "+keyID+")") {
		t.Fatalf("config check after kek init: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "config", "check", "--json", p)
	if code != exitOK || !strings.Contains(out, `"kek_key_id": "`+keyID+`"`) {
		t.Fatalf("config check --json: exit %d\n%s", code, out)
	}

	bad := map[string]struct {
		uri  string
		want string
	}{
		"missing module":  {strings.Replace(uri, "module-path=", "module-path=/nonexistent", 1), "KEK PKCS#11 module"},
		"wrong token":     {strings.Replace(uri, "token=amtrcs", "token=elsewhere", 1), "KEK PKCS#11 token"},
		"missing pair":    {strings.Replace(uri, "object=amtrcs-kek", "object=nope", 1), "KEK key pair"},
		"unbuilt type":    {"awskms:key-id=abc", "KEK KMS type"},
		"wrong PIN value": {strings.Replace(uri, "?pin-source=", "?pin-value=wrong-user-pin&x=", 1), "KEK PKCS#11 PIN"},
	}
	// A data directory with a store (made with a plain key): read-only
	// commands refuse a directory without one before they read the KEK.
	withStore := t.TempDir()
	if st, err := store.Open(filepath.Join(withStore, storeFile), store.Options{KEK: store.KEKSource{Key: make([]byte, 32)}}); err != nil {
		t.Fatal(err)
	} else {
		st.Close()
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			p := writeConfig(t, kekHCL(tc.uri))
			code, out, errOut := runCLI(t, "config", "check", p)
			if code != exitUsage || !strings.Contains(out, "KEK unavailable: "+tc.want) || !strings.Contains(out, "fix:") {
				t.Errorf("exit %d, want %d and %q\n%s%s", code, exitUsage, tc.want, out, errOut)
			}
			// The snippet shows the file's own line (as for every
			// diagnostic); no message repeats the PIN.
			if n := strings.Count(out+errOut, "user-pin"); n > 1 || (n == 1 && !strings.Contains(out, `2:   kms = "pkcs11:`)) {
				t.Errorf("output shows the PIN outside the file's own line:\n%s", out)
			}
			// Every store-opening command refuses the same way.
			code, out, errOut = runCLI(t, "--config", p, "--data-dir", withStore, "report", "health")
			if code == exitOK || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("report with this kek: exit %d, want a refusal naming %q\n%s%s", code, tc.want, out, errOut)
			}
		})
	}
}

// amtrcs serve starts on a store whose data key the HSM's pair wraps, and
// the store it made opens with that pair alone. Then a serve naming another
// pair of the token is refused, saying which pair the store wants.
func TestServeKEKInHSM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	uri := hsmKEK(t, "amtrcs-kek")
	_, keyID, err := store.CreateKMSKEK(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	f := &serveFixture{t: t, dir: t.TempDir(), extraHCL: kekHCL(uri)}
	f.cfgPath = filepath.Join(f.dir, "amtrcs.hcl")
	idCA, err := amtsim.DefaultIdentityCA()
	if err != nil {
		t.Fatal(err)
	}
	f.idRoot = filepath.Join(f.dir, "sim-identity-root.pem")
	if err := os.WriteFile(f.idRoot, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idCA.Cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	f.choosePorts()
	f.start()
	f.kill9()
	if _, err := os.Stat(filepath.Join(f.dir, store.DefaultKEKFile)); !os.IsNotExist(err) {
		t.Errorf("serve under kek.kms made a KEK file: %v", err)
	}
	st, err := store.Open(filepath.Join(f.dir, storeFile), store.Options{KEK: store.KEKSource{KMS: uri}})
	if err != nil {
		t.Fatalf("the store serve made does not open with the HSM pair: %v", err)
	}
	st.Close()

	other := strings.Replace(uri, "object=amtrcs-kek", "object=other-kek", 1)
	if _, _, err := store.CreateKMSKEK(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	f.extraHCL = kekHCL(other)
	f.choosePorts()
	code, out, errOut := runCLI(t, "serve", "--config", f.cfgPath)
	if code != exitUsage || !strings.Contains(errOut, "KEK key pair of the store") || !strings.Contains(errOut, keyID) {
		t.Fatalf("serve with another pair: exit %d, want %d and a refusal naming key id %s\n%s%s", code, exitUsage, keyID, out, errOut)
	}
}

// kek { env = NAME }: every store-opening command reads the KEK from the
// variable, creates no KEK file, and refuses, naming the variable, when
// it is unset or holds another key.
func TestKEKFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, "kek {\n  env = \"AMTRCS_TEST_KEK\"\n}\n")
	t.Setenv("AMTRCS_TEST_KEK", strings.Repeat("ab", 32))
	// csr new creates the store; report health reopens it.
	for i, args := range [][]string{{"csr", "new", "--cn", "rcs.corp.example.com", "--out", filepath.Join(dir, "rcs.csr")}, {"report", "health"}} {
		if code, out, errOut := runCLI(t, append([]string{"--config", p, "--data-dir", dir}, args...)...); code != exitOK && code != exitVerdict {
			t.Fatalf("run %d: exit %d\n%s%s", i, code, out, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, store.DefaultKEKFile)); !os.IsNotExist(err) {
		t.Errorf("a KEK file was made though kek.env is set: %v", err)
	}
	t.Setenv("AMTRCS_TEST_KEK", strings.Repeat("cd", 32))
	if code, _, errOut := runCLI(t, "--config", p, "--data-dir", dir, "report", "health"); code != exitUsage || !strings.Contains(errOut, "environment variable AMTRCS_TEST_KEK does not open store") {
		t.Errorf("another key in the variable: exit %d\n%s", code, errOut)
	}
	os.Unsetenv("AMTRCS_TEST_KEK")
	if code, _, errOut := runCLI(t, "--config", p, "--data-dir", dir, "cert", "list"); code != exitUsage || !strings.Contains(errOut, "AMTRCS_TEST_KEK is not set") {
		t.Errorf("variable unset: exit %d\n%s", code, errOut)
	}
}
