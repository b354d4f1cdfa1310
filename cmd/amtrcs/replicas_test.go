package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"sync"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/bench"
	"github.com/amtrcs/amtrcs/internal/pgtest"
)

// fleetDevices is the size of the several-servers test's fleet: the
// issue's 300 by default (in CI too); smaller for a quick local run.
var fleetDevices = flag.Int("fleet-devices", 300, "devices of TestSeveralServersOneDies")

// Three `amtrcs serve` processes share one PostgreSQL database; the
// agents of the fleet are spread over them, and one server is killed
// with SIGKILL while the fleet activates. Its agents reconnect to the
// others, which take its devices over once its leases expire and resume
// the interrupted sessions. Every device ends provisioned with a password
// the store holds (the simulated firmware accepts it) or not provisioned,
// and every job ends exactly once: no job is left running, and no device
// has two successful activations.
func TestSeveralServersOneDies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three servers and a fleet")
	}
	url := pgtest.URL(t)
	logs := &syncWriter{w: &bytes.Buffer{}}
	start := time.Now()
	rep, err := bench.RunReplicas(context.Background(), bench.ReplicaConfig{
		Devices: *fleetDevices, Replicas: 3, Store: bench.StorePostgres, DatabaseURL: url, KillReplica: true,
		Binary: amtrcsBinary(t), LeaseTTL: 10 * time.Second, Timeout: 20 * time.Minute, Logs: logs,
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, tail(logs.String(), 8000))
	}
	out, _ := json.MarshalIndent(rep, "", "  ")
	t.Logf("%d devices in %s:\n%s", *fleetDevices, time.Since(start).Round(time.Second), out)
	if rep.Killed != 2 {
		t.Errorf("killed server %d, want 2", rep.Killed)
	}
	if rep.JobsInterrupted == 0 {
		t.Errorf("no job was interrupted: the kill did not land mid-fleet")
	}
	if !rep.OK() || rep.Provisioned != *fleetDevices {
		t.Errorf("the fleet did not end as it must: provisioned %d of %d, failed %d, lost %d, jobs run twice %d, unended %d: %v\n%s",
			rep.Provisioned, *fleetDevices, rep.Failed, rep.Lost, rep.JobsRunTwice, rep.JobsUnended, rep.Failures, tail(logs.String(), 8000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// syncWriter serializes the servers' log writes into one buffer.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
