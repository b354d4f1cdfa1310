package main

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/internal/pgtest"
)

// TestStoreOnPostgres: a configuration with store.backend = "postgres"
// opens the store and the embedded CA in that database (what serve does),
// and restore, which replaces a bbolt file, refuses it naming pg_restore.
func TestStoreOnPostgres(t *testing.T) {
	url := pgtest.URL(t)
	t.Setenv("AMTRCS_DATABASE_URL", url)
	t.Setenv("AMTRCS_KEK", hex.EncodeToString(make([]byte, 32)))
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "amtrcs.hcl")
	hcl := "store {\n  backend = \"postgres\"\n  url     = env.AMTRCS_DATABASE_URL\n}\nkek {\n  env = \"AMTRCS_KEK\"\n}\n"
	if err := os.WriteFile(cfgPath, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags, _ := config.LoadFile(cfgPath, config.Environ())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := openStoreWith(cfg, dir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Backend() != "postgres" || strings.Contains(st.Where(), "amtrcs.db") {
		t.Fatalf("store is %s at %s, want postgres", st.Backend(), st.Where())
	}
	if _, err := os.Stat(filepath.Join(dir, storeFile)); err == nil {
		t.Error("a bbolt file was created beside a postgres store")
	}
	ca, err := openConfiguredCA(context.Background(), cfg, dir, st, log)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	if _, err := os.Stat(filepath.Join(dir, "ca.db")); err == nil {
		t.Error("the CA made a bbolt file beside a postgres store")
	}
	// A read-only command reads the database, not a file of the data
	// directory (which has none).
	if code, out, errOut := runCLI(t, "--json", "--config", cfgPath, "--data-dir", dir, "cert", "list"); code != 0 {
		t.Errorf("cert list on postgres: exit %d, %s %s; want 0", code, out, errOut)
	}
	code, _, errOut := runCLI(t, "restore", "--config", cfgPath, "--data-dir", dir, filepath.Join(dir, "backup.db"))
	if code != exitUsage || !strings.Contains(errOut, "pg_restore") {
		t.Errorf("restore on postgres: exit %d, %q; want %d naming pg_restore", code, errOut, exitUsage)
	}
}
