package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
)

// TestRunPaths activates a tiny fleet on every path and checks that the
// report is whole and consistent.
func TestRunPaths(t *testing.T) {
	for _, tc := range []struct {
		path       Path
		handshakes float64 // TLS connections per activation
		floor      bool
		// relay is the round trips across the relay per activation:
		// streams, host-interface frames and WS-MAN requests. The host
		// interface's facts come in the agent's report; only the state
		// (before the first write), the local system account and the
		// confirm are read over the relay.
		relay int
	}{
		{PathACM, 0, true, 30},
		{PathACMTLS, 4, true, 29}, // 2 mutual (setup), 2 to the enforced local TLS port
		{PathCCM, 0, false, 19},
		{PathLegacy, 2, true, 0}, // reached over the network: no relay
	} {
		t.Run(string(tc.path), func(t *testing.T) {
			rep, err := Run(context.Background(), Config{Devices: 4, Path: tc.path, Concurrency: 2, FloorTime: 50 * time.Millisecond, Mode: ModeEngine})
			if err != nil {
				if tc.path == PathLegacy && strings.Contains(err.Error(), "assign requested address") {
					t.Skipf("no 127.0.0.0/8 beyond 127.0.0.1 here: %v", err)
				}
				t.Fatal(err)
			}
			if rep.Failed != 0 || rep.Activated != 4 {
				t.Fatalf("activated %d, failed %d: %v", rep.Activated, rep.Failed, rep.Failures)
			}
			if rep.ActivationsPerSecond <= 0 || !(rep.Latency.P50 <= rep.Latency.P95 && rep.Latency.P95 <= rep.Latency.P99 && rep.Latency.P99 <= rep.Latency.Max) || rep.Latency.P50 <= 0 {
				t.Errorf("rate %.2f, latency %+v", rep.ActivationsPerSecond, rep.Latency)
			}
			// At least the handshakes the path needs; a keep-alive
			// connection the firmware closed costs one more now and then.
			if rep.Ops.Handshakes < tc.handshakes || (tc.handshakes == 0) != (rep.Ops.Handshakes == 0) {
				t.Errorf("handshakes per activation %.2f, want at least %.0f", rep.Ops.Handshakes, tc.handshakes)
			}
			// The ratio to the floor is reported, never judged: it depends on
			// how loaded the machine is.
			if (rep.FloorActivationsPerSecond > 0) != tc.floor || (tc.floor && rep.RatioToFloor <= 0) {
				t.Errorf("floor %.2f/s, ratio %.3f", rep.FloorActivationsPerSecond, rep.RatioToFloor)
			}
			if rep.Calls.Total < 5 || rep.Calls.Total != rep.Calls.PTHI+rep.Calls.WSMAN || rep.Calls.TLSConnections < int(tc.handshakes) {
				t.Errorf("calls %+v", rep.Calls)
			}
			// A keep-alive connection the firmware closed costs a stream,
			// and a digest challenge, more.
			extra := 2 * max(0, rep.Calls.TLSConnections-int(tc.handshakes))
			if rep.RelayRoundTrips < tc.relay || rep.RelayRoundTrips > tc.relay+extra || rep.RelayRoundTrips != rep.Calls.RelayRoundTrips {
				t.Errorf("relay round trips per activation %d (calls %+v), want %d", rep.RelayRoundTrips, rep.Calls, tc.relay)
			}
			if rep.CPU.ProcessSeconds <= 0 || rep.PeakRSSMiB <= 0 {
				t.Errorf("cpu %+v, rss %.1f", rep.CPU, rep.PeakRSSMiB)
			}
			// A profile samples 100 times a second: a short run may have none.
			if sum := rep.CPU.ServerShare + rep.CPU.SimShare + rep.CPU.UnlabelledShare; sum != 0 && (sum < 0.999 || sum > 1.001) {
				t.Errorf("CPU shares add up to %.3f: %+v", sum, rep.CPU)
			}
			var out bytes.Buffer
			if err := rep.WriteText(&out); err != nil || !strings.Contains(out.String(), "activations/s") {
				t.Errorf("text report %q, %v", out.String(), err)
			}
		})
	}
}

