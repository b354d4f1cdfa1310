package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary play the fleet child of the full-stack
// mode, as `amtrcs bench-fleet` does in the real binary, and the server
// child of the idle-agent run (`amtrcs bench-server`).
func TestMain(m *testing.M) {
	if os.Getenv(ServerEnv) == "1" {
		if err := ServeServer(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv(FleetEnv) == "1" {
		if err := ServeFleet(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRunStack activates a tiny fleet through the whole stack on every
// path: a server on embedded defaults here, the devices and their agents
// in a child process.
func TestRunStack(t *testing.T) {
	for _, tc := range []struct {
		path       Path
		handshakes float64
		pthi       bool
	}{
		{PathACM, 0, true},
		{PathACMTLS, 4, true}, // 2 mutual (setup), 2 to the enforced local TLS port
		{PathCCM, 0, true},
		{PathLegacy, 2, false},
	} {
		t.Run(string(tc.path), func(t *testing.T) {
			rep, err := Run(context.Background(), Config{Devices: 3, Path: tc.path, Concurrency: 2, FloorTime: 20 * time.Millisecond})
			if err != nil {
				if tc.path == PathLegacy && strings.Contains(err.Error(), "assign requested address") {
					t.Skipf("no 127.0.0.0/8 beyond 127.0.0.1 here: %v", err)
				}
				t.Fatal(err)
			}
			if rep.Mode != ModeStack || rep.Failed != 0 || rep.Activated != 3 {
				t.Fatalf("mode %s, activated %d, failed %d: %v", rep.Mode, rep.Activated, rep.Failed, rep.Failures)
			}
			if !(rep.Latency.P50 > 0 && rep.Latency.P50 <= rep.Latency.P95 && rep.Latency.P95 <= rep.Latency.P99) || rep.ActivationsPerSecond <= 0 {
				t.Errorf("rate %.2f, latency %+v", rep.ActivationsPerSecond, rep.Latency)
			}
			// The server's CPU is its own process's; the fleet's the child's.
			if rep.CPU.ServerSeconds <= 0 || rep.CPU.FleetSeconds <= 0 || rep.CPU.ServerPerActivationMS <= 0 || rep.PeakRSSMiB <= 0 || rep.FleetPeakRSSMiB <= 0 {
				t.Errorf("cpu %+v, rss %.1f / %.1f MiB", rep.CPU, rep.PeakRSSMiB, rep.FleetPeakRSSMiB)
			}
			// At least the handshakes the path needs; a keep-alive
			// connection the firmware closed costs one more now and then.
			if rep.Ops.Handshakes < tc.handshakes || rep.Calls.TLSConnections < int(tc.handshakes) || (tc.handshakes == 0) != (rep.Ops.Handshakes == 0) {
				t.Errorf("handshakes per activation %.2f, calibration %d; want at least %.0f", rep.Ops.Handshakes, rep.Calls.TLSConnections, tc.handshakes)
			}
			if rep.Calls.WSMAN < 5 || (rep.Calls.PTHI > 0) != tc.pthi || rep.Calls.Total != rep.Calls.PTHI+rep.Calls.WSMAN {
				t.Errorf("calls %+v", rep.Calls)
			}
			if !strings.Contains(rep.Store, "fsync on") {
				t.Errorf("store %q, want fsync on", rep.Store)
			}
			var out bytes.Buffer
			if err := rep.WriteText(&out); err != nil || !strings.Contains(out.String(), "mode stack") || !strings.Contains(out.String(), "getrusage of the server process") {
				t.Errorf("text report %q, %v", out.String(), err)
			}
		})
	}
}

// TestRunStackChildFailure: a fleet process that dies is reported with
// the end of its stderr, not as a hang or a zero report.
func TestRunStackChildFailure(t *testing.T) {
	for name, script := range map[string]string{
		"dies":       "echo fleet exploded >&2; exit 3",
		"talks junk": "echo '{\"kind\":\"surprise\"}'; cat >/dev/null",
	} {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Devices: 1, Path: PathACM, FloorTime: 10 * time.Millisecond,
				FleetCommand: func(ctx context.Context) (*exec.Cmd, error) { return exec.CommandContext(ctx, "sh", "-c", script), nil }}
			_, err := Run(context.Background(), cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if name == "dies" && !strings.Contains(err.Error(), "fleet exploded") {
				t.Errorf("error %q does not carry the child's stderr", err)
			}
			if name == "talks junk" && !strings.Contains(err.Error(), `"surprise"`) {
				t.Errorf("error %q does not name the unexpected message", err)
			}
		})
	}
}

// TestIdleAgents connects a small fleet that stays, restarts the server
// twice and checks the report: every agent back each time, the server's
// memory and goroutines measured from its own process, its heap profile
// written.
func TestIdleAgents(t *testing.T) {
	heap := t.TempDir() + "/heap.prof"
	rep, err := Run(context.Background(), Config{IdleAgents: 20, Path: PathACM, Concurrency: 8, IdleHold: time.Second, HeapProfile: heap})
	if err != nil {
		t.Fatal(err)
	}
	if rep.IdleAgents != 20 || rep.Failed != 0 || rep.Activated != 20 {
		t.Fatalf("idle agents %d, activated %d, failed %d: %v", rep.IdleAgents, rep.Activated, rep.Failed, rep.Failures)
	}
	idle := rep.Idle
	if idle == nil || len(idle.Restarts) != 2 {
		t.Fatalf("idle report %+v", idle)
	}
	for _, r := range idle.Restarts {
		if r.Connected != 20 || r.Seconds <= 0 || r.ServerStartSeconds <= 0 || r.Seconds < r.ServerStartSeconds {
			t.Errorf("restart %+v", r)
		}
	}
	if rep.ReconnectSeconds != idle.Restarts[1].Seconds || rep.IdleServerRSSMiB != idle.ServerRSSMiB || idle.ServerRSSMiB <= 0 || idle.ServerBaseRSSMiB <= 0 {
		t.Errorf("reconnect %.3f s, RSS %.1f MiB, report %+v", rep.ReconnectSeconds, rep.IdleServerRSSMiB, idle)
	}
	if idle.Goroutines == 0 || idle.HeapInuseMiB <= 0 {
		t.Errorf("%d goroutines, %.1f MiB of heap in the server", idle.Goroutines, idle.HeapInuseMiB)
	}
	if st, err := os.Stat(heap); err != nil || st.Size() == 0 {
		t.Errorf("heap profile: %v", err)
	}
	// The JSON a script reads holds the figures at the top level.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"idle_agents", "idle_server_rss_mib", "reconnect_seconds", "failed"} {
		if _, ok := top[k]; !ok {
			t.Errorf("JSON report without %q", k)
		}
	}
}
