package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/amt/hostif"
)

// WriteFrame writes one PTHI message with its u32 little-endian length.
func WriteFrame(w io.Writer, msg []byte) error {
	if len(msg) > hostif.MaxMessage {
		return fmt.Errorf("pthi frame of %d bytes: at most %d", len(msg), hostif.MaxMessage)
	}
	b := make([]byte, 4+len(msg))
	binary.LittleEndian.PutUint32(b, uint32(len(msg)))
	copy(b[4:], msg)
	_, err := w.Write(b)
	return err
}

// ReadFrame reads one length-prefixed PTHI message. A length above
// hostif.MaxMessage is refused before anything is allocated.
func ReadFrame(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(h[:])
	if n == 0 || n > hostif.MaxMessage {
		return nil, fmt.Errorf("pthi frame length %d: want 1 to %d", n, hostif.MaxMessage)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("pthi frame of %d bytes: %w", n, err)
	}
	return b, nil
}

// DefaultCallTimeout bounds one host-interface call whose context has no
// deadline, where the reader faces the firmware (the agent on the
// simulator's host port): firmware answers within about 3 s (reference
// §12).
const DefaultCallTimeout = 15 * time.Second

// RelayCallTimeout bounds a call the server relays through an agent. The
// agent measures the firmware's silence itself (its MEI read timeout) and
// closes the stream when the firmware does not answer, which the server
// sees at once; this bound only catches an agent or a link that hangs. It
// is long so that a busy server, or a busy host, is never taken for a
// silent firmware.
const RelayCallTimeout = 2 * time.Minute

// FramedTransport is a hostif.Transport over a stream of length-prefixed
// frames: a stream relayed by an agent, or the simulator's host port. Calls
// are serialised, since the host interface answers one request at a time.
// After a failed call the stream is closed, because a late reply would be
// read as the answer to the next request.
type FramedTransport struct {
	// Timeout bounds a call whose context has no deadline (zero:
	// DefaultCallTimeout).
	Timeout time.Duration

	mu     sync.Mutex
	conn   net.Conn
	broken error
}

var _ hostif.Transport = (*FramedTransport)(nil)

// NewFramedTransport returns a transport over conn, which it owns.
func NewFramedTransport(conn net.Conn) *FramedTransport { return &FramedTransport{conn: conn} }

// Call sends one request and waits for its response, until ctx ends or,
// when ctx has no deadline, Timeout.
func (t *FramedTransport) Call(ctx context.Context, req []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken != nil {
		return nil, fmt.Errorf("pthi relay closed after an earlier failure: %w", t.broken)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		d := t.Timeout
		if d <= 0 {
			d = DefaultCallTimeout
		}
		deadline = time.Now().Add(d)
	}
	_ = t.conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = t.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	resp, err := t.roundTrip(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		case ok && errors.Is(err, os.ErrDeadlineExceeded):
			// The connection deadline is the context's, and fired first.
			err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		t.broken = err
		t.conn.Close()
		return nil, err
	}
	_ = t.conn.SetDeadline(time.Time{})
	return resp, nil
}

func (t *FramedTransport) roundTrip(req []byte) ([]byte, error) {
	if err := WriteFrame(t.conn, req); err != nil {
		return nil, fmt.Errorf("send pthi request: %w", err)
	}
	resp, err := ReadFrame(t.conn)
	if err != nil {
		return nil, fmt.Errorf("read pthi response: %w", err)
	}
	return resp, nil
}

// Close closes the stream.
func (t *FramedTransport) Close() error { return t.conn.Close() }
