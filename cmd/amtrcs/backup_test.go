package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

// amtrcs backup copies the store of a running server while activations
// run; amtrcs restore puts a copy into a new data directory, where the store
// holds the devices and their sealed passwords, opened with the KEK, and
// each password opens its device. Restore refuses a store a server holds,
// a damaged file and a data directory without the KEK.
func TestBackupRestoreRunningServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	f := newServeFixture(t)
	f.start()
	defer f.kill9()
	api := []string{"--server", "https://" + f.api, "--token", f.token, "--ca", filepath.Join(f.dir, rcs.ServerCertFile)}

	const n = 6
	devs := make([]*amtsim.Device, n)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for i := range devs {
		devs[i] = f.device("16.1.27", 10*time.Millisecond)
		ag, err := agent.New(agent.Options{Server: "https://" + f.gw, EnrollToken: f.enrollToken(), Hostname: fmt.Sprintf("pc%02d", i),
			Backend: agent.OnDevice("pc", devs[i]), TLS: f.tlsCfg, MinBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); ag.Run(ctx) }()
	}

	out := t.TempDir()
	// Copies taken while the activations run: each is a sound store.
	var during []string
	for i := 0; i < 3; i++ {
		p := filepath.Join(out, fmt.Sprintf("during-%d.db", i))
		if code, so, se := runCLI(t, append([]string{"backup", p}, api...)...); code != 0 {
			t.Fatalf("backup during activations: exit %d\n%s%s", code, so, se)
		}
		during = append(during, p)
	}
	waitProvisioned(t, devs...)
	pws := map[string]string{}
	deadline := time.Now().Add(time.Minute)
	for _, sd := range devs {
		var pw rcs.DevicePassword
		for f.get("/api/v1/devices/"+sd.ID().String()+"/password", &pw) != 200 || pw.Password == "" {
			if time.Now().After(deadline) {
				t.Fatalf("no password for %s", sd.ID())
			}
			time.Sleep(50 * time.Millisecond)
		}
		pws[sd.ID().String()] = pw.Password
	}

	final := filepath.Join(out, "final.db")
	code, so, se := runCLI(t, append([]string{"backup", final}, api...)...)
	if code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, so, se)
	}
	if !strings.Contains(so, "never the key-encryption key") {
		t.Errorf("backup does not remind of the KEK:\n%s", so)
	}
	if fi, err := os.Stat(final); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, mode %v, want 0600", err, fi.Mode())
	}
	kek, err := os.ReadFile(filepath.Join(f.dir, store.DefaultKEKFile))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(final); strings.Contains(string(b), strings.TrimSpace(string(kek))) {
		t.Fatal("the backup holds the KEK")
	}
	var audit []store.Event
	if f.get("/api/v1/audit?action=store.backup", &audit); len(audit) != 4 {
		t.Errorf("audit has %d store.backup events, want 4", len(audit))
	}

	// The server holds its store: restore refuses, naming the lock and the fix.
	code, _, se = runCLI(t, "restore", final, "--data-dir", f.dir, "--lock-wait", "100ms")
	if code != exitUsage || !strings.Contains(se, "another process holds it") || !strings.Contains(se, "stop amtrcs serve") {
		t.Errorf("restore onto a served store: exit %d, %q", code, se)
	}

	// A new data directory without the KEK: refused.
	nokek := t.TempDir()
	code, _, se = runCLI(t, "restore", final, "--data-dir", nokek)
	if code != exitUsage || !strings.Contains(se, "KEK") {
		t.Errorf("restore without the KEK: exit %d, %q", code, se)
	}
	if _, err := os.Stat(filepath.Join(nokek, storeFile)); err == nil {
		t.Error("a refused restore left a store")
	}

	// A damaged backup: refused.
	bad := filepath.Join(out, "bad.db")
	b, _ := os.ReadFile(final)
	for i := 0; i < 8192 && i < len(b); i++ { // both meta pages
		b[i] = 0xff
	}
	os.WriteFile(bad, b, 0o600)
	if code, _, se = runCLI(t, "restore", bad, "--data-dir", nokek); code != exitUsage || !strings.Contains(se, "not a readable amtrcs database") {
		t.Errorf("restore of a damaged file: exit %d, %q", code, se)
	}

	// Each copy taken during the activations restores.
	for _, p := range during {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, store.DefaultKEKFile), kek, 0o600)
		if code, so, se := runCLI(t, "restore", p, "--data-dir", dir); code != 0 {
			t.Errorf("restore %s: exit %d\n%s%s", p, code, so, se)
		}
	}

	// The final copy restores into a new data directory, twice: the second
	// time the previous store is kept aside.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, store.DefaultKEKFile), kek, 0o600)
	for i := 0; i < 2; i++ {
		code, so, se = runCLI(t, "restore", final, "--data-dir", dir)
		if code != 0 {
			t.Fatalf("restore: exit %d\n%s%s", code, so, se)
		}
	}
	if !strings.Contains(so, fmt.Sprintf("%d devices", n)) || !strings.Contains(so, "previous store is kept at") {
		t.Errorf("restore report:\n%s", so)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, storeFile+".before-restore-*")); len(m) != 1 {
		t.Errorf("side copies %v, want one", m)
	}
	st, err := store.Open(filepath.Join(dir, storeFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := store.List[rcs.DeviceRecord](st, store.Devices)
	if err != nil || len(recs) != n {
		t.Fatalf("restored store: %d devices, %v; want %d", len(recs), err, n)
	}
	for _, sd := range devs {
		id := sd.ID().String()
		pw, err := st.Secret(provisioning.AdminSecretName(id))
		if err != nil {
			t.Errorf("device %s: sealed password in the restored store: %v", id, err)
			continue
		}
		if string(pw) != pws[id] {
			t.Errorf("device %s: restored password differs from the server's", id)
		}
		if err := passwordOpens(sd, string(pw)); err != nil {
			t.Errorf("device %s: restored password does not open it: %v", id, err)
		}
		if st, _ := sd.State(); st != amt.PostProvisioning {
			t.Errorf("device %s: %s", id, st)
		}
	}
}
