package rcs

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// agentLink is the connection under an agent's yamux session. It keeps
// the time of the last byte read (the agent's pings arrive even when it is
// idle), which the gateway's sweep judges silence by, and runs a function
// once when the session closes it: yamux closes its connection on every
// way a session ends, so nothing needs to wait for the end.
type agentLink struct {
	net.Conn
	last atomic.Int64 // unix nanoseconds of the last read that returned bytes

	mu      sync.Mutex
	closed  bool
	onClose func()
}

func newAgentLink(c net.Conn, now time.Time) *agentLink {
	l := &agentLink{Conn: c}
	l.last.Store(now.UnixNano())
	return l
}

func (l *agentLink) Read(p []byte) (int, error) {
	n, err := l.Conn.Read(p)
	if n > 0 {
		l.last.Store(time.Now().UnixNano())
	}
	return n, err
}

func (l *agentLink) lastRead() time.Time { return time.Unix(0, l.last.Load()) }

// Close closes the connection and, the first time, runs the function
// whenClosed gave.
func (l *agentLink) Close() error {
	err := l.Conn.Close()
	l.mu.Lock()
	f, first := l.onClose, !l.closed
	l.closed, l.onClose = true, nil
	l.mu.Unlock()
	if first && f != nil {
		f()
	}
	return err
}

// whenClosed makes f run when the link closes, at once if it already has.
func (l *agentLink) whenClosed(f func()) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		f()
		return
	}
	l.onClose = f
	l.mu.Unlock()
}
