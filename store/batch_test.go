package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func openBatchTest(t *testing.T, opts Options) *Store {
	t.Helper()
	return backends[0].openBatch(t, opts)
}

func (b backendCase) openBatch(t *testing.T, opts Options) *Store {
	t.Helper()
	opts.KEK, opts.Logger, opts.NoSync = KEKSource{Key: testKEK}, quietLogger(), true
	s, err := b.open(t, b.place(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// queued waits until n calls wait behind the running commit.
func queued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s.batch.mu.Lock()
		got := len(s.batch.queue)
		s.batch.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Batch calls queued after 2 minutes, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBatchGroupCommit holds one Batch commit open while others arrive,
// and checks which calls commit, in how many commits, with which errors.
// Calls arriving during a commit must share the next one; a failing call
// gets its own error and leaves no write; the others still commit.
func TestBatchGroupCommit(t *testing.T) {
	tests := []struct {
		name        string
		waiting     int
		fail        map[int]bool // these calls return an error
		wantCommits uint64       // after the first (blocking) one
	}{
		{"all succeed share one commit", 20, nil, 1},
		{"one failure: retried alone, the rest commit together", 20, map[int]bool{7: true}, 1},
		{"every call fails", 5, map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openBatchTest(t, Options{})
			release, first := holdCommit(t, s)
			errFail := errors.New("refused by the test")
			var wg sync.WaitGroup
			errs := make([]error, tc.waiting)
			for i := range tc.waiting {
				wg.Go(func() {
					errs[i] = s.Batch(func(tx *Tx) error {
						if err := tx.Put(Devices, fmt.Sprint("d", i), device{ID: fmt.Sprint(i)}); err != nil {
							return err
						}
						if tc.fail[i] {
							return fmt.Errorf("call %d: %w", i, errFail)
						}
						return tx.Audit(Event{Action: "test.batch", Subject: fmt.Sprint(i), Outcome: OutcomeSuccess})
					})
				})
			}
			queued(t, s, tc.waiting)
			before := s.Stats()
			close(release)
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			after := s.Stats()
			// The first commit is counted once the blocking call returns;
			// the rest are the waiting calls' commits.
			if got := after.Commits - before.Commits - 1; got != tc.wantCommits {
				t.Errorf("%d commits for %d waiting calls, want %d", got, tc.waiting, tc.wantCommits)
			}
			ok := 0
			for i, err := range errs {
				exists, xerr := existsDevice(s, fmt.Sprint("d", i))
				if xerr != nil {
					t.Fatal(xerr)
				}
				switch {
				case tc.fail[i] && !errors.Is(err, errFail):
					t.Errorf("call %d = %v, want its own error", i, err)
				case tc.fail[i] && exists:
					t.Errorf("call %d failed and its write was committed", i)
				case !tc.fail[i] && err != nil:
					t.Errorf("call %d = %v, want nil (another call's failure must not fail it)", i, err)
				case !tc.fail[i] && !exists:
					t.Errorf("call %d returned nil and its write is missing", i)
				}
				if err == nil {
					ok++
				}
			}
			if got := after.BatchCalls - before.BatchCalls - 1; got != uint64(ok) {
				t.Errorf("BatchCalls grew by %d, want %d", got, ok)
			}
			events, err := s.AuditLog(AuditFilter{Action: "test.batch"})
			if err != nil || len(events) != ok {
				t.Errorf("%d audit events (%v), want %d: a failed call's event was kept or a good one lost", len(events), err, ok)
			}
		})
	}
}

// holdCommit starts a Batch call that blocks inside its commit until
// release is closed, and returns once it is blocked there.
func holdCommit(t *testing.T, s *Store) (release chan struct{}, done chan error) {
	t.Helper()
	release, done = make(chan struct{}), make(chan error, 1)
	entered := make(chan struct{})
	var once sync.Once
	go func() {
		done <- s.Batch(func(tx *Tx) error {
			once.Do(func() { close(entered) })
			<-release
			return tx.Put(Devices, "first", device{ID: "first"})
		})
	}()
	<-entered
	return release, done
}

func existsDevice(s *Store, id string) (ok bool, err error) {
	err = s.View(func(tx *Tx) error {
		ok, err = tx.Exists(Devices, id)
		return err
	})
	return ok, err
}

// TestBatchPanic: a panic in one call reaches its own caller, and the
// other calls of the commit still commit.
func TestBatchPanic(t *testing.T) {
	s := openBatchTest(t, Options{})
	release, done := holdCommit(t, s)
	var wg sync.WaitGroup
	var recovered any
	wg.Go(func() {
		defer func() { recovered = recover() }()
		_ = s.Batch(func(*Tx) error { panic("boom") })
	})
	var otherErr error
	wg.Go(func() { otherErr = s.Batch(func(tx *Tx) error { return tx.Put(Devices, "b", device{ID: "b"}) }) })
	queued(t, s, 2)
	close(release)
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if recovered != "boom" {
		t.Errorf("the panicking caller recovered %v, want \"boom\"", recovered)
	}
	if otherErr != nil {
		t.Errorf("the other call = %v, want nil", otherErr)
	}
	if ok, _ := existsDevice(s, "b"); !ok {
		t.Error("the other call's write is missing")
	}
}

// TestBatchDelayAndMax: a lone call waits BatchDelay before committing; a
// full batch (MaxBatch calls) commits at once, in one commit.
func TestBatchDelayAndMax(t *testing.T) {
	t.Run("lone call waits the delay", func(t *testing.T) {
		// With an hour's delay and room for two, a lone call stays queued,
		// uncommitted; a second call fills the batch and both commit in
		// one. No clock is read: only the delay can hold the first call.
		s := openBatchTest(t, Options{BatchDelay: time.Hour, MaxBatch: 2})
		first := make(chan error, 1)
		go func() { first <- s.Batch(func(tx *Tx) error { return tx.Put(Devices, "a", device{ID: "a"}) }) }()
		queued(t, s, 1)
		if st := s.Stats(); st.Commits != 0 {
			t.Fatalf("stats %+v while the lone call waits: it committed without waiting for BatchDelay", st)
		}
		select {
		case err := <-first:
			t.Fatalf("the lone call returned (%v) before its batch was full or the delay over", err)
		default:
		}
		if err := s.Batch(func(tx *Tx) error { return tx.Put(Devices, "b", device{ID: "b"}) }); err != nil {
			t.Fatal(err)
		}
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.Commits != 1 || st.BatchCalls != 2 {
			t.Errorf("stats %+v, want 1 commit of 2 calls", st)
		}
	})
	t.Run("full batch does not wait", func(t *testing.T) {
		s := openBatchTest(t, Options{BatchDelay: time.Hour, MaxBatch: 3})
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range 3 {
			wg.Go(func() {
				errs[i] = s.Batch(func(tx *Tx) error { return tx.Put(Devices, fmt.Sprint(i), device{ID: fmt.Sprint(i)}) })
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			t.Fatal("3 Batch calls with MaxBatch 3 still waiting after 30 s: a full batch must not wait for BatchDelay")
		}
		for i, err := range errs {
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		}
		if st := s.Stats(); st.Commits != 1 || st.BatchCalls != 3 {
			t.Errorf("stats %+v, want 1 commit of 3 calls", st)
		}
	})
}

// TestBatchAfterClose: a Batch on a closed store fails, it does not hang.
func TestBatchAfterClose(t *testing.T) {
	forBackends(t, func(t *testing.T, b backendCase) {
		s := b.openBatch(t, Options{})
		s.Close()
		done := make(chan error, 1)
		go func() { done <- s.Batch(func(tx *Tx) error { return tx.Put(Devices, "a", device{ID: "a"}) }) }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("Batch on a closed store = nil, want an error")
			}
		case <-time.After(2 * time.Minute):
			t.Fatal("Batch on a closed store hangs")
		}
	})
}

// TestOnCommit: the observer hears of every committed write transaction,
// Batch and Update alike, with the calls each carried; a failed one is not
// a commit.
func TestOnCommit(t *testing.T) {
	forBackends(t, func(t *testing.T, b backendCase) {
		s := b.openBatch(t, Options{})
		var mu sync.Mutex
		var commits, calls int
		s.OnCommit(func(_ time.Duration, n int) {
			mu.Lock()
			commits++
			calls += n
			mu.Unlock()
		})
		if err := s.Update(func(tx *Tx) error { return tx.Put(Devices, "a", "x") }); err != nil {
			t.Fatal(err)
		}
		if err := s.Batch(func(tx *Tx) error { return tx.Put(Devices, "b", "x") }); err != nil {
			t.Fatal(err)
		}
		if err := s.Update(func(*Tx) error { return errors.New("no") }); err == nil {
			t.Fatal("a failing Update returned nil")
		}
		mu.Lock()
		got := fmt.Sprint(commits, calls)
		mu.Unlock()
		st := s.Stats()
		if got != "2 2" || st.Commits != 2 {
			t.Fatalf("observed %s commits and calls, stats %+v; want 2 2", got, st)
		}
		s.OnCommit(nil)
		if err := s.Update(func(tx *Tx) error { return tx.Put(Devices, "c", "x") }); err != nil {
			t.Fatal(err)
		}
		if commits != 2 {
			t.Fatalf("observer still called after OnCommit(nil): %d", commits)
		}
	})
}

// TestBatchPanicAlone: on either backend, a Batch function's panic reaches
// its caller and rolls its writes back, and the store goes on.
func TestBatchPanicAlone(t *testing.T) {
	forBackends(t, func(t *testing.T, b backendCase) {
		s := b.openBatch(t, Options{})
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("recovered %v, want \"boom\"", r)
				}
			}()
			s.Batch(func(tx *Tx) error {
				tx.Put(Devices, "a", device{ID: "a"})
				panic("boom")
			})
		}()
		if ok, _ := existsDevice(s, "a"); ok {
			t.Error("the panicking call's write was committed")
		}
		if err := s.Batch(func(tx *Tx) error { return tx.Put(Devices, "b", device{ID: "b"}) }); err != nil {
			t.Fatal(err)
		}
		if ok, _ := existsDevice(s, "b"); !ok {
			t.Error("a Batch after the panic did not commit")
		}
	})
}
