package lme

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/amtrcs/amtrcs/agent/apf"
)

// The ports the firmware forwards: a management port and its redirection
// partner, 16992 and 623 without TLS enforcement, 16993 and 664 with it
// (rpc-go waits for a whole pair before its first channel open, so that no
// registration races the open).
var forwardPairs = [][2]uint32{{16992, 623}, {16993, 664}}

// Host is the host side of an APF session: what LMS does for the agent.
type Host struct {
	m *mux

	mu        sync.Mutex
	version   *apf.ProtocolVersion
	forwarded map[uint32]bool
	ready     chan struct{} // closed when a forward pair is registered
	pending   map[uint32]chan apf.Message
}

// NewHost starts a session on link: it sends the protocol version and
// answers the firmware's service and forward requests. maxMessage is the
// LME client's largest message (0: 4096).
func NewHost(link Link, maxMessage int) (*Host, error) {
	return newHost(link, maxMessage, false)
}

// DialSession opens a session on link for one channel to firmware port
// and ends it when the channel closes: real firmware drops the session on
// every channel close (rpc-go's LME engine handshakes again per request),
// so a session outliving its channel is not one to open the next channel
// on. Closing the returned conn ends the session and closes link.
func DialSession(ctx context.Context, link Link, maxMessage, port int) (net.Conn, error) {
	h, err := newHost(link, maxMessage, true)
	if err != nil {
		return nil, err
	}
	c, err := h.Dial(ctx, port)
	if err != nil {
		h.Close()
		return nil, err
	}
	return c, nil
}

func newHost(link Link, maxMessage int, oneChannel bool) (*Host, error) {
	h := &Host{m: newMux(link, maxMessage), forwarded: map[uint32]bool{}, ready: make(chan struct{}), pending: map[uint32]chan apf.Message{}}
	if oneChannel {
		h.m.onClosed = h.m.endAfterQueued
	}
	// Version 1.0, trigger 9, as rpc-go's LME engine opens.
	if err := link.Send(apf.ProtocolVersion{Major: 1, Minor: 0, TriggerReason: 9}.Marshal()); err != nil {
		_ = link.Close()
		return nil, fmt.Errorf("apf protocol version to the LME client: %w", err)
	}
	go h.m.run(h.handle)
	return h, nil
}

// Done is closed when the session ended; Err then says why.
func (h *Host) Done() <-chan struct{} { return h.m.done }

// Err returns why the session ended, nil while it runs.
func (h *Host) Err() error { return h.m.Err() }

// Close ends the session and every channel.
func (h *Host) Close() error {
	h.m.fail(fmt.Errorf("%w: closed by the host", ErrSessionClosed))
	return nil
}

func (h *Host) handle(msg apf.Message) error {
	switch msg := msg.(type) {
	case apf.ProtocolVersion:
		if msg.Major != 1 {
			return fmt.Errorf("apf protocol version %d.%d from the firmware: want 1.x; this agent speaks APF 1.0 as LMS does", msg.Major, msg.Minor)
		}
		h.mu.Lock()
		h.version = &msg
		h.mu.Unlock()
	case apf.ServiceRequest:
		if msg.Service != apf.ServicePortForward {
			return h.m.send(apf.Disconnect{Reason: 7}) // service not available
		}
		return h.m.send(apf.ServiceAccept(msg))
	case apf.GlobalRequest:
		switch msg.Request {
		case apf.RequestTCPForward:
			h.mu.Lock()
			h.forwarded[msg.Port] = true
			for _, p := range forwardPairs {
				if h.forwarded[p[0]] && h.forwarded[p[1]] {
					select {
					case <-h.ready:
					default:
						close(h.ready)
					}
				}
			}
			h.mu.Unlock()
			return h.m.send(apf.RequestSuccess{Port: msg.Port, HasPort: true})
		case apf.RequestTCPCancel:
			h.mu.Lock()
			delete(h.forwarded, msg.Port)
			h.mu.Unlock()
			return h.m.send(apf.RequestSuccess{})
		}
		return h.m.send(apf.RequestFailure{})
	case apf.ChannelOpen:
		// The firmware opens channels for its events to a console; the
		// agent relays only what the server asks for.
		return h.m.send(apf.ChannelOpenFailure{Recipient: msg.Sender, Reason: apf.ReasonProhibited})
	case apf.ChannelOpenConfirm:
		h.answer(msg.Recipient, msg)
	case apf.ChannelOpenFailure:
		h.answer(msg.Recipient, msg)
	}
	return nil
}

