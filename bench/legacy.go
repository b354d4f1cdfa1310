package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/amtrcs/amtrcs/amt/hello"
	"github.com/amtrcs/amtrcs/amtsim"
)

// helloWait is how long a legacy device has to say hello once started.
const helloWait = 30 * time.Second

// listenHello starts the server's hello listener (TCP, as port 9971 is)
// on a loopback port. It hands each hello to the worker that waits for
// that device; a repeated hello of a device already handled is dropped, as
// the server's listener drops hellos of a device with a session.
func (h *harness) listenHello() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("bench: hello listener: %w", err)
	}
	h.helloLn, h.helloAddr = ln, ln.Addr().String()
	go asServer(context.Background(), func(context.Context) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go h.readHello(c)
		}
	})
	return nil
}

func (h *harness) readHello(c net.Conn) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(io.LimitReader(c, hello.MaxSize+1))
	if err != nil {
		return
	}
	at := time.Now()
	m, err := hello.Decode(b)
	if err != nil {
		return
	}
	src := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	h.helloMu.Lock()
	ch := h.waiting[m.UUID]
	delete(h.waiting, m.UUID)
	h.helloMu.Unlock()
	if ch != nil {
		ch <- helloMsg{m: m, src: src, at: at}
	}
}

// activateLegacy starts the device's legacy setup, waits for its hello and
// handles it as the server's listener does. The latency runs from the
// hello's arrival to the end of the activation.
func (h *harness) activateLegacy(ctx context.Context, sd *amtsim.Device, cnt *callCount) (time.Duration, error) {
	ch := make(chan helloMsg, 1)
	h.helloMu.Lock()
	h.waiting[sd.ID()] = ch
	h.helloMu.Unlock()
	var err error
	asSim(ctx, func(context.Context) { err = sd.StartHello() })
	if err != nil {
		return 0, err
	}
	defer sd.StopHello()
	var msg helloMsg
	select {
	case msg = <-ch:
	case <-time.After(helloWait):
		h.helloMu.Lock()
		delete(h.waiting, sd.ID())
		h.helloMu.Unlock()
		return 0, fmt.Errorf("%w in %s (%s)", errNoHello, helloWait, sd.LastError())
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if cnt != nil {
		h.calib.Store(&calibTarget{addr: net.JoinHostPort(msg.src.String(), fmt.Sprint(amtsim.PortTLS)), d: sd, cnt: cnt})
		defer h.calib.Store(nil)
	}
	res, err := h.eng.HandleHello(ctx, msg.m, msg.src)
	took := time.Since(msg.at)
	if err != nil {
		return 0, withDeviceError(err, sd)
	}
	return took, h.check(sd, res)
}

// dialNetwork is the engine's dialer for legacy devices: TCP to the
// device's loopback address, counted; the calibration device's connections
// go to the counting server instead.
func (h *harness) dialNetwork(ctx context.Context, network, addr string) (net.Conn, error) {
	h.tlsDials.Add(1)
	if t := h.calib.Load(); t != nil && t.addr == addr {
		return h.count.dial(t.d, amtsim.PortTLS, t.cnt)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
