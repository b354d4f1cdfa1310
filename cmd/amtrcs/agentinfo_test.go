package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/agent/capture"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
)

// simHostPort serves d through a loopback host port, as `amtrcs sim` does.
func simHostPort(t *testing.T, d *amtsim.Device) string {
	t.Helper()
	fleet, err := amtsim.NewFleetOf(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() })
	ln, err := fleet.ListenHostPort("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln.Addr().String()
}

// TestAgentInfoGolden pins what `agent info` prints, as text and as JSON,
// for a simulated AMT 16.1 with a DNS suffix and AMT 11.8 without.
func TestAgentInfoGolden(t *testing.T) {
	cases := []struct {
		file string
		cfg  amtsim.Config
		json bool
	}{
		{"agent-info-16.1.golden", amtsim.Config{Version: amt.Version{Major: 16, Minor: 1, Build: 27}, MEBxSuffix: "corp.example.com"}, false},
		{"agent-info-16.1-json.golden", amtsim.Config{Version: amt.Version{Major: 16, Minor: 1, Build: 27}, MEBxSuffix: "corp.example.com"}, true},
		{"agent-info-11.8.golden", amtsim.Config{Version: amt.Version{Major: 11, Minor: 8, Build: 70}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			cfg := tc.cfg
			cfg.UUID = amt.UUID{0x0a, 0x6e, 15: 0x01}
			cfg.OSHostname = "pc1"
			d, err := amtsim.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			addr := simHostPort(t, d)
			args := []string{"agent", "info", "--backend", "sim", "--sim", addr, "--device", d.ID().String()}
			if tc.json {
				args = append(args, "--json")
			}
			code, out, errOut := runCLI(t, args...)
			if code != exitOK || errOut != "" {
				t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
			}
			golden(t, tc.file, strings.ReplaceAll(out, addr, "$HOSTPORT"))
		})
	}
}

// `agent info --capture` writes a capture of mode 0600 that parses, and
// the refusals name what is wrong and the fix.
func TestAgentInfoCapture(t *testing.T) {
	d, err := amtsim.New(amtsim.Config{Version: amt.Version{Major: 19, Minor: 0, Build: 5}})
	if err != nil {
		t.Fatal(err)
	}
	addr := simHostPort(t, d)
	path := filepath.Join(t.TempDir(), "pc.jsonl")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "agent", "info", "--backend", "sim", "--sim", addr, "--device", d.ID().String(), "--capture", path)
	if code != exitOK || !strings.Contains(errOut, "capture written to") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("capture file: %v, mode %v, want 0600", err, st.Mode())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := capture.Parse(f)
	if err != nil || len(c.Records) < 8 || c.Header.Version != version {
		t.Fatalf("capture: %v, %d records", err, len(c.Records))
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"agent", "info", "--backend", "sim"}, "needs --sim"},
		{[]string{"agent", "info", "--backend", "usb"}, "want mei or sim"},
		{[]string{"agent", "info", "--no-lms"}, "--no-lms is for --backend sim"},
		{[]string{"agent", "info", "--backend", "sim", "--sim", addr, "--device", d.ID().String(), "--capture", filepath.Join(path, "x")}, "--capture"},
		{[]string{"sim", "--replay", path, "--devices", "2"}, "drop --devices"},
		{[]string{"sim", "--replay", filepath.Join(t.TempDir(), "none.jsonl")}, "--replay"},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI(t, tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %d and %q", tt.args, code, errOut, exitUsage, tt.want)
		}
	}
}

// `--no-lms` plays a PC without LMS through the simulator's host port:
// `agent info` names the backend so, and the agent's backend reaches the
// firmware port with APF over the host port's lme channel.
func TestAgentNoLMSThroughTheHostPort(t *testing.T) {
	d, err := amtsim.New(amtsim.Config{Version: amt.Version{Major: 16, Minor: 1, Build: 27}})
	if err != nil {
		t.Fatal(err)
	}
	addr := simHostPort(t, d)
	code, out, errOut := runCLI(t, "agent", "info", "--backend", "sim", "--sim", addr, "--device", d.ID().String(), "--no-lms")
	if code != exitOK || !strings.Contains(out, "without LMS") {
		t.Fatalf("agent info --no-lms: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	f := agentFlags{backend: "sim", sim: addr, device: d.ID().String(), noLMS: true}
	b, _, done, err := f.openBackend(&app{dataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	c, err := b.DialLMS(context.Background(), amtsim.PortHTTP)
	if err != nil {
		t.Fatalf("agent --backend sim --no-lms: DialLMS: %v", err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("WS-MAN over the lme channel: %v, %v; want the digest challenge", resp, err)
	}
	resp.Body.Close()
}
