package bench

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/amtrcs/amtrcs/amtsim"
)

// callCount is the calls one activation made to the firmware: each is one
// simulated latency.
type callCount struct {
	pthi, wsman atomic.Int64
}

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
	d *amtsim.Device
	n *atomic.Int64
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
			if sw.status != http.StatusUnauthorized {
				cc.n.Add(1)
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
func (l *countingLMS) dial(d *amtsim.Device, port int, n *atomic.Int64) (net.Conn, error) {
	client, server := net.Pipe()
	if err := l.serve(server, d, port, n); err != nil {
		client.Close()
		server.Close()
		return nil, err
	}
	return client, nil
}

// serve serves port of d on c through the counting server.
func (l *countingLMS) serve(c net.Conn, d *amtsim.Device, port int, n *atomic.Int64) error {
	c = &countingConn{Conn: c, d: d, n: n}
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
