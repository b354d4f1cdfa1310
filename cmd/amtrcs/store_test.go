package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

// TestServeRefusesALostStore: a data directory that had a store (its KEK
// and admin token are there) but whose amtrcs.db is now empty, missing or
// cut short must not start with a new, empty fleet and a new admin token.
func TestServeRefusesALostStore(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		damage func(t *testing.T, db string)
		want   []string
	}{
		"0 bytes": {func(t *testing.T, db string) { os.Truncate(db, 0) }, []string{"0 bytes", "restore amtrcs.db from a backup"}},
		"missing": {func(t *testing.T, db string) { os.Remove(db) }, []string{"does not exist", rcs.AdminTokenFile, "restore amtrcs.db from a backup"}},
		"cut in half": {func(t *testing.T, db string) {
			st, _ := os.Stat(db)
			os.Truncate(db, st.Size()/2)
		}, []string{"pages are in use", "restore amtrcs.db from a backup"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			st, err := store.Open(filepath.Join(dir, storeFile), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 200 {
				if err := st.Put(store.Devices, strings.Repeat("d", 100)+string(rune('a'+i%26))+strings.Repeat("x", i), map[string]int{"i": i}); err != nil {
					t.Fatal(err)
				}
			}
			st.Close()
			token := filepath.Join(dir, rcs.AdminTokenFile)
			if err := os.WriteFile(token, []byte("the first admin token\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(dir, storeFile)
			tc.damage(t, db)
			before, _ := os.ReadFile(db)

			code, _, errOut := runCLI(t, "serve", "--data-dir", dir)
			if code != 2 {
				t.Fatalf("serve on a lost store: exit %d, stderr %q; want 2", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not say %q", errOut, w)
				}
			}
			if b, _ := os.ReadFile(token); string(b) != "the first admin token\n" {
				t.Errorf("admin token file replaced: %q", b)
			}
			if after, _ := os.ReadFile(db); string(after) != string(before) {
				t.Errorf("serve changed %s", storeFile)
			}
		})
	}
}

// TestReadOnlyCommandsRefuseAMissingStore: a command that only reads must
// not create a store and a KEK where there is none, and must say where it
// looked and how to point it at the right place.
func TestReadOnlyCommandsRefuseAMissingStore(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"cert", "list"}, {"cert", "export", "abc", "--format", "pem", "--out", "x.pem"},
		{"csr", "list"}, {"csr", "show", "abc"}, {"report", "health"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "nothing-here")
			code, _, errOut := runCLI(t, append(args, "--data-dir", dir)...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", code, exitUsage, errOut)
			}
			for _, w := range []string{"no store", filepath.Join(dir, storeFile), "--data-dir", "--config", "amtrcs serve", "amtrcs demo"} {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not say %q", errOut, w)
				}
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				entries, _ := os.ReadDir(dir)
				t.Errorf("the command left %v in %s (want nothing: no store, no KEK)", entries, dir)
			}
		})
	}
}

// TestConfigDataDirIsHonoured: with --config naming a data_dir and no
// --data-dir, the store commands work in the config's directory, never in
// ./amtrcs-data; --data-dir on the command line still wins.
func TestConfigDataDirIsHonoured(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	srvDir := filepath.Join(tmp, "srv-data")
	cfgPath := filepath.Join(tmp, "srv.hcl")
	if err := os.WriteFile(cfgPath, []byte("data_dir = \""+filepath.ToSlash(srvDir)+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// csr new creates the store where the config says.
	code, _, errOut := runCLI(t, "--config", cfgPath, "csr", "new", "--cn", "rcs.corp.example.com", "--out", filepath.Join(tmp, "rcs.csr"))
	if code != 0 {
		t.Fatalf("csr new: exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(srvDir, storeFile)); err != nil {
		t.Fatalf("csr new with --config did not create its store in the config's data_dir: %v", err)
	}
	// The read-only commands find it there.
	code, out, errOut := runCLI(t, "--config", cfgPath, "cert", "list")
	if code != 0 || !strings.Contains(out, "rcs.corp.example.com") {
		t.Fatalf("cert list --config: exit %d, out %q, stderr %q; want the pending CSR of the config's store", code, out, errOut)
	}
	code, out, _ = runCLI(t, "--config", cfgPath, "report", "health", "--json")
	if code != 0 || !strings.Contains(out, `"failing": 0`) {
		t.Fatalf("report health --config: exit %d, out %q", code, out)
	}
	// --data-dir on the command line wins over the config's data_dir.
	other := filepath.Join(tmp, "other")
	code, _, errOut = runCLI(t, "--config", cfgPath, "--data-dir", other, "cert", "list")
	if code != exitUsage || !strings.Contains(errOut, filepath.Join(other, storeFile)) || !strings.Contains(errOut, "from --data-dir") {
		t.Fatalf("--data-dir with --config: exit %d, stderr %q; want the refusal for %s", code, errOut, other)
	}
}

// newStore creates an empty store and its KEK in dir, as serve would, for
// the commands that only read one.
func newStore(t *testing.T, dir string) {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, storeFile), store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}
