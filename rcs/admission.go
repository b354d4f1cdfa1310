package rcs

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
)

// maxAdmitting bounds the agent gateway's connections between their accept
// and the end of their first request (TLS handshake, headers, the connect
// handler up to the websocket's hijack, or an enrollment). A fleet that
// comes back after a restart would otherwise start thousands of handshakes
// at once on a few cores: each then takes longer than the handshake
// timeout and all fail together. Bounded, they finish in turn while the
// rest wait in the kernel's accept queue, and agents' dials wait rather
// than fail. It also bounds what clients that stall their handshake can
// hold up: each is cut off by the read-header timeout.
const maxAdmitting = 128

// admission hands out the slots.
type admission struct{ slots chan struct{} }

func newAdmission(n int) *admission { return &admission{slots: make(chan struct{}, n)} }

// listener accepts from ln only while a slot is free.
func (a *admission) listener(ln net.Listener) net.Listener {
	return &admitListener{Listener: ln, a: a, done: make(chan struct{})}
}

type admitListener struct {
	net.Listener
	a         *admission
	done      chan struct{}
	closeOnce sync.Once
}

func (l *admitListener) Accept() (net.Conn, error) {
	select {
	case l.a.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.a.slots
		return nil, err
	}
	return &admittedConn{Conn: c, a: l.a}, nil
}

// Close also wakes an Accept that waits for a slot.
func (l *admitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// admittedConn holds its slot until its first request is served or it
// closes.
type admittedConn struct {
	net.Conn
	a    *admission
	once sync.Once
}

func (c *admittedConn) release() { c.once.Do(func() { <-c.a.slots }) }

func (c *admittedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// releaseAdmitted is an http.Server's ConnState: a connection's slot is
// free once its first request is done (hijacked by the websocket, or idle
// after an answer) or it closed. Connections of other listeners are not
// admittedConns and pass.
func releaseAdmitted(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateHijacked, http.StateIdle, http.StateClosed:
	default:
		return
	}
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if ac, ok := c.(*admittedConn); ok {
		ac.release()
	}
}
