package amtsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
)

// Ports of the firmware's WS-MAN service.
const (
	PortHTTP = 16992
	PortTLS  = 16993
)

// connInfo is what the server knows about a connection: which device, which
// port, and which setup it was opened for.
type connInfo struct {
	d    *Device
	port int
	kind setupKind
}

// lmsConn carries connInfo through http.Server to the handler.
type lmsConn struct {
	net.Conn
	info *connInfo
}

type connKey struct{}

// chanListener hands connections that DialLMS and the legacy listeners
// accept to one shared http.Server, so that devices need no listener and no
// goroutine of their own while idle.
type chanListener struct{ ch chan net.Conn }

func (l *chanListener) Accept() (net.Conn, error) { return <-l.ch, nil }
func (l *chanListener) Close() error              { return nil }
func (l *chanListener) Addr() net.Addr            { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "amtsim" }

var (
	serverOnce sync.Once
	serverConn chan net.Conn
)

// serve passes c to the process-wide WS-MAN server, starting it once. It
// runs for the life of the process: a simulator serves until it exits.
func serve(c net.Conn) {
	serverOnce.Do(func() {
		serverConn = make(chan net.Conn)
		srv := &http.Server{
			Handler: http.HandlerFunc(serveLMS),
			// The TLS handshake and the request header must come within
			// this: long, because the clients share the process's CPU
			// (a busy test is no silent client).
			ReadHeaderTimeout: 2 * time.Minute,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          log.New(io.Discard, "", 0),
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				if tc, ok := c.(*tls.Conn); ok {
					c = tc.NetConn()
				}
				if lc, ok := c.(*lmsConn); ok {
					return context.WithValue(ctx, connKey{}, lc.info)
				}
				return ctx
			},
		}
		go func() { _ = srv.Serve(&chanListener{ch: serverConn}) }()
	})
	serverConn <- c
}

func serveLMS(w http.ResponseWriter, r *http.Request) {
	info, ok := r.Context().Value(connKey{}).(*connInfo)
	if !ok {
		http.Error(w, "amtsim: connection without a device", http.StatusInternalServerError)
		return
	}
	info.d.serveWSMAN(w, r, info)
}

// ErrPortClosed is returned by DialLMS for a port the device does not serve
// in its current state, as a real device would refuse the connection.
var ErrPortClosed = errors.New("connection refused")

// DialLMS opens a connection to the device's WS-MAN port as LMS on the host
// would: one end of a net.Pipe served by the device, so that 10,000 devices
// cost no file descriptors. Port 16992 is plain HTTP; port 16993 is TLS,
// served with the device's identity certificate during TLS-based or legacy
// setup (a client certificate chain is then required) and with the
// certificate configured by AMT_TLSCredentialContext afterwards.
func (d *Device) DialLMS(ctx context.Context, port int) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := d.portOpen(port); err != nil {
		return nil, err
	}
	switch port {
	case PortHTTP:
		client, server := net.Pipe()
		serve(&lmsConn{Conn: server, info: &connInfo{d: d, port: PortHTTP}})
		return client, nil
	case PortTLS:
		cfg, kind, err := d.tlsConfig()
		if err != nil {
			return nil, err
		}
		client, server := net.Pipe()
		serve(tls.Server(&lmsConn{Conn: server, info: &connInfo{d: d, port: PortTLS, kind: kind}}, cfg))
		return client, nil
	}
	return nil, fmt.Errorf("amtsim: device %s port %d: %w (LMS forwards 16992 and 16993 only)", d.uuid, port, ErrPortClosed)
}

// portOpen refuses a connection the firmware would refuse: any WS-MAN port
// while AMT is disabled, and plain 16992 while TLS is enforced on the local
// ports. How real firmware refuses (a reset connection, or LMS not
// listening) is not documented; a refused connection is what the client
// sees either way.
func (d *Device) portOpen(port int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.st.AMTDisabled:
		return fmt.Errorf("amtsim: device %s port %d: %w (AMT is disabled: enable it with SetAmtOperationalState or in the MEBx)", d.uuid, port, ErrPortClosed)
	case port == PortHTTP && d.tlsEnforcedLocked():
		return fmt.Errorf("amtsim: device %s port %d: %w (TLS is enforced on the local ports: use 16993)", d.uuid, port, ErrPortClosed)
	}
	return nil
}

// TLSConfig is the server configuration port 16993 uses now, for callers
// that serve Handler over their own TLS listener.
func (d *Device) TLSConfig() (*tls.Config, error) {
	cfg, _, err := d.tlsConfig()
	return cfg, err
}

