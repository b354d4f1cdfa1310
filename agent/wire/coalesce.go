package wire

import (
	"encoding/binary"
	"net"
	"sync"
)

// yamux framing, as github.com/hashicorp/yamux writes it: a 12-byte header
// (version, type, flags, stream ID, length), and for a Data frame only,
// length bytes of body after it. Every other type (window update, ping, go
// away) is the header alone, its length field a value, not a size.
const (
	muxHeaderSize = 12
	muxTypeData   = 0
)

// Coalesce wraps the websocket connection under a yamux session so that
// each yamux frame travels as one websocket message. yamux writes a
// frame's header and its body in two writes, and a websocket connection
// makes a message, a TLS record and a write system call of each: two of
// everything per frame, on both ends. Coalesce holds a Data frame's header
// until its body has come and writes them together. The receiving end
// needs no change: it reads the websocket as a byte stream.
func Coalesce(c net.Conn) net.Conn { return &frameConn{Conn: c} }

// frameConn is the connection Coalesce returns.
type frameConn struct {
	net.Conn

	mu      sync.Mutex
	pending []byte // the start of a Data frame whose body has not all come
	through int    // body bytes still to pass on unheld (a frame too large to hold)
}

// Write passes on every whole frame in pending and p in one write, and
// keeps the start of an unfinished Data frame for the next call. yamux
// writes from one goroutine, header then body at once, so nothing waits
// here for long; a frame larger than a websocket message may be (a
// misbehaving writer) goes out unmerged.
func (c *frameConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	if c.through > 0 {
		k := min(c.through, len(p))
		if _, err := c.Conn.Write(p[:k]); err != nil {
			return 0, err
		}
		c.through -= k
		p = p[k:]
	}
	out := p
	if len(c.pending) > 0 {
		c.pending = append(c.pending, p...)
		out = c.pending
	}
	whole, through := wholeFrames(out)
	if whole > 0 {
		if _, err := c.Conn.Write(out[:whole]); err != nil {
			c.pending = c.pending[:0]
			return 0, err
		}
	}
	c.through = through
	rest := out[whole:]
	if len(c.pending) > 0 {
		// rest is pending's own tail: copy moves it to the front.
		c.pending = c.pending[:copy(c.pending, rest)]
	} else {
		c.pending = append(c.pending, rest...)
	}
	return n, nil
}

// wholeFrames is how many bytes at the start of b make whole yamux frames:
// every header, with its body for a Data frame. A Data frame whose body
// could never fit one websocket message is passed on as it comes, not
// held: it counts as whole, and through is how much of its body is still
// to come after b.
func wholeFrames(b []byte) (whole, through int) {
	n := 0
	for len(b)-n >= muxHeaderSize {
		h := b[n : n+muxHeaderSize]
		size := muxHeaderSize
		if h[1] == muxTypeData {
			body := int(binary.BigEndian.Uint32(h[8:12]))
			size += body
			if body > MaxWebsocketMessage-muxHeaderSize && len(b)-n < size {
				return len(b), size - (len(b) - n)
			}
		}
		if len(b)-n < size {
			break
		}
		n += size
	}
	return n, 0
}
