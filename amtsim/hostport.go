package amtsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
)

// The host port plays /dev/mei0 and LMS for a whole fleet to other
// processes (agents): a client connects, writes
// "AMTSIM/1 <device-uuid> <channel>\n" (channel pthi, mng, lme, lms:16992
// or lms:16993), and after "OK\n" the stream carries length-prefixed frames
// of that MEI client or the raw bytes of that firmware port (the
// activation contract). The LME client's frames are APF messages, sent by
// either side unasked.

// SimLinePrefix starts the line that opens a host-port channel.
const SimLinePrefix = "AMTSIM/1"

// ParseSimLine reads the line that opens a host-port channel (without the
// newline).
func ParseSimLine(line string) (amt.UUID, wire.Channel, error) {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != SimLinePrefix || strings.Join(f, " ") != line {
		return amt.UUID{}, "", fmt.Errorf("host port line %q: want %q", truncate(line), SimLinePrefix+" <device-uuid> pthi|mng|lme|lms:16992|lms:16993")
	}
	u, err := amt.ParseUUID(f[1])
	if err != nil {
		return amt.UUID{}, "", err
	}
	if f[2] == string(wire.ChannelLME) {
		return u, wire.ChannelLME, nil
	}
	ch, err := wire.ParseChannel(f[2])
	if err != nil {
		return amt.UUID{}, "", err
	}
	return u, ch, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// hostDevice is what the host port serves: a simulated device, or a device
// replayed from a capture.
type hostDevice interface {
	hostCall(ctx context.Context, req []byte) ([]byte, error)
	mngCall(ctx context.Context, req []byte) ([]byte, error)
	DialLMS(ctx context.Context, port int) (net.Conn, error)
}

var (
	_ hostDevice = (*Device)(nil)
	_ hostDevice = (*Replay)(nil)
)

// hostDevice finds what the host port serves for u.
func (f *Fleet) hostDevice(u amt.UUID) (hostDevice, bool) {
	if d, ok := f.Device(u); ok {
		return d, true
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, ok := f.replays[u]
	return r, ok
}

// ListenHostPort listens on addr, which must be a loopback address (port 0
// picks one), and serves the host port until the fleet is closed.
func (f *Fleet) ListenHostPort(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("amtsim: host port %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("amtsim: host port %q: want a loopback address such as 127.0.0.1:16990; the host port gives anyone who reaches it the devices' host interface", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("amtsim: host port: %w", err)
	}
	f.mu.Lock()
	f.ports = append(f.ports, ln)
	f.mu.Unlock()
	go func() { _ = f.ServeHostPort(ln) }()
	return ln, nil
}

// ServeHostPort serves the host port on ln until ln is closed.
func (f *Fleet) ServeHostPort(ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.serveHostConn(c)
		}()
	}
}

func (f *Fleet) serveHostConn(c net.Conn) {
	defer c.Close()
	line, err := wire.ReadLine(c)
	if err != nil {
		return
	}
	u, ch, err := ParseSimLine(line)
	if err != nil {
		_ = wire.WriteAnswer(c, err)
		return
	}
	d, ok := f.hostDevice(u)
	if !ok {
		_ = wire.WriteAnswer(c, fmt.Errorf("no device %s in this fleet", u))
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if ch == wire.ChannelLME {
		l, ok := d.(interface {
			serveLME(context.Context, net.Conn) error
		})
		if !ok {
			_ = wire.WriteAnswer(c, fmt.Errorf("device %s is a replayed capture, which has no LME client: use channel lms:16992 or lms:16993", u))
			return
		}
		if wire.WriteAnswer(c, nil) == nil {
			_ = l.serveLME(ctx, c)
		}
		return
	}
	if ch.Framed() {
		call := d.hostCall
		if ch == wire.ChannelManageability {
			call = d.mngCall
		}
		if wire.WriteAnswer(c, nil) != nil {
			return
		}
		for {
			req, err := wire.ReadFrame(c)
			if err != nil {
				return
			}
			resp, err := call(ctx, req)
			if err != nil {
				// An unreadable header gets no answer from MEI either; the
				// stream cannot be resynchronised, so it ends.
				return
			}
			if wire.WriteFrame(c, resp) != nil {
				return
			}
		}
	}
	fw, err := d.DialLMS(ctx, ch.Port())
	if err != nil {
		_ = wire.WriteAnswer(c, err)
		return
	}
	defer fw.Close()
	if wire.WriteAnswer(c, nil) != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(fw, c); _ = fw.Close(); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, fw); _ = c.Close(); done <- struct{}{} }()
	<-done
	<-done
}
