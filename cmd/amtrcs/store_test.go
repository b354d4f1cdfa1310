package main

import (
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
