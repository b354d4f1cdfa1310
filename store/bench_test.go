package store

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// benchCommit is the write an activation step makes: the device's sealed
// admin password, the device record, and the audit event, in one transaction.
func benchCommit(tx *Tx, i int64) error {
	id := fmt.Sprintf("dev-%08d", i)
	if err := tx.PutSecret("device/"+id+"/admin", []byte("Bench-Passw0rd-0123")); err != nil {
		return err
	}
	if err := tx.Put(Devices, id, device{ID: id, Host: id + ".corp.example", State: "acm"}); err != nil {
		return err
	}
	return tx.Audit(Event{Actor: "rcs", Action: "device.activate", Subject: id, Outcome: OutcomeSuccess})
}

func openBench(b *testing.B) *Store {
	b.Helper()
	// fsync on: this is the durability the activation flow relies on.
	s, err := Open(filepath.Join(b.TempDir(), "amtrcs.db"), Options{KEK: KEKSource{Key: testKEK}, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkCommit: one Update per activation step, one fsync each.
func BenchmarkCommit(b *testing.B) {
	s := openBench(b)
	var i int64
	for b.Loop() {
		i++
		if err := s.Update(func(tx *Tx) error { return benchCommit(tx, i) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkCommitBatched: many goroutines (as many concurrent activations)
// through Batch, which shares one fsync among the calls that arrive together.
func BenchmarkCommitBatched(b *testing.B) {
	s := openBench(b)
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if err := s.Batch(func(tx *Tx) error { return benchCommit(tx, i) }); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "commits/s")
}