func (d *Device) tlsConfig() (*tls.Config, setupKind, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	maxV := d.st.Rules.tlsMaxVersion()
	if s := d.setup; s != nil {
		if s.cert == nil {
			return nil, 0, fmt.Errorf("amtsim: device %s port 16993: %w (setup certificate missing)", d.uuid, ErrPortClosed)
		}
		kind := s.kind
		return &tls.Config{
			Certificates:           []tls.Certificate{*s.cert},
			ClientAuth:             tls.RequireAnyClientCert,
			MinVersion:             tls.VersionTLS12,
			MaxVersion:             maxV,
			CipherSuites:           amt.LegacyCipherSuites(d.version),
			SessionTicketsDisabled: true, // a resumed session would skip the chain check
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				return d.verifySetupChain(kind, raw)
			},
		}, kind, nil
	}
	cert, err := d.tlsCertLocked()
	if err != nil && d.tlsEnforcedLocked() {
		cert, err = d.localTLSCertLocked()
	}
	if err != nil {
		return nil, 0, fmt.Errorf("amtsim: device %s port 16993: %w (%v)", d.uuid, ErrPortClosed, err)
	}
	// AMT 11 and 12 serve RSA key-exchange suites only.
	return &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12, MaxVersion: maxV, CipherSuites: amt.LegacyCipherSuites(d.version)}, setupNone, nil
}

// Handler serves the device's WS-MAN for callers with their own server:
// a request without TLS is port 16992, one with TLS port 16993 (serve it
// with TLSConfig so that setup sessions have their client chain checked).
func (d *Device) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &connInfo{d: d, port: PortHTTP}
		if r.TLS != nil {
			info.port = PortTLS
			d.mu.Lock()
			if d.setup != nil {
				info.kind = d.setup.kind
			}
			d.mu.Unlock()
		}
		d.serveWSMAN(w, r, info)
	})
}

// caller is who made a WS-MAN request, as the handlers see it.
type caller struct {
	d     *Device
	user  string
	port  int
	setup setupKind // the setup session the request belongs to, if any
	lsa   bool      // authenticated as the local system account
}

type callerKey struct{}

func callerFrom(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	return c
}

// deviceAuth holds the digest state of the two ports, created on first use.
type deviceAuth struct {
	plain, tls *wsman.DigestAuth
}

func (d *Device) authFor(port int) *wsman.DigestAuth {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.auth == nil {
		realm := d.st.Realm
		d.auth = &deviceAuth{
			plain: &wsman.DigestAuth{Realm: realm, Lookup: d.lookupPlain, Now: d.clock.Now, MaxNonces: 64},
			tls:   &wsman.DigestAuth{Realm: realm, Lookup: d.lookupTLS, Now: d.clock.Now, MaxNonces: 64},
		}
	}
	if port == PortTLS {
		return d.auth.tls
	}
	return d.auth.plain
}

// lookupPlain: port 16992 takes the local system account until the device
// is provisioned, then the admin user.
func (d *Device) lookupPlain(user string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lookupLocalLocked(user)
}

func (d *Device) lookupLocalLocked(user string) (string, bool) {
	if d.st.ProvState != amt.PostProvisioning {
		if user == d.st.LocalAccount.User {
			return wsman.HA1(user, d.st.Realm, d.st.LocalAccount.Password), true
		}
		return "", false
	}
	if user == d.st.AdminUser && d.st.AdminHA1 != "" {
		return d.st.AdminHA1, true
	}
	return "", false
}

// lookupTLS: in a setup session, user admin with an empty password until
// SetAdminAclEntryEx (the client certificate authenticated the session);
// otherwise the admin user.
func (d *Device) lookupTLS(user string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.setup != nil && !d.setup.aclSet {
		if user == "admin" {
			return wsman.HA1(user, d.st.Realm, ""), true
		}
		return "", false
	}
	if d.setup == nil && d.tlsEnforcedLocked() {
		// TLS-enforced local ports: 16993 takes what 16992 would.
		return d.lookupLocalLocked(user)
	}
	if user == d.st.AdminUser && d.st.AdminHA1 != "" {
		return d.st.AdminHA1, true
	}
	return "", false
}

func (d *Device) serveWSMAN(w http.ResponseWriter, r *http.Request, info *connInfo) {
	d.mu.Lock()
	setup := setupNone
	if info.port == PortTLS && d.setup != nil && d.setup.kind == info.kind {
		setup = info.kind
	}
	digestOff := setup != setupNone && d.st.Rules.SetupDigestOff
	d.mu.Unlock()
	if info.port == PortTLS && info.kind != setupNone && setup == setupNone {
		// The setup this connection was opened for has ended (committed or
		// stopped); firmware restarts its network stack then.
		http.Error(w, "setup session ended", http.StatusServiceUnavailable)
		return
	}
	user := "admin"
	if !digestOff {
		var ok bool
		if user, ok = d.authFor(info.port).Authenticate(w, r); !ok {
			return
		}
	}
	if err := d.wait(r.Context()); err != nil {
		return
	}
	d.mu.Lock()
	lsa := (info.port == PortHTTP || (setup == setupNone && d.tlsEnforcedLocked())) && d.st.ProvState != amt.PostProvisioning && user == d.st.LocalAccount.User
	d.mu.Unlock()
	c := &caller{d: d, user: user, port: info.port, setup: setup, lsa: lsa}
	mux().ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
}
