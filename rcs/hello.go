package rcs

import (
	"container/list"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amtrcs/amtrcs/amt/hello"
)

// HelloOptions tune the hello listener; zero values take the defaults.
type HelloOptions struct {
	// Handle gets each well-formed hello with its sender's address.
	Handle func(ctx context.Context, m hello.Message, from netip.Addr)
	// ReadTimeout bounds the whole read of one hello, from accept to the
	// device's close (default 10 s): a sender trickling bytes gains nothing.
	ReadTimeout time.Duration
	// Workers handle hellos at once (default 16); Queue more may wait
	// (default 256), and beyond that a hello is dropped: devices resend.
	Workers, Queue int
	// PerSource bounds the connections one address may hold open while
	// they are read (default 4), so one host cannot take every slot.
	PerSource int
	// MaxConns bounds the connections being read at once (default 1024).
	// A new connection beyond it sheds the oldest one being read: a held
	// connection gains its holder nothing but time, and a real device's
	// hello takes a moment.
	MaxConns int
	// WarnEvery bounds the WARN lines about bad hellos to one per period
	// (default a minute); the others are counted and the next line tells
	// how many it stands for.
	WarnEvery time.Duration
	Logger    *slog.Logger
}

// HelloListener reads legacy hello messages on TCP (port 9971): each
// connection carries one hello, complete when the device closes its side.
type HelloListener struct {
	o        HelloOptions
	queue    chan helloJob
	mu       sync.Mutex
	bySource map[netip.Addr]int
	held     *list.List // of *heldConn, oldest first
	warn     warnLimiter
	// Counters for tests and logs.
	Accepted, Refused, Shed, Malformed, Dropped, Handled atomic.Int64
}

// heldConn is a connection being read; elem is nil once it left the list.
type heldConn struct {
	c    net.Conn
	from netip.Addr
	elem *list.Element
}

type helloJob struct {
	m    hello.Message
	from netip.Addr
}

// NewHelloListener returns a listener; Serve runs it.
func NewHelloListener(o HelloOptions) *HelloListener {
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 10 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.Queue <= 0 {
		o.Queue = 256
	}
	if o.PerSource <= 0 {
		o.PerSource = 4
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 1024
	}
	if o.WarnEvery <= 0 {
		o.WarnEvery = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &HelloListener{o: o, queue: make(chan helloJob, o.Queue), bySource: map[netip.Addr]int{}, held: list.New(),
		warn: warnLimiter{every: o.WarnEvery, log: o.Logger}}
}

// Serve accepts on ln until ctx ends, then closes ln and waits for its
// workers.
func (h *HelloListener) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	for i := 0; i < h.o.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-h.queue:
					if h.o.Handle != nil {
						h.o.Handle(ctx, j.m, j.from)
					}
					h.Handled.Add(1)
				}
			}
		}()
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var readers sync.WaitGroup
	var err error
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				var ne net.Error
				if errors.As(aerr, &ne) && ne.Timeout() {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				err = aerr
			}
			break
		}
		from := addrOf(c.RemoteAddr())
		hc := &heldConn{c: c, from: from}
		if !h.admit(hc) {
			// Closing at once costs the listener nothing; a real device
			// retries, a flood finds nothing to hold.
			h.Refused.Add(1)
			c.Close()
			continue
		}
		h.Accepted.Add(1)
		readers.Add(1)
		go func() {
			defer readers.Done()
			defer h.leave(hc)
			h.read(ctx, c, from)
		}()
	}
	readers.Wait()
	wg.Wait()
	return err
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ap := ta.AddrPort(); ap.IsValid() {
			return ap.Addr().Unmap()
		}
	}
	return netip.Addr{}
}

// admit takes hc unless its source holds PerSource connections already;
// at MaxConns it sheds the oldest connection to make room.
func (h *HelloListener) admit(hc *heldConn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bySource[hc.from] >= h.o.PerSource {
		return false
	}
	if h.held.Len() >= h.o.MaxConns {
		old := h.held.Front().Value.(*heldConn)
		h.removeLocked(old)
		// Its reader sees the close, fails its read and leaves.
		old.c.Close()
		h.Shed.Add(1)
	}
	hc.elem = h.held.PushBack(hc)
	h.bySource[hc.from]++
	return true
}

func (h *HelloListener) leave(hc *heldConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(hc)
}

func (h *HelloListener) removeLocked(hc *heldConn) {
	if hc.elem == nil {
		return
	}
	h.held.Remove(hc.elem)
	hc.elem = nil
	if h.bySource[hc.from]--; h.bySource[hc.from] <= 0 {
		delete(h.bySource, hc.from)
	}
}

// Held is how many connections are being read, and from how many sources.
func (h *HelloListener) Held() (conns, sources int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held.Len(), len(h.bySource)
}

// read takes one hello: everything until the sender closes, at most
// hello.MaxSize bytes, within ReadTimeout in all.
func (h *HelloListener) read(ctx context.Context, c net.Conn, from netip.Addr) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(h.o.ReadTimeout))
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	b, err := io.ReadAll(io.LimitReader(c, hello.MaxSize+1))
	if err != nil {
		h.Malformed.Add(1)
		h.o.Logger.Debug("hello: read failed", "from", from, "bytes", len(b), "err", err)
		return
	}
	if len(b) > hello.MaxSize {
		h.Malformed.Add(1)
		h.warn.Warn("hello: message too long; dropped", "from", from, "max", hello.MaxSize)
		return
	}
	m, err := hello.Decode(b)
	if err != nil {
		h.Malformed.Add(1)
		h.warn.Warn("hello: malformed; dropped", "from", from, "err", err)
		return
	}
	select {
	case h.queue <- helloJob{m: m, from: from}:
	default:
		h.Dropped.Add(1)
		h.warn.Warn("hello: queue full; dropped (the device will send again)", "from", from, "device", m.UUID.String())
	}
}