func (h *Host) answer(local uint32, msg apf.Message) {
	h.mu.Lock()
	ch := h.pending[local]
	delete(h.pending, local)
	h.mu.Unlock()
	if ch != nil {
		ch <- msg
	}
}

// Ports returns the ports the firmware registered, for logs.
func (h *Host) Ports() []uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ps []uint32
	for _, p := range []uint32{16992, 16993, 623, 664} {
		if h.forwarded[p] {
			ps = append(ps, p)
		}
	}
	return ps
}

// Dial opens a channel to firmware port (16992 or 16993), once the
// firmware has registered its forwards.
func (h *Host) Dial(ctx context.Context, port int) (net.Conn, error) {
	select {
	case <-h.ready:
	case <-h.m.done:
		return nil, fmt.Errorf("apf channel to port %d: %w", port, h.m.Err())
	case <-ctx.Done():
		return nil, fmt.Errorf("apf channel to port %d: the firmware registered no port pair (16992+623 or 16993+664) before %w; ports seen %v: check that AMT is enabled in MEBx", port, ctx.Err(), h.Ports())
	}
	c, err := h.m.reserve(0)
	if err != nil {
		return nil, fmt.Errorf("apf channel to port %d: %w", port, err)
	}
	answer := make(chan apf.Message, 1)
	h.mu.Lock()
	h.pending[c.local] = answer
	h.mu.Unlock()
	drop := func() {
		h.mu.Lock()
		delete(h.pending, c.local)
		h.mu.Unlock()
		h.m.release(c)
	}
	open := apf.ChannelOpen{ChannelType: apf.ChannelForwarded, Sender: c.local, Window: apf.DefaultWindow, MaxPacket: 0xFFFFFFFF,
		ConnectedAddr: "::1", ConnectedPort: uint32(port), OriginAddr: "::1", OriginPort: 123}
	if err := h.m.send(open); err != nil {
		drop()
		return nil, fmt.Errorf("apf channel to port %d: %w", port, err)
	}
	select {
	case msg := <-answer:
		switch msg := msg.(type) {
		case apf.ChannelOpenConfirm:
			c.start(msg.Sender, msg.Window)
			return c.outer, nil
		case apf.ChannelOpenFailure:
			h.m.release(c)
			return nil, fmt.Errorf("apf channel to port %d: the firmware refused it with reason %d (%s): want an open channel; %s", port, msg.Reason, reasonText(msg.Reason), reasonFix(msg.Reason, port))
		}
		drop()
		return nil, fmt.Errorf("apf channel to port %d: unexpected answer %T", port, msg)
	case <-h.m.done:
		drop()
		return nil, fmt.Errorf("apf channel to port %d: %w", port, h.m.Err())
	case <-ctx.Done():
		// A late confirmation finds no waiter; the firmware's channel
		// stays until the session ends.
		drop()
		return nil, fmt.Errorf("apf channel to port %d: no answer from the firmware: %w", port, ctx.Err())
	}
}

func reasonText(r uint32) string {
	switch r {
	case apf.ReasonProhibited:
		return "administratively prohibited"
	case apf.ReasonConnectFailed:
		return "connect failed"
	case apf.ReasonUnknownChannelType:
		return "unknown channel type"
	case apf.ReasonResourceShortage:
		return "resource shortage"
	}
	return "unknown reason"
}

func reasonFix(r uint32, port int) string {
	switch {
	case r == apf.ReasonResourceShortage:
		return "close other channels to the firmware (it holds 8) and retry"
	case port == 16992:
		return "the port may be closed (TLS enforced on the local ports: use 16993, or AMT disabled in MEBx)"
	}
	return "check that AMT is enabled in MEBx"
}
