package rcs_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hello"
	"github.com/amtrcs/amtrcs/rcs"
)

func startHello(t *testing.T, o rcs.HelloOptions) (*rcs.HelloListener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := rcs.NewHelloListener(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = h.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h, ln.Addr().String()
}

func sendHello(t *testing.T, addr, src string, m hello.Message) {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func testHello(id byte) hello.Message {
	return hello.Message{InterfaceVersion: hello.InterfaceVersionPKI, UUID: amt.UUID{id}, Hashes: []hello.Hash{{Algorithm: amt.HashSHA256, Value: make([]byte, 32)}}}
}

func TestHelloListenerHandsOverWellFormedHellos(t *testing.T) {
	type got struct {
		m    hello.Message
		from netip.Addr
	}
	ch := make(chan got, 4)
	h, addr := startHello(t, rcs.HelloOptions{Handle: func(_ context.Context, m hello.Message, from netip.Addr) { ch <- got{m, from} }})
	sendHello(t, addr, "127.0.0.5", testHello(9))
	select {
	case g := <-ch:
		if g.m.UUID != (amt.UUID{9}) || g.from != netip.MustParseAddr("127.0.0.5") || len(g.m.Hashes) != 1 {
			t.Fatalf("handled %+v from %v", g.m, g.from)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("hello not handled")
	}
	// Malformed input is dropped without reaching the handler.
	for _, b := range [][]byte{{1, 2, 3}, make([]byte, hello.MaxSize+10)} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(b)
		c.Close()
	}
	deadline := time.Now().Add(2 * time.Minute)
	for h.Malformed.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := h.Malformed.Load(); n != 2 {
		t.Fatalf("%d malformed counted, want 2", n)
	}
	select {
	case g := <-ch:
		t.Fatalf("malformed input reached the handler: %+v", g)
	default:
	}
}

// A client that connects and trickles bytes, or sends nothing, cannot hold
// the listener: real hellos from other addresses go through meanwhile, and
// its connections end at the read deadline.
func TestHelloListenerResistsSlowClients(t *testing.T) {
	var mu sync.Mutex
	handled := map[byte]bool{}
	h, addr := startHello(t, rcs.HelloOptions{
		ReadTimeout: 500 * time.Millisecond,
		PerSource:   4,
		Workers:     2,
		Handle: func(_ context.Context, m hello.Message, _ netip.Addr) {
			mu.Lock()
			handled[m.UUID[0]] = true
			mu.Unlock()
		},
	})
	// The hostile host opens 50 connections from 127.0.0.1 and trickles
	// one byte every 50 ms on those it got.
	var hostile []net.Conn
	for i := 0; i < 50; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		hostile = append(hostile, c)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range hostile {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			defer c.Close()
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := c.Write([]byte{0}); err != nil {
					return
				}
			}
		}(c)
	}
	for i := byte(1); i <= 10; i++ {
		sendHello(t, addr, fmt.Sprintf("127.0.0.%d", 2+i%8), testHello(i))
	}
	// The hellos are handled while the hostile connections are held: wait
	// for them (a listener that let the slow client lock them out would
	// never handle them; the wait gives up only at a minute, a bound that
	// says "never", not "too slow").
	waitFor(t, time.Minute, "10 real hellos handled while a slow client held connections", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == 10
	})
	// The hostile host got at most PerSource connections read; the rest
	// were closed at once, and the read ones end at the deadline, not when
	// the trickle stops.
	if got := h.Refused.Load(); got < 46 {
		t.Errorf("%d connections refused, want at least 46 of 50", got)
	}
	// The trickle goes on until stop: only the read deadline can end the
	// connections that were read.
	waitFor(t, time.Minute, "4 slow connections cut at the read deadline", func() bool { return h.Malformed.Load() >= 4 })
	close(stop)
	wg.Wait()
}

// waitFor polls cond until it holds; limit only turns a condition that
// never comes into a failure instead of a hung test.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %s: %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
