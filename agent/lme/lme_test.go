package lme

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// echoFirmware serves APF on one end of a pipe; its port 16992 echoes, its
// port 16993 is closed. It keeps its session across channel closes (the
// variant), so that one session carries the channels of a test.
func echoFirmware(t *testing.T, ports ...uint32) *Host {
	t.Helper()
	hostEnd := echoLink(t, true, ports...)
	h, err := NewHost(hostEnd, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// echoLink serves echoing firmware on one end of a pipe and returns the
// host's end; the test ends when the firmware's session has ended.
func echoLink(t *testing.T, keepSession bool, ports ...uint32) Link {
	t.Helper()
	hostEnd, fwEnd := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- ServeFirmware(ctx, FramedLink(fwEnd), Firmware{
			KeepSession: keepSession,
			UUID:        [16]byte{1, 2, 3},
			Ports:       func() []uint32 { return ports },
			Dial: func(_ context.Context, port int) (net.Conn, error) {
				if port != 16992 {
					return nil, fmt.Errorf("port %d closed", port)
				}
				a, b := net.Pipe()
				go func() { _, _ = io.Copy(b, b); b.Close() }()
				return a, nil
			},
		})
	}()
	t.Cleanup(func() {
		hostEnd.Close()
		cancel()
		if err := <-served; !errors.Is(err, ErrSessionClosed) {
			t.Errorf("ServeFirmware = %v, want ErrSessionClosed", err)
		}
	})
	return FramedLink(hostEnd)
}

func TestChannelsCarryBytesBothWays(t *testing.T) {
	t.Parallel()
	h := echoFirmware(t, 16992, 623)
	var wg sync.WaitGroup
	// More bytes than one window, on more channels than one, at once.
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := h.Dial(context.Background(), 16992)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			want := make([]byte, 50_000+i)
			_, _ = rand.Read(want)
			go func() { _, _ = c.Write(want) }()
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Errorf("channel %d: read: %v", i, err)
				return
			}
			if !bytes.Equal(got, want) {
				t.Errorf("channel %d: echoed bytes differ", i)
			}
		}()
	}
	wg.Wait()
	if got := fmt.Sprint(h.Ports()); got != "[16992 623]" {
		t.Errorf("Ports = %s, want [16992 623]", got)
	}
}

func TestClosedPortIsRefusedWithTheReason(t *testing.T) {
	t.Parallel()
	h := echoFirmware(t, 16992, 623)
	_, err := h.Dial(context.Background(), 16993)
	if err == nil || !strings.Contains(err.Error(), "reason 2 (connect failed)") {
		t.Fatalf("Dial 16993 = %v, want a refusal with reason 2", err)
	}
	// The session goes on.
	c, err := h.Dial(context.Background(), 16992)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestFirmwareHoldsEightChannels(t *testing.T) {
	t.Parallel()
	h := echoFirmware(t, 16993, 664, 16992, 623)
	var open []net.Conn
	for range FirmwareChannels {
		c, err := h.Dial(context.Background(), 16992)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	_, err := h.Dial(context.Background(), 16992)
	if err == nil || !strings.Contains(err.Error(), "resource shortage") {
		t.Fatalf("ninth Dial = %v, want resource shortage", err)
	}
	for _, c := range open {
		c.Close()
	}
}

func TestClosingTheChannelEndsTheFirmwareSide(t *testing.T) {
	t.Parallel()
	h := echoFirmware(t, 16992, 623)
	c, err := h.Dial(context.Background(), 16992)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatal(err)
	}
	c.Close()
	// Closed channels are freed: eight more fit.
	for range FirmwareChannels {
		c, err := h.Dial(context.Background(), 16992)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
}

func TestSessionEndReachesDialAndChannels(t *testing.T) {
	t.Parallel()
	h := echoFirmware(t, 16992, 623)
	c, err := h.Dial(context.Background(), 16992)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	<-h.Done()
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("read after the session ended: %v", err)
	}
	if _, err := h.Dial(context.Background(), 16992); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("Dial after Close = %v, want ErrSessionClosed", err)
	}
}

func TestFirmwareEndsTheSessionWithAChannel(t *testing.T) {
	t.Parallel()
	h, err := NewHost(echoLink(t, false, 16992, 623), 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.Dial(context.Background(), 16992)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	<-h.Done()
	if _, err := h.Dial(context.Background(), 16992); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("Dial on the session after its channel closed = %v, want ErrSessionClosed", err)
	}
}

func TestDialSessionEndsWithItsChannel(t *testing.T) {
	t.Parallel()
	for name, keep := range map[string]bool{"firmware drops the session": false, "firmware keeps the session": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			link := &watchedLink{Link: echoLink(t, keep, 16992, 623), closed: make(chan struct{})}
			c, err := DialSession(context.Background(), link, 0, 16992)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			var b [1]byte
			if _, err := io.ReadFull(c, b[:]); err != nil {
				t.Fatal(err)
			}
			c.Close()
			<-link.closed // the host ends the session itself
		})
	}
	// A refused channel leaves no session behind.
	link := &watchedLink{Link: echoLink(t, true, 16992, 623), closed: make(chan struct{})}
	if _, err := DialSession(context.Background(), link, 0, 16993); err == nil {
		t.Fatal("DialSession to the closed port 16993 succeeded")
	}
	<-link.closed
}

type watchedLink struct {
	Link
	once   sync.Once
	closed chan struct{}
}

func (l *watchedLink) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Link.Close()
}
