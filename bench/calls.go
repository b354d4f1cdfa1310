package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amtsim"
)

// callCount is the calls one activation made to the firmware: each is one
// simulated latency. requests, opens and frames are what crossed the
// relay between the RCS and the agent, each one round trip: every WS-MAN
// request (digest challenges included), every stream the RCS opened (PTHI,
// the manageability client, an LMS port) and every PTHI or manageability
// frame. The agent's own reads for its report do not cross the relay.
type callCount struct {
	pthi, wsman             atomic.Int64
	requests, opens, frames atomic.Int64
}

// relayRoundTrips is the sum of what crossed the relay.
func (c *callCount) relayRoundTrips() int {
	return int(c.requests.Load() + c.opens.Load() + c.frames.Load())
}

// relayedClient is one firmware client (PTHI or the manageability client)
// as the RCS reaches it over the relay: a stream opened on first use, as
// the gateway opens it, then one frame per call.
type relayedClient struct {
	t      hostif.Transport
	cnt    *callCount
	opened atomic.Bool
}

func (c *relayedClient) Call(ctx context.Context, req []byte) ([]byte, error) {
	if !c.opened.Swap(true) {
		c.cnt.opens.Add(1)
	}
	c.cnt.frames.Add(1)
	return simHost{c.t, &c.cnt.pthi}.Call(ctx, req)
}

// relayCounter is the calibration agent's backend: it counts every call to
// the firmware, and what crossed the relay. The agent's report is read
// through the first PTHI and the first manageability client it opens,
// before it connects; every later open is a stream the RCS asked for (the
// calibration runs one session).
type relayCounter struct {
	agent.InProcess
	cnt         *callCount
	pthiN, mngN atomic.Int64
}

func (b *relayCounter) open(n *atomic.Int64, t hostif.Transport, what string) (agent.PTHI, error) {
	if t == nil {
		return nil, fmt.Errorf("calibration device has no %s", what)
	}
	if n.Add(1) == 1 {
		return nopClose{simHost{t, &b.cnt.pthi}}, nil
	}
	b.cnt.opens.Add(1)
	return nopClose{countFrames{simHost{t, &b.cnt.pthi}, &b.cnt.frames}}, nil
}

// OpenPTHI implements agent.Backend.
func (b *relayCounter) OpenPTHI(context.Context) (agent.PTHI, error) {
	return b.open(&b.pthiN, b.Host, "host interface")
}

// OpenManageability implements agent.Backend.
func (b *relayCounter) OpenManageability(context.Context) (agent.PTHI, error) {
	return b.open(&b.mngN, b.Mng, "manageability client")
}

// DialLMS implements agent.Backend.
func (b *relayCounter) DialLMS(ctx context.Context, port int) (net.Conn, error) {
	b.cnt.opens.Add(1)
	return b.InProcess.DialLMS(ctx, port)
}

type countFrames struct {
	t hostif.Transport
	n *atomic.Int64
}

func (c countFrames) Call(ctx context.Context, req []byte) ([]byte, error) {
	c.n.Add(1)
	return c.t.Call(ctx, req)
}

type nopClose struct{ hostif.Transport }

func (nopClose) Close() error { return nil }

// calibrate activates one extra device with its WS-MAN served through the
// counting server, to learn the calls per activation (they do not depend on
// the device) and the TLS handshakes per activation.
func (h *harness) calibrate(ctx context.Context) (Calls, error) {
	sd, err := h.newDevice(-1)
	if err != nil {
		return Calls{}, err
	}
	sd.SetLatency(0) // the count does not depend on it
	defer sd.StopHello()
	var cnt callCount
	h.tlsDials.Store(0)
	if _, err := asServerErr(ctx, func(ctx context.Context) (time.Duration, error) { return h.activate(ctx, sd, &cnt) }); err != nil {
		return Calls{}, err
	}
	c := Calls{PTHI: int(cnt.pthi.Load()), WSMAN: int(cnt.wsman.Load()), TLSConnections: int(h.tlsDials.Load())}
	if h.cfg.Path != PathLegacy {
		c.RelayRoundTrips = cnt.relayRoundTrips()
	}
	c.Total = c.PTHI + c.WSMAN
	return c, nil
}

func asServerErr(ctx context.Context, f func(context.Context) (time.Duration, error)) (d time.Duration, err error) {
	asServer(ctx, func(ctx context.Context) { d, err = f(ctx) })
	return d, err
}

// countingLMS serves a device's WS-MAN through the device's own Handler
// and TLSConfig, and counts the requests that pass digest authentication:
// those are the ones the device delays by its latency (a 401 challenge is
// answered at once).
type countingLMS struct {
	conns chan net.Conn
}

type countingConn struct {
	net.Conn
	d   *amtsim.Device
	cnt *callCount
}

type countingKey struct{}

func newCountingLMS() *countingLMS {
	l := &countingLMS{conns: make(chan net.Conn)}
	srv := &http.Server{
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				c = tc.NetConn()
			}
			return context.WithValue(ctx, countingKey{}, c.(*countingConn))
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cc := r.Context().Value(countingKey{}).(*countingConn)
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			cc.d.Handler().ServeHTTP(sw, r)
			cc.cnt.requests.Add(1)
			if sw.status != http.StatusUnauthorized {
				cc.cnt.wsman.Add(1)
			}
		}),
	}
	go asSim(context.Background(), func(context.Context) { _ = srv.Serve(l) })
	return l
}

func (l *countingLMS) Accept() (net.Conn, error) { return <-l.conns, nil }
func (l *countingLMS) Close() error              { return nil }
func (l *countingLMS) Addr() net.Addr            { return &net.UnixAddr{Name: "counting-lms", Net: "pipe"} }

// dial opens a pipe to port of d through the counting server.
func (l *countingLMS) dial(d *amtsim.Device, port int, cnt *callCount) (net.Conn, error) {
	client, server := net.Pipe()
	if err := l.serve(server, d, port, cnt); err != nil {
		client.Close()
		server.Close()
		return nil, err
	}
	return client, nil
}

// serve serves port of d on c through the counting server.
func (l *countingLMS) serve(c net.Conn, d *amtsim.Device, port int, cnt *callCount) error {
	c = &countingConn{Conn: c, d: d, cnt: cnt}
	if port == amtsim.PortTLS {
		cfg, err := d.TLSConfig()
		if err != nil {
			return err
		}
		c = tls.Server(c, cfg)
	}
	l.conns <- c
	return nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
