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
// port 16993 is closed.
func echoFirmware(t *testing.T, ports ...uint32) *Host {
	t.Helper()
	hostEnd, fwEnd := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- ServeFirmware(ctx, FramedLink(fwEnd), Firmware{
			UUID:  [16]byte{1, 2, 3},
			Ports: func() []uint32 { return ports },
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
	h, err := NewHost(FramedLink(hostEnd), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		cancel()
		if err := <-served; !errors.Is(err, ErrSessionClosed) {
			t.Errorf("ServeFirmware = %v, want ErrSessionClosed", err)
		}
	})
	return h
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