// TestLatencyBudget: with a latency per call, every call of every
// activation waits it in the simulated firmware, and the report carries the
// figures BENCHMARKS.md quotes. It counts the delayed calls; it never
// judges how long they took, which depends on the machine's load.
func TestLatencyBudget(t *testing.T) {
	for _, mode := range Modes {
		t.Run(string(mode), func(t *testing.T) {
			const lat = 20 * time.Millisecond
			rep, err := Run(context.Background(), Config{Devices: 3, Path: PathACM, Latency: lat, FloorTime: 20 * time.Millisecond, Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Failed != 0 {
				t.Fatal(rep.Failures)
			}
			if want := int64(rep.Activated * rep.Calls.Total); rep.Calls.Total == 0 || rep.DelayedCalls < want {
				t.Errorf("%d calls delayed, want at least %d (%d activations of %d calls): the latency was not applied to every call", rep.DelayedCalls, want, rep.Activated, rep.Calls.Total)
			}
			if rep.LatencyPerCallMS != 20 || rep.Calls.LatencySumMS != float64(rep.Calls.Total)*20 {
				t.Errorf("latency per call %.1f ms, sum %.1f ms for %d calls", rep.LatencyPerCallMS, rep.Calls.LatencySumMS, rep.Calls.Total)
			}
			if rep.Calls.MeanOverSum != rep.Latency.Mean/rep.Calls.LatencySumMS || rep.Calls.P50OverSum != rep.Latency.P50/rep.Calls.LatencySumMS {
				t.Errorf("mean/sum %.3f, p50/sum %.3f for mean %.1f, p50 %.1f, sum %.1f", rep.Calls.MeanOverSum, rep.Calls.P50OverSum, rep.Latency.Mean, rep.Latency.P50, rep.Calls.LatencySumMS)
			}
		})
	}
}

// TestNoLatencyNoDelay: without latency no call is delayed (the counter
// of TestLatencyBudget counts delays, not calls).
func TestNoLatencyNoDelay(t *testing.T) {
	rep, err := Run(context.Background(), Config{Devices: 2, Path: PathCCM, Mode: ModeEngine, FloorTime: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 0 || rep.DelayedCalls != 0 || rep.Calls.MeanOverSum != 0 {
		t.Errorf("failed %d, delayed %d, mean/sum %.3f: want 0, 0, 0", rep.Failed, rep.DelayedCalls, rep.Calls.MeanOverSum)
	}
}

func TestConfigRefusals(t *testing.T) {
	v19, _ := amt.ParseVersion("19.0.5")
	for name, cfg := range map[string]Config{
		"no devices":       {Devices: 0, Path: PathACM},
		"unknown path":     {Devices: 1, Path: "acm-magic"},
		"acm on 19":        {Devices: 1, Path: PathACM, Version: v19},
		"negative latency": {Devices: 1, Path: PathCCM, Latency: -time.Second},
		"too many":         {Devices: MaxDevices + 1, Path: PathCCM},
		"unknown mode":     {Devices: 1, Path: PathCCM, Mode: "warp"},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {95, 10}, {99, 10}, {10, 1}, {0, 1}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("p%.0f = %d, want %d", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("empty percentile")
	}
}

func TestFloorAllows(t *testing.T) {
	f := Floor{Signs: 1000, Verifies: 40000, Cores: 2}
	// 1 sign (1 ms) + 4 verifies (0.1 ms) = 1.1 ms: 909 per second.
	if got := f.Allows(OpsFor(PathACM, 0)); got < 909 || got > 910 {
		t.Errorf("acm floor %.1f, want 909.1", got)
	}
	f.SignsPerCore, f.VerifiesPerCore = 500, 20000
	if got := f.CPUPerActivation(OpsFor(PathACM, 0)); got != 2200*time.Microsecond {
		t.Errorf("acm CPU per activation %s, want 2.2ms", got)
	}
	if got := f.Allows(OpsFor(PathCCM, 0)); got != 0 {
		t.Errorf("ccm floor %.1f, want 0 (none)", got)
	}
	// 2 handshakes: 2*2+1 = 5 signs, 2*6 = 12 verifies: 5.3 ms.
	if got := f.Allows(OpsFor(PathACMTLS, 2)); got < 188 || got > 189 {
		t.Errorf("acm-tls floor %.1f, want 188.7", got)
	}
}
