package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary play the fleet child of the full-stack
// mode, as `amtrcs bench-fleet` does in the real binary.
func TestMain(m *testing.M) {
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
