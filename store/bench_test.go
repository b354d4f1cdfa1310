package store

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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

func openBench(b *testing.B, opts Options) *Store {
	b.Helper()
	// fsync on: this is the durability the activation flow relies on.
	opts.KEK, opts.Logger = KEKSource{Key: testKEK}, quietLogger()
	s, err := Open(filepath.Join(b.TempDir(), "amtrcs.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkCommit: one Update per activation step, one fsync each.
func BenchmarkCommit(b *testing.B) {
	s := openBench(b, Options{})
	var i int64
	w0 := writtenBytes()
	for b.Loop() {
		i++
		if err := s.Update(func(tx *Tx) error { return benchCommit(tx, i) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "commits/s")
	reportWritten(b, w0, i)
}

// BenchmarkCommitBatched: 16 goroutines per core (as many concurrent
// activations) through Batch, which shares one commit and fsync among the
// calls that arrive together, at several BatchDelay values (10ms is
// bbolt's own Batch default).
func BenchmarkCommitBatched(b *testing.B) {
	for _, d := range []time.Duration{0, 2 * time.Millisecond, 10 * time.Millisecond} {
		b.Run("delay="+d.String(), func(b *testing.B) {
			s := openBench(b, Options{BatchDelay: d})
			var n atomic.Int64
			w0 := writtenBytes()
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
			st := s.Stats()
			b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "calls/s")
			b.ReportMetric(float64(st.BatchCalls)/float64(max(st.Commits, 1)), "calls/commit")
			reportWritten(b, w0, n.Load())
		})
	}
}

func reportWritten(b *testing.B, w0, n int64) {
	if w0 >= 0 && n > 0 {
		b.ReportMetric(float64(writtenBytes()-w0)/float64(n)/1024, "KiB-written/call")
	}
}

// writtenBytes is the bytes this process has passed to write calls, or -1
// where /proc/self/io is not available.
func writtenBytes() int64 {
	fh, err := os.Open("/proc/self/io")
	if err != nil {
		return -1
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// BenchmarkCommitPostgres: the activation step's commit on the PostgreSQL
// backend (synchronous commit), one writer and 16 goroutines per core;
// each write is its own SERIALIZABLE transaction, and the audit counter
// row makes concurrent writers retry.
func BenchmarkCommitPostgres(b *testing.B) {
	for _, par := range []int{0, 16} {
		b.Run(fmt.Sprintf("parallel=%d", par), func(b *testing.B) {
			pg := backends[1]
			s, err := pg.open(b, pg.place(b), Options{KEK: KEKSource{Key: testKEK}, Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var n atomic.Int64
			write := func() error {
				i := n.Add(1)
				return s.Update(func(tx *Tx) error { return benchCommit(tx, i) })
			}
			b.ResetTimer()
			if par == 0 {
				for b.Loop() {
					if err := write(); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.SetParallelism(par)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := write(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "commits/s")
		})
	}
}
