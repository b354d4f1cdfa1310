package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
)

// The device commands against a served data directory: list, show with
// the password, deactivate, activate; and the refusals.
func TestDeviceCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	f := newServeFixture(t)
	f.start()
	defer f.kill9()
	sd := f.device("16.1.27", 0)
	id := sd.ID().String()
	ag, err := agent.New(agent.Options{Server: "https://" + f.gw, EnrollToken: f.enrollToken(), Hostname: "pc42",
		Backend: agent.OnDevice("pc42", sd), TLS: f.tlsCfg, MinBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ag.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	api := []string{"--server", "https://" + f.api, "--data-dir", f.dir}
	run := func(args ...string) (int, string, string) { return runCLI(t, append(args, api...)...) }

	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, out, _ := run("device", "list")
		if strings.Contains(out, id) && strings.Contains(out, "provisioned") && strings.Contains(out, "connected") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("device never listed as provisioned:\n%s\n%s", out, f.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, out, errOut := run("device", "show", "pc42", "--show-password")
	if code != 0 || !strings.Contains(out, "acm-hostbased") || !strings.Contains(out, "Admin password") || !strings.Contains(out, "Audit trail") {
		t.Fatalf("show: %d\n%s\n%s", code, out, errOut)
	}
	pw := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Admin password") {
			pw = strings.TrimSpace(strings.TrimPrefix(l, "Admin password"))
		}
	}
	if err := passwordOpens(sd, pw); err != nil {
		t.Fatalf("the shown password does not open the device: %v", err)
	}
	if code, out, _ = run("device", "show", id); code != 0 || strings.Contains(out, pw) {
		t.Fatalf("show without --show-password: exit %d, or it printed the password", code)
	}
	if code, out, errOut = run("device", "deactivate", id); code != 0 || !strings.Contains(out, "deactivate done") {
		t.Fatalf("deactivate: %d\n%s\n%s", code, out, errOut)
	}
	// Before: the plan says custom hashes go; after: the note names the
	// one this device's activation needed.
	plan, note := strings.Index(out, "custom root hashes (MEBx)"), strings.Index(out, "note: unprovisioning cleared the custom root hash \"Kill Test Root CA\"")
	if plan < 0 || note < 0 || plan > strings.Index(out, "deactivate done") || note < strings.Index(out, "deactivate done") {
		t.Fatalf("deactivate does not warn before and name the cleared hash after:\n%s", out)
	}
	// Full unprovisioning drops custom hashes, as firmware does: the admin
	// adds the root again in MEBx before the next activation.
	if err := sd.AddCustomHash(amtsim.CustomHash{Name: f.rootHash.Name, Algorithm: amt.HashSHA256, Hash: f.rootHash.Hash}); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut = run("device", "activate", id); code != 0 || !strings.Contains(out, "activate done") || !strings.Contains(out, "acm-hostbased") {
		t.Fatalf("activate: %d\n%s\n%s", code, out, errOut)
	}
	// A partial unprovision of the ACM device: the firmware keeps its admin
	// password, and so does the store.
	if code, out, errOut = run("device", "deactivate", id, "--partial"); code != 0 || !strings.Contains(out, "deactivate done") ||
		!strings.Contains(out, "partial unprovision: the device returns") || !strings.Contains(out, "note: partial unprovision") {
		t.Fatalf("deactivate --partial: %d\n%s\n%s", code, out, errOut)
	}
	if st, _ := sd.State(); st == amt.PostProvisioning {
		t.Fatalf("after deactivate --partial the device is still %s", st)
	}
	if err := sd.AddCustomHash(amtsim.CustomHash{Name: f.rootHash.Name, Algorithm: amt.HashSHA256, Hash: f.rootHash.Hash}); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut = run("device", "activate", id); code != 0 || !strings.Contains(out, "activate done") {
		t.Fatalf("activate after --partial: %d\n%s\n%s", code, out, errOut)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"device", "show", "no-such-pc"}, exitVerdict, "fix:"},
		{[]string{"device", "list", "--token", "amtrcs-admin-0123456789abcdef.nope"}, exitVerdict, "401"},
		{[]string{"device", "activate", id, "--profile", "nosuch"}, exitVerdict, "does not exist"},
	}
	for _, tt := range tests {
		code, out, errOut := run(tt.args...)
		if code != tt.code || !strings.Contains(out+errOut, tt.want) {
			t.Errorf("%v: %d %q %q, want %d and %q", tt.args, code, out, errOut, tt.code, tt.want)
		}
	}
	if code, _, errOut := runCLI(t, "device", "list", "--server", "https://127.0.0.1:1", "--data-dir", f.dir); code != exitUsage || !strings.Contains(errOut, "start amtrcs serve") {
		t.Errorf("unreachable server: %d %s", code, errOut)
	}

	// The agents and tokens commands: the agent speaks for the device, and
	// revoking it disconnects it.
	code, out, errOut = run("agents", "list")
	agentID := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, id) && strings.Contains(l, "connected") {
			agentID = strings.Fields(l)[0]
		}
	}
	if code != 0 || agentID == "" {
		t.Fatalf("agents list: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut = run("tokens", "list"); code != 0 || !strings.Contains(out, agentID) {
		t.Fatalf("tokens list: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut = run("agents", "revoke", agentID); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("agents revoke: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ = run("agents", "list"); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("agents list after revoke: %d\n%s", code, out)
	}

	// tokens new prints the token alone on stdout, once; the list shows
	// its id and never the token; revoke makes it buy nothing.
	code, out, errOut = run("tokens", "new", "--ttl", "2h")
	tok := strings.TrimSpace(out)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(tok, "amtrcs-") || !strings.Contains(errOut, "not shown again") {
		t.Fatalf("tokens new: %d %q %q", code, out, errOut)
	}
	if code, out, _ = run("tokens", "list"); code != 0 || strings.Contains(out, tok) {
		t.Fatalf("tokens list shows the token itself, or failed: %d\n%s", code, out)
	}
	if code, _, errOut = run("tokens", "new", "--ttl", "9000h"); code != exitVerdict || !strings.Contains(errOut, "token ttl") {
		t.Fatalf("tokens new --ttl 9000h: %d %s, want the refusal", code, errOut)
	}
}

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a fleet")
	}
	code, out, errOut := runCLI(t, "demo", "--devices", "7")
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"acm-hostbased", "acm-tls", "failed (expected)", "fix:", "6 of 7 devices activated"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if code, _, _ := runCLI(t, "demo", "--devices", "1"); code != exitUsage {
		t.Errorf("--devices 1: exit %d, want %d", code, exitUsage)
	}
}

// The one-line summary of `device` is what `amtrcs --help` shows; a user
// who reads it must learn of every device subcommand, maintain included.
func TestDeviceSummaryNamesEverySubcommand(t *testing.T) {
	code, out, _ := runCLI(t, "device", "--help")
	if code != exitOK {
		t.Fatalf("device --help: exit %d", code)
	}
	summary, rest, _ := strings.Cut(out, "\n")
	_, list, ok := strings.Cut(rest, "Available Commands:\n")
	if !ok {
		t.Fatalf("no subcommand list in:\n%s", out)
	}
	var names []string
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			break
		}
		if f[0] != "help" && f[0] != "completion" {
			names = append(names, f[0])
		}
	}
	if len(names) < 5 {
		t.Fatalf("found subcommands %v, want at least list, show, activate, deactivate, maintain", names)
	}
	for _, n := range names {
		if !strings.Contains(strings.ToLower(summary), n) {
			t.Errorf("summary %q does not name subcommand %q", summary, n)
		}
	}
}
