package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/csr/csrtest"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs/health"
	"github.com/amtrcs/amtrcs/store"
)

// Reports from the store are made at the fixed time the devices are seeded
// around, so golden files do not age.
func init() { reportClock = func() time.Time { return csrtest.Epoch } }

// seedHealth writes two provisioned devices into a new data directory:
// pc1 healthy, pc2 renamed in its OS with a TLS certificate near its end.
func seedHealth(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, storeFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := reportClock()
	err = st.Update(func(tx *store.Tx) error {
		for _, d := range []struct{ id, os, amt string }{
			{"11111111-1111-1111-1111-111111111111", "pc1.corp.example.com", "pc1.corp.example.com"},
			{"22222222-2222-2222-2222-222222222222", "pc2-new.corp.example.com", "pc2.corp.example.com"},
		} {
			if err := tx.Put(store.Devices, d.id, health.DeviceInfo{ID: d.id, FQDN: d.os, State: "provisioned", LastSeen: now}); err != nil {
				return err
			}
			sess := provisioning.Session{Device: d.id, Path: provisioning.PathHostBased, Status: provisioning.StatusDone, Started: now.Add(-5 * 24 * time.Hour), Profile: provisioning.DefaultProfile("default")}
			if err := tx.Put(store.Sessions, d.id, sess); err != nil {
				return err
			}
			left := 80 * 24 * time.Hour
			if d.os != d.amt {
				left = 12 * 24 * time.Hour
			}
			ms := provisioning.DeviceState{Device: d.id, LastContact: now, TLS: &provisioning.TLSState{FQDN: d.amt, NotAfter: now.Add(left)},
				Network: &provisioning.NetworkState{AMTFQDN: d.amt, OSFQDN: d.amt}, Clock: &provisioning.ClockState{Drift: time.Second}}
			if err := tx.Put(store.Maintenance, provisioning.StateKey(d.id), ms); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReportHealth(t *testing.T) {
	dir := seedHealth(t)
	code, out, errOut := runCLI(t, "report", "health", "--data-dir", dir)
	if code != exitVerdict {
		t.Fatalf("exit %d, want %d (a failing device); stderr %s", code, exitVerdict, errOut)
	}
	for _, want := range []string{
		"failing  pc2-new.corp.example.com",
		"AMT calls itself pc2.corp.example.com, the OS pc2-new.corp.example.com",
		"amtrcs device maintain 22222222-2222-2222-2222-222222222222 --task network-sync",
		"--task tls",
		"2 devices, 1 failing",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "pc2-new") > strings.Index(out, "pc1.corp") {
		t.Errorf("failing device not first:\n%s", out)
	}

	code, out, _ = runCLI(t, "report", "health", "--json", "--data-dir", dir)
	var rep health.Report
	if code != exitVerdict || json.Unmarshal([]byte(out), &rep) != nil || rep.Failing != 1 || len(rep.Devices) != 2 || rep.Devices[0].Status != health.StatusFailing {
		t.Fatalf("--json: exit %d, report %+v", code, rep)
	}
	if rep.Devices[0].TLSDaysLeft == nil || *rep.Devices[0].TLSDaysLeft > 12 {
		t.Fatalf("TLS days left %v, want 11 or 12", rep.Devices[0].TLSDaysLeft)
	}
}

// TestReportHealthGolden: the report an admin reads from the store, which
// probes nothing and says so.
func TestReportHealthGolden(t *testing.T) {
	code, out, errOut := runCLI(t, "report", "health", "--data-dir", seedHealth(t))
	if code != exitVerdict {
		t.Fatalf("exit %d, want %d (a failing device); stderr %s", code, exitVerdict, errOut)
	}
	golden(t, "report-health-store.golden", out)
	code, out, _ = runCLI(t, "report", "health", "--json", "--data-dir", seedHealth(t))
	var rep health.Report
	if code != exitVerdict || json.Unmarshal([]byte(out), &rep) != nil || rep.ReachProbed {
		t.Fatalf("--json: exit %d, reach_probed %v; want %d and false", code, rep.ReachProbed, exitVerdict)
	}
}

func TestReportHealthEmptyAndBadConfig(t *testing.T) {
	dir := t.TempDir()
	newStore(t, dir)
	code, out, _ := runCLI(t, "report", "health", "--data-dir", dir)
	if code != exitOK || !strings.Contains(out, "0 devices, 0 failing") {
		t.Fatalf("empty store: exit %d, %q", code, out)
	}
	code, _, errOut := runCLI(t, "report", "health", "--data-dir", dir, "--config", filepath.Join(dir, "missing.hcl"))
	if code != exitUsage || errOut == "" {
		t.Fatalf("missing config: exit %d, stderr %q", code, errOut)
	}
}

// TestReportHealthStoreRefusals: a store held by a running server is bad
// input pointing at --server; a store that cannot be opened for another
// reason says that reason, not the server hint.
func TestReportHealthStoreRefusals(t *testing.T) {
	t.Run("locked", func(t *testing.T) {
		dir := seedHealth(t)
		st, err := store.Open(filepath.Join(dir, storeFile), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		code, _, errOut := runCLI(t, "report", "health", "--data-dir", dir)
		if code != 2 || !strings.Contains(errOut, "another process holds") || !strings.Contains(errOut, "--server") {
			t.Fatalf("exit %d, stderr %q; want 2, the lock and --server", code, errOut)
		}
	})
	t.Run("kek", func(t *testing.T) {
		dir := seedHealth(t)
		if err := os.WriteFile(filepath.Join(dir, "kek"), bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runCLI(t, "report", "health", "--data-dir", dir)
		if code == 0 || strings.Contains(errOut, "--server") || strings.Contains(errOut, "running server") {
			t.Fatalf("exit %d, stderr %q; want a failure that names the KEK, not a running server", code, errOut)
		}
	})
}
