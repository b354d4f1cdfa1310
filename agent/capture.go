package agent

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/amtrcs/amtrcs/agent/capture"
	"github.com/amtrcs/amtrcs/agent/wire"
)

// Capturing is a Backend that records every exchange with the firmware
// into a capture (package capture) as it passes: host-interface frames,
// WS-MAN on 16992 as text, byte counts on 16993 (TLS the RCS terminates).
// Secrets are blanked before they are written.
type Capturing struct {
	b  Backend
	w  *capture.Writer
	wg sync.WaitGroup
}

var _ Backend = (*Capturing)(nil)

// Capture wraps b so that its exchanges are recorded to w; the header line
// (format, amtrcs version, time, backend) is written at once.
func Capture(b Backend, w io.Writer, h capture.Header) (*Capturing, error) {
	h.Backend = b.Name()
	cw, err := capture.NewWriter(w, h)
	if err != nil {
		return nil, err
	}
	return &Capturing{b: b, w: cw}, nil
}

// Wait waits until the records of closed LMS connections are written, and
// returns the first write error.
func (c *Capturing) Wait() error {
	c.wg.Wait()
	return c.w.Err()
}

// Name implements Backend.
func (c *Capturing) Name() string { return c.b.Name() }

// OpenPTHI implements Backend.
func (c *Capturing) OpenPTHI(ctx context.Context) (PTHI, error) {
	p, err := c.b.OpenPTHI(ctx)
	if err != nil {
		return nil, err
	}
	return &framedTap{PTHI: p, w: c.w, kind: capture.KindPTHI}, nil
}

// OpenManageability implements Backend.
func (c *Capturing) OpenManageability(ctx context.Context) (PTHI, error) {
	p, err := c.b.OpenManageability(ctx)
	if err != nil {
		return nil, err
	}
	return &framedTap{PTHI: p, w: c.w, kind: capture.KindMng}, nil
}

// DialLMS implements Backend.
func (c *Capturing) DialLMS(ctx context.Context, port int) (net.Conn, error) {
	conn, err := c.b.DialLMS(ctx, port)
	if err != nil {
		return nil, err
	}
	if port == wire.ChannelLMS16993.Port() {
		return &countTap{Conn: conn, w: c.w, port: port}, nil
	}
	return c.httpTap(conn, port), nil
}

type framedTap struct {
	PTHI
	w    *capture.Writer
	kind capture.Kind
}

func (t *framedTap) Call(ctx context.Context, req []byte) ([]byte, error) {
	resp, err := t.PTHI.Call(ctx, req)
	t.w.Frame(t.kind, req, resp, err)
	return resp, err
}

// countTap counts a TLS connection's bytes; its contents are the RCS's
// session with the firmware, not the agent's to read.
type countTap struct {
	net.Conn
	w              *capture.Writer
	port           int
	sent, received atomic.Int64
	once           sync.Once
}

func (t *countTap) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	t.received.Add(int64(n))
	return n, err
}

func (t *countTap) Write(p []byte) (int, error) {
	n, err := t.Conn.Write(p)
	t.sent.Add(int64(n))
	return n, err
}

func (t *countTap) Close() error {
	err := t.Conn.Close()
	t.once.Do(func() { t.w.TLS(t.port, t.sent.Load(), t.received.Load()) })
	return err
}

// httpTap copies both directions of a plain connection into buffers that two
// parsers read as HTTP requests and responses, pairing them in order. The
// copies never block the relay.
func (c *Capturing) httpTap(conn net.Conn, port int) net.Conn {
	t := &tapConn{Conn: conn, out: newTapBuffer(), in: newTapBuffer()}
	type exchange struct {
		req  *http.Request
		body []byte
	}
	reqs := make(chan exchange, 64)
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		defer close(reqs)
		br := bufio.NewReader(t.out)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				_, _ = io.Copy(io.Discard, t.out)
				return
			}
			body, _ := io.ReadAll(req.Body)
			reqs <- exchange{req, body}
		}
	}()
	go func() {
		defer c.wg.Done()
		br := bufio.NewReader(t.in)
		for {
			ex, ok := <-reqs
			if !ok {
				_, _ = io.Copy(io.Discard, t.in)
				return
			}
			resp, err := http.ReadResponse(br, ex.req)
			if err != nil {
				// A request the connection closed on: recorded alone.
				c.w.HTTP(port, ex.req, ex.body, nil, nil)
				for range reqs {
				}
				_, _ = io.Copy(io.Discard, t.in)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			c.w.HTTP(port, ex.req, ex.body, resp, body)
		}
	}()
	return t
}

type tapConn struct {
	net.Conn
	out, in *tapBuffer // what the agent sent, what it received
	once    sync.Once
}

func (t *tapConn) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	t.in.add(p[:n])
	return n, err
}

// Write taps p before it is sent: the reply may come back, and the
// connection close, before the write returns.
func (t *tapConn) Write(p []byte) (int, error) {
	t.out.add(p)
	return t.Conn.Write(p)
}

func (t *tapConn) Close() error {
	err := t.Conn.Close()
	t.once.Do(func() { t.out.close(); t.in.close() })
	return err
}

// maxTap bounds what one connection's tap holds unread; past it the rest
// of the connection is not recorded.
const maxTap = 16 << 20

// tapBuffer is a pipe whose writer never waits.
type tapBuffer struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte
	closed bool
}

func newTapBuffer() *tapBuffer {
	b := &tapBuffer{}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *tapBuffer) add(p []byte) {
	if len(p) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed && len(b.buf)+len(p) <= maxTap {
		b.buf = append(b.buf, p...)
	} else {
		b.closed = true
	}
	b.cond.Broadcast()
}

func (b *tapBuffer) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.cond.Broadcast()
}

func (b *tapBuffer) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.buf) == 0 && !b.closed {
		b.cond.Wait()
	}
	if len(b.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}
