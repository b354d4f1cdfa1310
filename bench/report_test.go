package bench

import (
	"encoding/json"
	"runtime"
	"testing"
	"time"
)

// TestServerRSAShare: the top-level figures of the server's CPU and its RSA
// share are in the JSON report, from the CPU cost per operation the floor
// measured in the same process.
func TestServerRSAShare(t *testing.T) {
	f, err := MeasureFloor(20 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" && (f.SignCPUMS <= 0 || f.VerifyCPUMS <= 0 || f.VerifyCPUMS >= f.SignCPUMS) {
		t.Fatalf("CPU per sign %.3f ms, per verify %.3f ms: want both measured, a verify cheaper", f.SignCPUMS, f.VerifyCPUMS)
	}
	f.SignCPUMS, f.VerifyCPUMS = 1, 0.05
	for _, tc := range []struct {
		path       Path
		handshakes float64
		cpu        float64
		rsa, share float64
	}{
		{PathACM, 0, 4, 1, 0.25},
		{PathACMTLS, 4, 6, 2*1 + (2*2+2)*0.05, 2.3 / 6},
		{PathCCM, 0, 3, 0, 0},
		{PathACM, 0, 0, 1, 0}, // nothing activated: no share
	} {
		r := &Report{Path: tc.path, Floor: f, Ops: OpsFor(tc.path, tc.handshakes)}
		r.CPU.ServerPerActivationMS = tc.cpu
		r.serverRSA()
		if !near(r.ServerRSAMSPerActivation, tc.rsa) || !near(r.ServerRSAShare, tc.share) || r.ServerCPUMSPerActivation != tc.cpu {
			t.Errorf("%s: rsa %.3f ms, share %.3f, cpu %.2f; want %.3f, %.3f, %.2f", tc.path, r.ServerRSAMSPerActivation, r.ServerRSAShare, r.ServerCPUMSPerActivation, tc.rsa, tc.share, tc.cpu)
		}
	}
	r := &Report{Path: PathACM, Floor: f, Ops: OpsFor(PathACM, 0), RelayRoundTrips: 30}
	r.CPU.ServerPerActivationMS = 2
	r.serverRSA()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{"server_cpu_ms_per_activation": 2, "server_rsa_ms_per_activation": 1, "server_rsa_share": 0.5, "relay_round_trips_per_activation": 30, "failed": 0} {
		if got, ok := top[k].(float64); !ok || !near(got, want) {
			t.Errorf("JSON %s = %v, want %v", k, top[k], want)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
