package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/bench"
	"github.com/amtrcs/amtrcs/internal/pgtest"
)

// TestMain lets the test binary play `amtrcs bench-fleet` and `amtrcs
// bench-server`: the bench starts its own executable with bench.FleetEnv
// or bench.ServerEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(bench.FleetEnv) == "1" || os.Getenv(bench.ServerEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// TestBenchTinyFleet runs the full-stack benchmark (server here, fleet and
// agents in a child process) on five devices and checks that the JSON
// report is sane.
func TestBenchTinyFleet(t *testing.T) {
	for _, path := range []string{"acm", "acm-tls"} {
		t.Run(path, func(t *testing.T) {
			code, out, errOut := runCLI(t, "bench", "--devices", "5", "--path", path, "--concurrency", "2", "--floor-time", "50ms", "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var rep struct {
				Mode      string                          `json:"mode"`
				Store     string                          `json:"store"`
				Activated int                             `json:"activated"`
				Failed    int                             `json:"failed"`
				Rate      float64                         `json:"activations_per_second"`
				Latency   struct{ P50, P95, P99 float64 } `json:"latency_ms"`
				Ratio     float64                         `json:"ratio_to_floor"`
				Floor     float64                         `json:"floor_activations_per_second"`
				RSS       float64                         `json:"peak_rss_mib"`
				FleetRSS  float64                         `json:"fleet_peak_rss_mib"`
				CPU       struct {
					Server      float64 `json:"server_per_activation_ms"`
					Fleet       float64 `json:"fleet_per_activation_ms"`
					Attribution string  `json:"attribution"`
				} `json:"cpu"`
				Calls struct {
					Total int `json:"total"`
				} `json:"calls_per_activation"`
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("JSON: %v\n%s", err, out)
			}
			if rep.Mode != "stack" || rep.Activated != 5 || rep.Failed != 0 {
				t.Errorf("mode %q, activated %d, failed %d", rep.Mode, rep.Activated, rep.Failed)
			}
			if !strings.Contains(rep.Store, "fsync on") || !strings.Contains(rep.CPU.Attribution, "child process") {
				t.Errorf("store %q, CPU attribution %q: want fsync on and the fleet in a child process", rep.Store, rep.CPU.Attribution)
			}
			// Server CPU per activation comes from the server process alone;
			// an activation cannot cost it nothing, nor seconds.
			if rep.CPU.Server <= 0 || rep.CPU.Server > 5000 || rep.CPU.Fleet <= 0 || rep.FleetRSS <= 0 {
				t.Errorf("server %.2f ms/activation, fleet %.2f ms/activation, fleet RSS %.1f MiB", rep.CPU.Server, rep.CPU.Fleet, rep.FleetRSS)
			}
			if rep.Rate <= 0 || rep.Floor <= 0 || rep.Ratio <= 0 { // the ratio is reported, not judged: it depends on the load
				t.Errorf("rate %.2f, floor %.2f, ratio %.3f; want positive figures", rep.Rate, rep.Floor, rep.Ratio)
			}
			if !(rep.Latency.P50 > 0 && rep.Latency.P50 <= rep.Latency.P95 && rep.Latency.P95 <= rep.Latency.P99) {
				t.Errorf("latency %+v, want 0 < p50 <= p95 <= p99", rep.Latency)
			}
			if rep.RSS <= 0 || rep.Calls.Total == 0 {
				t.Errorf("rss %.1f MiB, calls %d", rep.RSS, rep.Calls.Total)
			}
		})
	}
	for _, mode := range []string{"stack", "engine"} {
		code, out, errOut := runCLI(t, "bench", "--devices", "2", "--path", "ccm", "--floor-time", "20ms", "--mode", mode)
		if code != 0 || !strings.Contains(out, "floor allows    n/a") || !strings.Contains(out, "activations/s") || !strings.Contains(out, "mode "+mode) {
			t.Errorf("ccm text report, mode %s: exit %d\n%s%s", mode, code, out, errOut)
		}
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--path", "nope"},
		{"bench", "--devices", "0"},
		{"bench", "--path", "acm", "--amt-version", "19.0.5"},
		{"bench", "--amt-version", "banana"},
		{"bench", "--concurrency", "-1"},
		{"bench", "--floor-time", "0s"},
		{"bench", "--mode", "warp"},
		{"bench-fleet"}, // only amtrcs bench starts it
	} {
		code, _, errOut := runCLI(t, args...)
		if code != exitUsage || errOut == "" {
			t.Errorf("%v: exit %d (%q), want %d with a reason", args, code, errOut, exitUsage)
		}
	}
}

// TestBenchIdleAgents runs `bench --idle-agents` on a few agents and reads
// the JSON a script would: the figures at the top level, every agent back.
func TestBenchIdleAgents(t *testing.T) {
	code, out, errOut := runCLI(t, "bench", "--idle-agents", "10", "--concurrency", "5", "--idle-hold", "1s", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		IdleAgents int      `json:"idle_agents"`
		RSS        float64  `json:"idle_server_rss_mib"`
		Reconnect  float64  `json:"reconnect_seconds"`
		Failed     *int     `json:"failed"`
		Failures   []string `json:"failures"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	if rep.IdleAgents != 10 || rep.Failed == nil || *rep.Failed != 0 || rep.RSS <= 0 || rep.Reconnect <= 0 {
		t.Fatalf("idle agents %d, failed %v (%v), server RSS %.1f MiB, reconnect %.2f s", rep.IdleAgents, rep.Failed, rep.Failures, rep.RSS, rep.Reconnect)
	}
}
