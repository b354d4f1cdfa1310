package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchTinyFleet runs the benchmark on five devices and checks that the
// JSON report is sane.
func TestBenchTinyFleet(t *testing.T) {
	for _, path := range []string{"acm", "acm-tls"} {
		t.Run(path, func(t *testing.T) {
			code, out, errOut := runCLI(t, "bench", "--devices", "5", "--path", path, "--concurrency", "2", "--floor-time", "50ms", "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var rep struct {
				Activated int                             `json:"activated"`
				Failed    int                             `json:"failed"`
				Rate      float64                         `json:"activations_per_second"`
				Latency   struct{ P50, P95, P99 float64 } `json:"latency_ms"`
				Ratio     float64                         `json:"ratio_to_floor"`
				Floor     float64                         `json:"floor_activations_per_second"`
				RSS       float64                         `json:"peak_rss_mib"`
				CPU       struct {
					Server float64 `json:"server_per_activation_ms"`
				} `json:"cpu"`
				Calls struct {
					Total int `json:"total"`
				} `json:"calls_per_activation"`
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("JSON: %v\n%s", err, out)
			}
			if rep.Activated != 5 || rep.Failed != 0 {
				t.Errorf("activated %d, failed %d", rep.Activated, rep.Failed)
			}
			if rep.Rate <= 0 || rep.Floor <= 0 || rep.Ratio <= 0 || rep.Ratio > 1.5 {
				t.Errorf("rate %.2f, floor %.2f, ratio %.3f; want a positive rate and 0 < ratio <= 1.5", rep.Rate, rep.Floor, rep.Ratio)
			}
			if !(rep.Latency.P50 > 0 && rep.Latency.P50 <= rep.Latency.P95 && rep.Latency.P95 <= rep.Latency.P99) {
				t.Errorf("latency %+v, want 0 < p50 <= p95 <= p99", rep.Latency)
			}
			if rep.RSS <= 0 || rep.Calls.Total == 0 {
				t.Errorf("rss %.1f MiB, calls %d", rep.RSS, rep.Calls.Total)
			}
		})
	}
	code, out, _ := runCLI(t, "bench", "--devices", "2", "--path", "ccm", "--floor-time", "20ms")
	if code != 0 || !strings.Contains(out, "floor allows    n/a") || !strings.Contains(out, "activations/s") {
		t.Errorf("ccm text report: exit %d\n%s", code, out)
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
	} {
		code, _, errOut := runCLI(t, args...)
		if code != exitUsage || errOut == "" {
			t.Errorf("%v: exit %d (%q), want %d with a reason", args, code, errOut, exitUsage)
		}
	}
}
