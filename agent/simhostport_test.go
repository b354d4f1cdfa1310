package agent

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt/hostif"
)

// fakeHostPort serves one simulated device by the host-port protocol of the
// activation contract: a channel line naming the device, OK or ERR, then
// PTHI frames or the port's bytes.
func fakeHostPort(t *testing.T, uuid string, fw hostif.Transport, dial func(context.Context, int) (net.Conn, error)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := wire.ReadLine(c)
				f := strings.Fields(line)
				if err != nil || len(f) != 3 || f[0] != "AMTSIM/1" {
					wire.WriteAnswer(c, io.ErrUnexpectedEOF)
					return
				}
				if f[1] != uuid {
					wire.WriteAnswer(c, errNoDevice)
					return
				}
				ch, err := wire.ParseChannel(f[2])
				if err != nil {
					wire.WriteAnswer(c, err)
					return
				}
				wire.WriteAnswer(c, nil)
				if ch == wire.ChannelPTHI {
					for {
						req, err := wire.ReadFrame(c)
						if err != nil {
							return
						}
						resp, err := fw.Call(context.Background(), req)
						if err != nil || wire.WriteFrame(c, resp) != nil {
							return
						}
					}
				}
				d, err := dial(context.Background(), ch.Port())
				if err != nil {
					return
				}
				pipe(c, d)
			}()
		}
	}()
	return ln.Addr().String()
}

type refusal string

func (r refusal) Error() string { return string(r) }

const errNoDevice = refusal("no such device")

func TestSimHostPortBackend(t *testing.T) {
	dev := newSimDevice(t, "16.1.25")
	addr := fakeHostPort(t, dev.ID().String(), dev.Host(), dev.DialLMS)
	b := &SimHostPort{Addr: addr, Device: dev.ID().String()}
	p, err := b.OpenPTHI(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	in, err := hostif.NewClient(p).ReadInfo(context.Background())
	p.Close()
	if err != nil || in.UUID != dev.ID() || in.Version.Major != 16 {
		t.Fatalf("ReadInfo through the host port: %+v, %v", in, err)
	}
	c, err := b.DialLMS(context.Background(), 16992)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /wsman HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	buf := make([]byte, 12)
	if _, err := io.ReadFull(c, buf); err != nil || !strings.HasPrefix(string(buf), "HTTP/1.1") {
		t.Fatalf("LMS through the host port: %q, %v", buf, err)
	}
	c.Close()
	wrong := &SimHostPort{Addr: addr, Device: "00000000-0000-0000-0000-000000000000"}
	if _, err := wrong.OpenPTHI(context.Background()); err == nil || !strings.Contains(err.Error(), "no such device") {
		t.Fatalf("unknown device: %v", err)
	}
	closed := &SimHostPort{Addr: "127.0.0.1:1", Device: "x"}
	if _, err := closed.OpenPTHI(context.Background()); err == nil || !strings.Contains(err.Error(), "start `amtrcs sim`") {
		t.Fatalf("no simulator: %v", err)
	}
}
