// Package softhsm gives tests a fresh SoftHSM2 token of their own, for the
// key-encryption key in an HSM. It is for tests only: it never touches the
// system's token directory.
package softhsm

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Token label, user PIN and security officer PIN of the token Token makes.
const (
	Label = "amtrcs"
	PIN   = "hsm-user-pin"
	SOPIN = "hsm-so-pin"
)

// modules are where Debian and others put SoftHSM2's PKCS#11 module.
var modules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// Module is the path of SoftHSM2's module, or "" when it is not installed.
func Module() string {
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return ""
	}
	for _, m := range modules {
		if _, err := os.Stat(m); err == nil {
			return m
		}
	}
	return ""
}

// Token initialises a token labelled Label in a token directory under
// t.TempDir(), points SOFTHSM2_CONF at it for the rest of the test, and
// returns the module's path. Without SoftHSM2 the test fails under CI=true
// and is skipped elsewhere. Tests that use it cannot run in parallel:
// SoftHSM2 reads SOFTHSM2_CONF when the module is first loaded.
func Token(t testing.TB) (module string) {
	t.Helper()
	module = Module()
	if module == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SoftHSM2 is missing (softhsm2-util and libsofthsm2.so): install Debian's softhsm2: apt-get install -y softhsm2")
		}
		t.Skip("install Debian's softhsm2: apt-get install -y softhsm2")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", Label, "--pin", PIN, "--so-pin", SOPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return module
}

// URI is a kek.kms URI for the key pair object in the token Token made,
// with the PIN given by pin-value.
func URI(module, object string) string {
	return "pkcs11:module-path=" + module + ";token=" + Label + ";object=" + object + "?pin-value=" + PIN
}
