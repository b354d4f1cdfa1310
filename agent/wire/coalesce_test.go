package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"
)

// messages is a net.Conn that records each write as one message, as a
// websocket connection sends each write as one message.
type messages struct {
	net.Conn
	mu   sync.Mutex
	got  [][]byte
	fail error
}

func (m *messages) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, m.fail
	}
	m.got = append(m.got, bytes.Clone(p))
	return len(p), nil
}

func (m *messages) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.got)
}

func muxHeader(typ byte, length uint32) []byte {
	h := make([]byte, muxHeaderSize)
	h[1] = typ
	binary.BigEndian.PutUint32(h[4:8], 3)
	binary.BigEndian.PutUint32(h[8:12], length)
	return h
}

func TestCoalesce(t *testing.T) {
	data := muxHeader(muxTypeData, 5)
	body := []byte("hello")
	window := muxHeader(1, 256<<10) // a window update: its length is a delta, no body follows
	empty := muxHeader(muxTypeData, 0)
	huge := muxHeader(muxTypeData, MaxWebsocketMessage)
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	for name, tc := range map[string]struct {
		writes [][]byte
		want   [][]byte
	}{
		"header then body":        {[][]byte{data, body}, [][]byte{cat(data, body)}},
		"window update alone":     {[][]byte{window}, [][]byte{window}},
		"data without body":       {[][]byte{empty}, [][]byte{empty}},
		"whole frame in one":      {[][]byte{cat(data, body)}, [][]byte{cat(data, body)}},
		"two frames in one write": {[][]byte{cat(window, data, body)}, [][]byte{cat(window, data, body)}},
		"header split":            {[][]byte{data[:5], data[5:], body}, [][]byte{cat(data, body)}},
		"body split":              {[][]byte{data, body[:2], body[2:]}, [][]byte{cat(data, body)}},
		"body and next header":    {[][]byte{data, cat(body, window)}, [][]byte{cat(data, body, window)}},
		"held across a window":    {[][]byte{data, body[:1], cat(body[1:], data), body}, [][]byte{cat(data, body), cat(data, body)}},
		// A frame that cannot fit one message is passed on as it comes,
		// and the frame after it is still found.
		"too large to hold": {[][]byte{huge, bytes.Repeat([]byte{'x'}, MaxWebsocketMessage), data, body},
			[][]byte{huge, bytes.Repeat([]byte{'x'}, MaxWebsocketMessage), cat(data, body)}},
	} {
		t.Run(name, func(t *testing.T) {
			m := &messages{}
			c := Coalesce(m)
			for _, w := range tc.writes {
				if n, err := c.Write(w); err != nil || n != len(w) {
					t.Fatalf("Write(%d bytes) = %d, %v", len(w), n, err)
				}
			}
			if len(m.got) != len(tc.want) {
				t.Fatalf("%d messages, want %d", len(m.got), len(tc.want))
			}
			for i := range tc.want {
				if !bytes.Equal(m.got[i], tc.want[i]) {
					t.Errorf("message %d = %q, want %q", i, short(m.got[i]), short(tc.want[i]))
				}
			}
		})
	}
}

func short(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%q... (%d bytes)", b[:40], len(b))
	}
	return string(b)
}

func TestCoalesceWriteError(t *testing.T) {
	broken := errors.New("link down")
	m := &messages{fail: broken}
	c := Coalesce(m)
	if _, err := c.Write(muxHeader(muxTypeData, 2)); err != nil {
		t.Fatalf("a held header failed: %v", err)
	}
	if _, err := c.Write([]byte("ab")); !errors.Is(err, broken) {
		t.Fatalf("Write = %v, want %v", err, broken)
	}
}

// TestCoalesceYamux runs yamux over a real websocket on loopback with
// Coalesce on both ends, as the gateway and the agent do: the bytes of
// many streams arrive whole and in order, and each data frame is one
// websocket message, not two.
func TestCoalesceYamux(t *testing.T) {
	ctx := context.Background()
	counted := make(chan *messages, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.SetReadLimit(MaxWebsocketMessage)
		m := &messages{Conn: websocket.NetConn(ctx, c, websocket.MessageBinary)}
		counted <- m
		sess, err := yamux.Server(Coalesce(passthrough{m}), MuxConfig(nil))
		if err != nil {
			return
		}
		defer sess.Close()
		for {
			st, err := sess.Accept()
			if err != nil {
				return
			}
			go func() { defer st.Close(); _, _ = io.Copy(st, st) }() // echo
		}
	}))
	defer srv.Close()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(MaxWebsocketMessage)
	sess, err := yamux.Client(Coalesce(websocket.NetConn(ctx, c, websocket.MessageBinary)), MuxConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	m := <-counted

	const streams, rounds = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		wg.Go(func() {
			st, err := sess.Open()
			if err != nil {
				errs <- err
				return
			}
			defer st.Close()
			for r := range rounds {
				msg := []byte(fmt.Sprintf("stream %d round %d %s", i, r, strings.Repeat("x", r*100)))
				if _, err := st.Write(msg); err != nil {
					errs <- err
					return
				}
				back := make([]byte, len(msg))
				if _, err := io.ReadFull(st, back); err != nil || !bytes.Equal(back, msg) {
					errs <- fmt.Errorf("stream %d round %d: echo %q, %v", i, r, short(back), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The server echoed streams*rounds data frames; each one message.
	// Window updates and the stream set-up add a few frames of header
	// only, but without Coalesce the echoes alone would be twice as many.
	if got := m.count(); got >= 2*streams*rounds {
		t.Errorf("server sent %d websocket messages for %d data frames: headers and bodies went apart", got, streams*rounds)
	}
}

// passthrough hides messages' Write from the embedding below, so that
// Coalesce's writes reach the counter.
type passthrough struct{ *messages }

func (p passthrough) Write(b []byte) (int, error) {
	if _, err := p.messages.Write(b); err != nil {
		return 0, err
	}
	return p.messages.Conn.Write(b)
}
