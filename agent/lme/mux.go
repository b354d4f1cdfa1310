// Package lme carries byte streams to the firmware's WS-MAN ports over the
// MEI LME client, speaking APF as Intel LMS does: the host side (Host, what
// the agent runs when no LMS answers on localhost) and the firmware side
// (ServeFirmware, what the simulator's devices run).
//
// A session multiplexes channels over one link of whole messages; each
// channel is a net.Conn whose writes wait for the window the other side
// grants, and whose reads grant window back as they consume. It never
// interprets what a channel carries.
package lme

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/amtrcs/amtrcs/agent/apf"
	"github.com/amtrcs/amtrcs/agent/wire"
)

// Link carries whole APF messages, one MEI message each, in both
// directions: the firmware sends without being asked.
type Link interface {
	Send(msg []byte) error
	Recv() ([]byte, error)
	Close() error
}

// FramedLink is a Link over a stream of length-prefixed frames: the
// simulator's host port, or a pipe to an in-process device.
func FramedLink(c net.Conn) Link { return &framedLink{c: c} }

type framedLink struct {
	c  net.Conn
	mu sync.Mutex
}

func (l *framedLink) Send(msg []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return wire.WriteFrame(l.c, msg)
}
func (l *framedLink) Recv() ([]byte, error) { return wire.ReadFrame(l.c) }
func (l *framedLink) Close() error          { return l.c.Close() }

// ErrSessionClosed is wrapped by the errors of a session that ended.
var ErrSessionClosed = errors.New("apf session closed")

// mux is the channel machinery both sides share.
type mux struct {
	link    Link
	maxData int // largest data payload in one message

	mu    sync.Mutex
	chans map[uint32]*channel // by our channel number
	next  uint32
	err   error
	done  chan struct{}

	outq   [][]byte
	outSig chan struct{}

	// onClosed runs when a channel has been closed both ways; set before
	// run starts.
	onClosed func()
}

func newMux(link Link, maxMessage int) *mux {
	if maxMessage <= apf.ChannelDataHeader {
		maxMessage = 4096
	}
	m := &mux{link: link, maxData: maxMessage - apf.ChannelDataHeader, chans: map[uint32]*channel{}, done: make(chan struct{}), outSig: make(chan struct{}, 1)}
	go m.write()
	return m
}

// send queues msg for the writer: a reader that answers must never wait
// for the other side to read, or two readers answering each other stall.
// The queue stays small because data waits for the window.
func (m *mux) send(msg apf.Message) error {
	b := msg.Marshal()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.outq = append(m.outq, b)
	signal(m.outSig)
	return nil
}

// endAfterQueued ends the session once what is queued has been sent: a
// session that ends with its channel still sends the channel's close.
func (m *mux) endAfterQueued() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return
	}
	m.outq = append(m.outq, nil)
	signal(m.outSig)
}

// write sends queued messages in order until the session ends.
func (m *mux) write() {
	for {
		m.mu.Lock()
		q := m.outq
		m.outq = nil
		m.mu.Unlock()
		for _, b := range q {
			if b == nil {
				m.fail(fmt.Errorf("%w: it ended with its channel", ErrSessionClosed))
				return
			}
			if err := m.link.Send(b); err != nil {
				m.fail(fmt.Errorf("%w: send: %v", ErrSessionClosed, err))
				return
			}
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-m.outSig:
		case <-m.done:
			return
		}
	}
}

// fail ends the session once: every channel sees the end.
func (m *mux) fail(err error) {
	m.mu.Lock()
	if m.err != nil {
		m.mu.Unlock()
		return
	}
	m.err = err
	chans := m.chans
	m.chans = map[uint32]*channel{}
	close(m.done)
	m.mu.Unlock()
	_ = m.link.Close()
	for _, c := range chans {
		c.remoteClose(true)
	}
}

// Err returns why the session ended, nil while it runs.
func (m *mux) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// run reads messages until the link ends, handing channel messages to
// their channel and the rest to role.
func (m *mux) run(role func(apf.Message) error) {
	for {
		b, err := m.link.Recv()
		if err != nil {
			m.fail(fmt.Errorf("%w: %v", ErrSessionClosed, err))
			return
		}
		msg, err := apf.Parse(b)
		if err != nil {
			m.fail(fmt.Errorf("%w: %v", ErrSessionClosed, err))
			return
		}
		switch msg := msg.(type) {
		case apf.ChannelData:
			if c := m.lookup(msg.Recipient); c != nil {
				c.deliver(append([]byte(nil), msg.Data...))
			}
		case apf.ChannelWindowAdjust:
			if c := m.lookup(msg.Recipient); c != nil {
				c.grant(msg.Bytes)
			}
		case apf.ChannelClose:
			m.mu.Lock()
			c := m.chans[msg.Recipient]
			delete(m.chans, msg.Recipient)
			m.mu.Unlock()
			if c != nil {
				c.remoteClose(false)
				if m.onClosed != nil {
					m.onClosed()
				}
			}
		case apf.KeepAliveRequest:
			_ = m.send(apf.KeepAliveReply(msg))
		case apf.Disconnect:
			m.fail(fmt.Errorf("%w: the other side disconnected (reason %d)", ErrSessionClosed, msg.Reason))
			return
		default:
			if err := role(msg); err != nil {
				_ = m.send(apf.Disconnect{Reason: 2}) // protocol error
				m.fail(fmt.Errorf("%w: %v", ErrSessionClosed, err))
				return
			}
		}
	}
}

