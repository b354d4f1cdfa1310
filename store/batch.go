package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxBatch is how many Batch calls one commit takes at most.
const DefaultMaxBatch = 1000

// batcher is a group commit: the first Batch call that finds no commit
// running leads one, taking every call queued so far; calls that arrive
// while it runs wait and go together in the next one. Unlike bbolt's own
// Batch, which waits a fixed delay (10 ms by default) before every
// commit, a lone writer commits at once and concurrent writers share the
// commit and its fsync.
type batcher struct {
	s     *Store
	delay time.Duration
	max   int

	mu      sync.Mutex
	queue   []*batchCall
	leading bool
	full    chan struct{} // signalled when the queue reaches max
}

type batchCall struct {
	fn   func(*Tx) error
	done chan error
}

// panicked carries a panic of a Batch function to its caller's goroutine,
// so that one writer's bug does not kill the goroutine committing others.
type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprintf("panic in a store transaction: %v", p.v) }

// Batch is Update for many concurrent writers: calls from several goroutines
// are combined into one commit and one fsync. It is as durable as Update:
// it returns nil only once the commit holding fn's writes is on disk (unless
// Options.NoSync). fn may run more than once (when another function in the
// same commit fails, each is retried), so it must not have effects outside
// the transaction.
//
// On PostgreSQL each call is an Update of its own: connections from a pool
// commit in parallel there, and one transaction shared by many calls would
// only widen serialization conflicts.
func (s *Store) Batch(fn func(tx *Tx) error) error {
	if !s.be.groupCommit() {
		return rethrow(s.update(fn))
	}
	c := &batchCall{fn: fn, done: make(chan error, 1)}
	b := s.batch
	b.mu.Lock()
	b.queue = append(b.queue, c)
	if len(b.queue) >= b.max {
		select {
		case b.full <- struct{}{}:
		default:
		}
	}
	lead := !b.leading
	b.leading = true
	b.mu.Unlock()
	if lead {
		b.round()
	}
	return rethrow(<-c.done)
}

// rethrow panics again with a Batch function's panic, in its caller's
// goroutine.
func rethrow(err error) error {
	if p, ok := err.(panicked); ok {
		panic(p.v)
	}
	return err
}

// round commits the queued calls (after waiting up to delay for more), then
// hands the lead to a new goroutine if calls arrived meanwhile, so that the
// caller that led returns as soon as its own commit is done.
func (b *batcher) round() {
	if b.delay > 0 {
		t := time.NewTimer(b.delay)
		select {
		case <-t.C:
		case <-b.full:
			t.Stop()
		}
	}
	b.mu.Lock()
	n := min(len(b.queue), b.max)
	calls := b.queue[:n:n]
	b.queue = append([]*batchCall(nil), b.queue[n:]...)
	b.mu.Unlock()

	b.commit(calls)

	b.mu.Lock()
	more := len(b.queue) > 0
	b.leading = more
	// Drain a stale signal: the calls it counted are in this commit.
	select {
	case <-b.full:
	default:
	}
	b.mu.Unlock()
	if more {
		go b.round()
	}
}

// commit runs calls in one transaction. When one fails, the transaction is
// rolled back, that call is run alone (so that its error is its own, not a
// consequence of another call's writes), and the others are committed
// again without it.
func (b *batcher) commit(calls []*batchCall) {
	for len(calls) > 0 {
		failed := -1
		start := time.Now()
		err := b.s.be.update(func(btx backendTx) error {
			for i, c := range calls {
				if err := b.s.call(btx, c.fn); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			if err == nil {
				b.s.stats.commits.Add(1)
				b.s.stats.batched.Add(uint64(len(calls)))
				b.s.observeCommit(time.Since(start), len(calls))
			}
			for _, c := range calls {
				c.done <- err
			}
			return
		}
		c := calls[failed]
		c.done <- b.s.update(c.fn)
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
}

// call runs fn on its own Tx within btx, turning a panic into an error.
func (s *Store) call(btx backendTx, fn func(*Tx) error) (err error) {
	t := &Tx{tx: btx, s: s}
	defer func() {
		t.forget()
		if p := recover(); p != nil {
			err = panicked{p}
		}
	}()
	return fn(t)
}

// update is Update with panics returned as errors, for calls run alone on
// behalf of a Batch caller.
func (s *Store) update(fn func(*Tx) error) error {
	start := time.Now()
	err := s.be.update(func(btx backendTx) error { return s.call(btx, fn) })
	if err == nil {
		s.stats.commits.Add(1)
		s.stats.batched.Add(1)
		s.observeCommit(time.Since(start), 1)
	}
	return err
}

// Stats counts a store's write transactions since Open.
type Stats struct {
	// Commits is the number of committed write transactions (each one
	// fsync'd unless Options.NoSync).
	Commits uint64
	// BatchCalls is the number of Batch calls committed; BatchCalls over
	// the commits they took is the group commit's gain.
	BatchCalls uint64
}

type stats struct {
	commits, batched atomic.Uint64
}

// Stats returns the write counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.stats.commits.Load(), BatchCalls: s.stats.batched.Load()}
}

// CommitObserver is told of each committed write transaction: how long it
// took, fsync included, and how many calls it carried (Batch calls
// sharing it, or 1 for Update). It runs on the committing goroutine after
// the commit, so it must be quick; the server's metrics use it.
type CommitObserver func(took time.Duration, calls int)

// OnCommit sets the store's one commit observer (nil: none), replacing any
// set before.
func (s *Store) OnCommit(fn CommitObserver) {
	if fn == nil {
		s.onCommit.Store(nil)
		return
	}
	s.onCommit.Store(&fn)
}

func (s *Store) observeCommit(took time.Duration, calls int) {
	if fn := s.onCommit.Load(); fn != nil {
		(*fn)(took, calls)
	}
}
