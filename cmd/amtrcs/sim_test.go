package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amtsim"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestSimUsage(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string // a part of the refusal: the value seen or wanted
	}{
		"bad version":        {[]string{"--amt-version", "x"}, "--amt-version"},
		"too old":            {[]string{"--amt-version", "6"}, "7.0 or newer"},
		"no devices":         {[]string{"--devices", "0"}, "--devices 0: want 1 to"},
		"hash not hex":       {[]string{"--trust-hash", "zz"}, `--trust-hash "zz": not hex`},
		"hash of 10 bytes":   {[]string{"--trust-hash", "00112233445566778899"}, "hash of 10 bytes"},
		"four hashes":        {[]string{"--trust-hash", strings.Repeat("a", 64), "--trust-hash", strings.Repeat("b", 64), "--trust-hash", strings.Repeat("c", 64), "--trust-hash", strings.Repeat("d", 64)}, "given 4 times; want at most 3"},
		"negative latency":   {[]string{"--latency", "-1ms"}, "--latency -1ms: want 0 or more"},
		"negative limit":     {[]string{"--flash-write-limit", "-1"}, "--flash-write-limit -1: want 0"},
		"zero interval":      {[]string{"--hello-interval", "0s"}, "--hello-interval 0s: want a positive duration"},
		"public status":      {[]string{"--listen", "0.0.0.0:16989"}, "0.0.0.0:16989"},
		"public host port":   {[]string{"--host-port", "192.0.2.1:16990"}, "192.0.2.1:16990"},
		"precedence":         {[]string{"--suffix-precedence", "bios"}, `"bios"`},
		"hello without port": {[]string{"--hello", "127.0.0.1"}, `--hello "127.0.0.1"`},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append([]string{"sim"}, tc.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d with a reason containing %q", code, stderr, exitUsage, tc.want)
			}
		})
	}
}

// TestSimServes runs a fleet, reads the status endpoint and talks to a
// device through the host port while it runs, then reloads the saved fleet.
func TestSimServes(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "fleet.json")
	rootFile := filepath.Join(dir, "root.pem")
	status, hostPort := freeAddr(t), freeAddr(t)
	args := []string{"sim", "--devices", "3", "--amt-version", "19.0.5", "--suffix", "corp.example.com",
		"--trust-hash", strings.Repeat("ab", 32), "--latency", "1ms", "--state", state, "--identity-root", rootFile,
		"--listen", status, "--host-port", hostPort, "--duration", "3s", "--json"}
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		c, o, e := runCLI(t, args...)
		done <- result{c, o, e}
	}()
	var st struct {
		Devices []amtsim.Status `json:"devices"`
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		res, err := http.Get("http://" + status + "/status")
		if err == nil {
			err = json.NewDecoder(res.Body).Decode(&st)
			res.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status endpoint never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(st.Devices) != 3 || st.Devices[0].State != "pre-provisioning" || st.Devices[0].Version != "19.0.5" {
		t.Fatalf("status %+v", st.Devices)
	}
	// The host port gives the device's host interface to another process.
	c, err := net.Dial("tcp", hostPort)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := wire.WriteSimChannel(c, st.Devices[1].UUID.String(), wire.ChannelPTHI); err != nil {
		t.Fatal(err)
	}
	if err := wire.ReadAnswer(c); err != nil {
		t.Fatal(err)
	}
	info, err := hostif.NewClient(wire.NewFramedTransport(c)).ReadInfo(context.Background())
	if err != nil || info.UUID != st.Devices[1].UUID || info.DNSSuffix != "corp.example.com" || info.Hashes.CustomCount() != 1 {
		t.Fatalf("ReadInfo over the host port: %+v, %v", info, err)
	}
	r := <-done
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep simReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Devices) != 3 || rep.Devices[0].HostPort != hostPort || rep.Loaded {
		t.Fatalf("report %q: %v", r.stdout, err)
	}
	if pemBytes, err := os.ReadFile(rootFile); err != nil || !strings.Contains(string(pemBytes), "BEGIN CERTIFICATE") {
		t.Fatalf("identity root file: %v", err)
	}
	// Run again from the saved state: the same devices come back.
	code, out, _ := runCLI(t, "sim", "--state", state, "--listen", freeAddr(t), "--host-port", freeAddr(t), "--duration", "10ms")
	if code != 0 {
		t.Fatalf("reload exit %d", code)
	}
	for _, d := range rep.Devices {
		if !strings.Contains(out, d.UUID) {
			t.Fatalf("reloaded fleet lacks %s:\n%s", d.UUID, out)
		}
	}
	if !strings.Contains(out, "loaded from "+state) {
		t.Fatalf("text report does not say the fleet was loaded:\n%s", out)
	}
}