func (m *mux) lookup(n uint32) *channel {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.chans[n]
}

// reserve allocates our number for a new channel, at most limit open.
func (m *mux) reserve(limit int) (*channel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	if limit > 0 && len(m.chans) >= limit {
		return nil, fmt.Errorf("apf channels: %d open, at most %d", len(m.chans), limit)
	}
	for {
		m.next++
		if _, taken := m.chans[m.next]; !taken {
			break
		}
	}
	inner, outer := net.Pipe()
	c := &channel{m: m, local: m.next, inner: inner, outer: outer, in: make(chan struct{}, 1), out: make(chan struct{}, 1)}
	m.chans[c.local] = c
	return c, nil
}

func (m *mux) release(c *channel) {
	m.mu.Lock()
	if m.chans[c.local] == c {
		delete(m.chans, c.local)
	}
	m.mu.Unlock()
}

// channel is one APF channel. Its user holds outer; two goroutines move
// bytes between inner and the link.
type channel struct {
	m             *mux
	local, remote uint32
	inner, outer  net.Conn

	mu        sync.Mutex
	window    uint32 // bytes we may still send
	queue     [][]byte
	closed    bool // the other side closed (or the session ended)
	closeSent bool
	// toUser waits on in (data, close), fromUser on out (window, close).
	in, out chan struct{}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (c *channel) deliver(b []byte) {
	c.mu.Lock()
	c.queue = append(c.queue, b)
	c.mu.Unlock()
	signal(c.in)
}

func (c *channel) grant(n uint32) {
	c.mu.Lock()
	c.window += n
	c.mu.Unlock()
	signal(c.out)
}

// remoteClose marks the channel closed by the other side; it answers with
// its own close unless the session is gone or it already sent one.
func (c *channel) remoteClose(sessionGone bool) {
	c.mu.Lock()
	c.closed = true
	reply := !c.closeSent && !sessionGone
	c.closeSent = true
	remote := c.remote
	c.mu.Unlock()
	if reply {
		_ = c.m.send(apf.ChannelClose{Recipient: remote})
	}
	signal(c.in)
	signal(c.out)
}

// start runs the channel once both numbers are known.
func (c *channel) start(remote, window uint32) {
	c.mu.Lock()
	c.remote = remote
	c.window += window
	c.mu.Unlock()
	go c.toUser()
	go c.fromUser()
}

// toUser writes what arrived into the pipe, granting the window back as
// the user reads it, and ends the pipe after the other side's close.
func (c *channel) toUser() {
	defer c.inner.Close()
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			closed := c.closed
			c.mu.Unlock()
			if closed {
				return
			}
			<-c.in
			continue
		}
		b := c.queue[0]
		c.queue = c.queue[1:]
		c.mu.Unlock()
		if _, err := c.inner.Write(b); err != nil {
			return
		}
		_ = c.m.send(apf.ChannelWindowAdjust{Recipient: c.remote, Bytes: uint32(len(b))})
	}
}

// fromUser sends what the user writes, within the window, and closes the
// channel when the user closes its end.
func (c *channel) fromUser() {
	buf := make([]byte, c.m.maxData)
	for {
		c.mu.Lock()
		w, closed := c.window, c.closed
		c.mu.Unlock()
		if closed {
			_ = c.inner.Close()
			return
		}
		if w == 0 {
			<-c.out
			continue
		}
		n, err := c.inner.Read(buf[:min(int(w), len(buf))])
		if n > 0 {
			c.mu.Lock()
			c.window -= uint32(n)
			c.mu.Unlock()
			if c.m.send(apf.ChannelData{Recipient: c.remote, Data: buf[:n]}) != nil {
				return
			}
		}
		if err != nil {
			c.mu.Lock()
			send := !c.closeSent
			c.closeSent = true
			c.mu.Unlock()
			if send {
				_ = c.m.send(apf.ChannelClose{Recipient: c.remote})
			}
			return
		}
	}
}
