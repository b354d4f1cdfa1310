package amtsim

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"

	"github.com/amtrcs/amtrcs/amt"
)

// The firmware's own network port (reference §6): once TLS is configured
// for the network side (AMT_TLSSettingData of the remote interface
// enabled), AMT serves WS-MAN on port 16993 of the PC's address with the
// certificate the RCS gave it, whether or not the PC's OS runs. The
// simulator listens on the device's own loopback address, as the legacy
// hello path does, so that a server reaches it by a name or an address and
// never through an agent.

// ListenNetwork opens port 16993 on ip, an address in 127.0.0.0/8 that is
// the device's own. A connection made while TLS is not configured for the
// network side is closed, as the firmware serves no TLS port then.
func (d *Device) ListenNetwork(ip string) error {
	a := net.ParseIP(ip).To4()
	if a == nil || !a.IsLoopback() {
		re := refusal(RuleParameter, fmt.Sprintf("device address %q", ip), "an IPv4 address in 127.0.0.0/8", "give each simulated device its own loopback address, such as 127.1.0.1")
		d.mu.Lock()
		d.refuseLocked("network port", re)
		d.mu.Unlock()
		return re
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(a.String(), strconv.Itoa(PortTLS)))
	if err != nil {
		return fmt.Errorf("amtsim: device %s: listen on %s port %d: %w", d.uuid, a, PortTLS, err)
	}
	d.mu.Lock()
	old := d.network
	d.network = ln
	d.eventLocked("network", fmt.Sprintf("listening on %s", ln.Addr()))
	d.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	go d.acceptNetwork(ln)
	return nil
}

// NetworkAddress is where the network port listens ("" when it does not).
func (d *Device) NetworkAddress() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.network == nil {
		return ""
	}
	return d.network.Addr().String()
}

// CloseNetwork closes the network port: the PC lost power or network, and
// AMT no longer answers.
func (d *Device) CloseNetwork() {
	d.mu.Lock()
	ln := d.network
	d.network = nil
	if ln != nil {
		d.eventLocked("network", "port 16993 closed")
	}
	d.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
}

func (d *Device) acceptNetwork(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		cfg, err := d.networkTLSConfig()
		if err != nil {
			_ = c.Close()
			continue
		}
		serve(tls.Server(&lmsConn{Conn: c, info: &connInfo{d: d, port: PortTLS, kind: setupNone}}, cfg))
	}
}

// networkTLSConfig serves the configured certificate when TLS is enabled on
// the network side; in mutual mode the client must present a certificate.
func (d *Device) networkTLSConfig() (*tls.Config, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.st.TLSRemote.Enabled {
		return nil, fmt.Errorf("amtsim: device %s network port 16993: %w (TLS is not enabled on the network side)", d.uuid, ErrPortClosed)
	}
	cert, err := d.tlsCertLocked()
	if err != nil {
		return nil, fmt.Errorf("amtsim: device %s network port 16993: %w (%v)", d.uuid, ErrPortClosed, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12, MaxVersion: d.st.Rules.tlsMaxVersion(), CipherSuites: amt.LegacyCipherSuites(d.version)}
	if d.st.TLSRemote.MutualAuthentication {
		cfg.ClientAuth = tls.RequireAnyClientCert
	}
	return cfg, nil
}
