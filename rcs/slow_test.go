package rcs_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt/hello"
	"github.com/amtrcs/amtrcs/rcs"
)

// Clients that send the enrollment body one byte at a time, on the API and
// the gateway listener, are cut by the server's read timeout: every one of
// their connections ends from the server's side while they still trickle.
func TestSlowBodiesAreCutOnBothListeners(t *testing.T) {
	e := newEnvWith(t, nil, func(o *rcs.Options) { o.ReadTimeout = 300 * time.Millisecond })
	const perListener = 25
	var stillOpen, handshakeCut atomic.Int64
	closedByServer := map[string]*atomic.Int64{"api": {}, "agent_gateway": {}}
	var wg sync.WaitGroup
	for _, name := range []string{"api", "agent_gateway"} {
		addr := e.srv.Addr(name).String()
		for i := 0; i < perListener; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// The same deadline bounds the TLS handshake: on a
				// loaded machine the server may cut that first. A cut
				// handshake is the server closing too; try again so that
				// the body's deadline is what most connections meet.
				var c *tls.Conn
				var err error
				for attempt := 0; attempt < 5; attempt++ {
					if c, err = tls.Dial("tcp", addr, e.tlsCfg); err == nil {
						break
					}
				}
				if err != nil {
					handshakeCut.Add(1)
					return
				}
				defer c.Close()
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: rcs\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", wire.EnrollPath)
				stop := make(chan struct{})
				defer close(stop)
				go func() {
					for {
						select {
						case <-stop:
							return
						case <-time.After(50 * time.Millisecond):
						}
						if _, err := c.Write([]byte(" ")); err != nil {
							return
						}
					}
				}()
				// The bound turns "never" into a failure; it is no claim
				// about how soon the server acts.
				_ = c.SetReadDeadline(time.Now().Add(time.Minute))
				_, err = io.Copy(io.Discard, c)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					stillOpen.Add(1)
					return
				}
				closedByServer[name].Add(1)
			}()
		}
	}
	wg.Wait()
	if stillOpen.Load() != 0 {
		t.Fatalf("%d trickling connections still open after a minute", stillOpen.Load())
	}
	for name, n := range closedByServer {
		if n.Load() == 0 {
			t.Errorf("%s: no trickling connection got past the handshake to be cut (%d handshakes cut in all)", name, handshakeCut.Load())
		}
	}
	t.Logf("cut while trickling: api %d, gateway %d; handshakes cut after 5 tries: %d", closedByServer["api"].Load(), closedByServer["agent_gateway"].Load(), handshakeCut.Load())
}

// With every slot held by connections that send nothing, a real hello
// still gets in: the oldest held connection is shed for it. Bad hellos
// write one WARN line per period, not one each.
func TestHelloListenerShedsTheOldestAndRateLimitsWarnings(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	handled := make(chan hello.Message, 1)
	const maxConns = 16
	h, addr := startHello(t, rcs.HelloOptions{
		ReadTimeout: time.Hour, // only shedding can end the held ones
		PerSource:   1000,
		MaxConns:    maxConns,
		WarnEvery:   time.Hour,
		Logger:      logger,
		Handle:      func(_ context.Context, m hello.Message, _ netip.Addr) { handled <- m },
	})
	var held []net.Conn
	for i := 0; i < 4*maxConns; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	waitFor(t, time.Minute, "the listener to see every held connection", func() bool {
		return h.Accepted.Load()+h.Refused.Load() == 4*maxConns
	})
	if conns, _ := h.Held(); conns > maxConns {
		t.Fatalf("%d connections held, want at most %d", conns, maxConns)
	}
	sendHello(t, addr, "127.0.0.9", testHello(42))
	select {
	case m := <-handled:
		if m.UUID[0] != 42 {
			t.Fatalf("handled %v", m.UUID)
		}
	case <-time.After(time.Minute):
		t.Fatalf("a real hello was locked out by %d held connections (refused %d, shed %d)", len(held), h.Refused.Load(), h.Shed.Load())
	}
	if got := h.Shed.Load(); got < 3*maxConns+1 {
		t.Errorf("%d connections shed, want at least %d", got, 3*maxConns+1)
	}
	if conns, sources := h.Held(); conns > maxConns || sources > 2 {
		t.Errorf("after the flood: %d connections from %d sources held, want at most %d from at most 2", conns, sources, maxConns)
	}
	// 100 malformed hellos: one WARN line.
	before := h.Malformed.Load()
	for i := 0; i < 100; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{1, 2, 3})
		c.Close()
	}
	waitFor(t, time.Minute, "100 malformed hellos counted", func() bool { return h.Malformed.Load() >= before+100 })
	logMu.Lock()
	defer logMu.Unlock()
	warns := 0
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "level=WARN") && strings.Contains(sc.Text(), "hello:") {
			warns++
		}
	}
	if warns != 1 {
		t.Errorf("%d WARN lines for 100 bad hellos, want 1", warns)
		io.Copy(os.Stderr, strings.NewReader(logs.String()))
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
