package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/rcs/health"
)

// TestDemoMaintenanceJSON: after the activation the demo maintains one
// device of each AMT version through the API, each fix is checked on the
// device, the maintained devices are healthy, and no password is shown.
func TestDemoMaintenanceJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a fleet")
	}
	code, out, errOut := runCLI(t, "demo", "--devices", "7", "--json")
	if code != 0 {
		t.Fatalf("demo --json: exit %d\n%s\n%s", code, out, errOut)
	}
	var got demoOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("demo --json is not one JSON object: %v\n%s", err, out)
	}
	if len(got.Activation) != 7 || got.Health == nil {
		t.Fatalf("activation %d rows, health %v", len(got.Activation), got.Health)
	}
	want := []struct{ device, version, task string }{
		{"pc-001", "11.8.55", provisioning.TaskClockSync},
		{"pc-002", "16.1.27", provisioning.TaskTLS},
		{"pc-002", "16.1.27", provisioning.TaskNetworkSync},
		{"pc-003", "19.0.5", provisioning.TaskPasswordRotation},
	}
	if len(got.Maintenance) != len(want) {
		t.Fatalf("maintenance rows %+v, want %d", got.Maintenance, len(want))
	}
	maintained := map[string]bool{}
	for i, w := range want {
		r := got.Maintenance[i]
		if r.Device != w.device || r.Version != w.version || r.Task != w.task || r.Result != rcs.JobDone || r.Error != "" || r.Before == "" || r.After == "" {
			t.Errorf("row %d: %+v, want %s on %s (AMT %s) done with before and after", i, r, w.task, w.device, w.version)
		}
		maintained[r.UUID] = true
	}
	for _, tt := range []struct {
		row  int
		has  []string
		name string
	}{
		{0, []string{"clock off by -7m0s"}, "the drift before"},
		{1, []string{"cert for pc-002." + demoSuffix}, "the first TLS certificate"},
		{2, []string{"pc-002." + demoSuffix, "lab-002." + demoSuffix}, "the old and new names"},
		{3, []string{"set at activation", "rotated (1)"}, "the password's age"},
	} {
		r := got.Maintenance[tt.row]
		for _, s := range tt.has {
			if !strings.Contains(r.Before+" "+r.After, s) {
				t.Errorf("%s row does not show %s (%q): %+v", r.Task, tt.name, s, r)
			}
		}
	}
	seen := 0
	for _, d := range got.Health.Devices {
		if !maintained[d.ID] {
			continue
		}
		seen++
		if d.Status != health.StatusOK || len(d.Problems) != 0 {
			t.Errorf("health of maintained %s: %+v", d.Name, d)
		}
		if strings.HasPrefix(d.Name, "lab-002.") && (d.AMTFQDN != "lab-002."+demoSuffix || d.TLSDaysLeft == nil) {
			t.Errorf("renamed device in the health report: %+v", d)
		}
	}
	if seen != 3 || got.Health.Failing != 1 {
		t.Errorf("health: %d maintained devices listed (want 3), %d failing (want 1, the deliberate failure)", seen, got.Health.Failing)
	}
	if strings.Contains(out, `"password":`) || strings.Contains(out, `"admin_password`) {
		t.Error("the demo's JSON holds a password field")
	}
}

// TestDemoMaintenanceText: the text output shows the maintenance table,
// then the health of the maintained devices.
func TestDemoMaintenanceText(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a fleet")
	}
	code, out, errOut := runCLI(t, "demo", "--devices", "4")
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	i := strings.Index(out, "Maintenance (")
	j := strings.Index(out, "Health of the maintained devices")
	if i < 0 || j < i {
		t.Fatalf("want the maintenance table, then the health report:\n%s", out)
	}
	for _, want := range []string{"clock-sync", "tls", "network-sync", "password-rotation", "lab-002." + demoSuffix,
		"3 devices, 0 failing", "4 maintenance jobs done on 3 devices"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out[i:], "mismatch") || strings.Contains(out[i:], "failed") {
		t.Errorf("a maintenance row did not end done:\n%s", out[i:])
	}
}

// TestDemoPicks: one device of each version first, then others, at most
// three.
func TestDemoPicks(t *testing.T) {
	v11, v16, v19 := amt.Version{Major: 11, Minor: 8, Build: 55}, amt.Version{Major: 16, Minor: 1, Build: 27}, amt.Version{Major: 19, Minor: 0, Build: 5}
	tests := []struct {
		name     string
		fleet    []amt.Version
		versions []amt.Version
		want     []string
	}{
		{"one of each", []amt.Version{v11, v16, v19, v11, v16}, []amt.Version{v11, v16, v19}, []string{"h0", "h1", "h2"}},
		{"versions in the flag's order", []amt.Version{v19, v19, v16, v11}, []amt.Version{v11, v16, v19}, []string{"h3", "h2", "h0"}},
		{"a version missing: filled with others", []amt.Version{v11, v16, v11, v16}, []amt.Version{v11, v16, v19}, []string{"h0", "h1", "h2"}},
		{"fewer than three", []amt.Version{v16}, []amt.Version{v11, v16}, []string{"h0"}},
		{"none", nil, []amt.Version{v11}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var devs []*amtsim.Device
			var hosts []string
			for i, v := range tt.fleet {
				d, err := amtsim.New(amtsim.Config{Version: v})
				if err != nil {
					t.Fatal(err)
				}
				devs, hosts = append(devs, d), append(hosts, "h"+string(rune('0'+i)))
			}
			var got []string
			for _, m := range demoPicks(devs, hosts, tt.versions) {
				got = append(got, m.host)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("picks %v, want %v", got, tt.want)
			}
		})
	}
}

// demo --serve keeps the server up with the simulated PCs' agents
// connected, prints the dashboard and device commands that find the token
// and the server's certificate in the demo's data directory, and a
// maintenance task run through them reaches the device and finishes.
func TestDemoServeKeepsTheFleetConnected(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	cmd := exec.Command(amtrcsBinary(t), "--data-dir", dir, "demo", "--devices", "3", "--serve")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(out.String(), "report health --server") {
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatalf("demo --serve never said how to look:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	text := out.String()
	m := regexp.MustCompile(`running at (https://[0-9.:]+) until you press Ctrl-C, with the agents of (\d+) simulated PCs connected`).FindStringSubmatch(text)
	if m == nil || m[2] != "3" || !strings.Contains(text, "Dashboard: "+m[1]+"/ui/") {
		t.Fatalf("demo --serve output lacks the server, its 3 connected agents or the dashboard:\n%s", text)
	}
	url := m[1]
	code, runOut, errOut := runCLI(t, "--data-dir", dir, "device", "maintain", "pc-001", "--task", "clock-sync", "--wait", "2m", "--server", url)
	if code != exitOK || !strings.Contains(runOut, "clock-sync on device") || !strings.Contains(runOut, ": done") {
		t.Fatalf("clock-sync through the demo's server: exit %d\n%s%s", code, runOut, errOut)
	}
	// The PC the demo refuses is connected too: its activation, asked
	// again, is refused with the same reason.
	code, runOut, errOut = runCLI(t, "--data-dir", dir, "device", "activate", "pc-002", "--server", url)
	if code != exitVerdict || !strings.Contains(runOut+errOut, "domain suffix") {
		t.Fatalf("activate the mis-configured PC: exit %d, want %d and its refusal\n%s%s", code, exitVerdict, runOut, errOut)
	}
	_ = cmd.Process.Signal(os.Interrupt)
}
