package amtsim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hello"
)

// Legacy network setup (reference §7 and §14): the device sends hello
// messages to its provisioning server's TCP port 9971 from its own address,
// retrying 0 to 14, and listens on port 16993 of that address for the
// server's mutual-TLS session; the server configures it as user admin with
// an empty password until SetAdminAclEntryEx.

// HelloConfig is where and how often a device in legacy setup says hello.
type HelloConfig struct {
	// Server is the provisioning server, host:port (port 9971 on real
	// networks; the simulator takes any, so tests can use 127.0.0.1:0).
	Server string `json:"server,omitempty"`
	// Interval is the time between hellos. Real firmware spreads 15 hellos
	// over about 6 hours (DefaultHelloInterval); tests use milliseconds.
	Interval time.Duration `json:"interval,omitempty"`
	// Source is the device's own loopback address (127.0.0.0/8): hellos
	// come from it and port 16993 listens on it.
	Source string `json:"source,omitempty"`
}

// DefaultHelloInterval spreads retries 0 to 14 over about 6 hours.
const DefaultHelloInterval = 25 * time.Minute

// helloRun is a legacy setup in progress: its listener and retry timer.
type helloRun struct {
	ln    net.Listener
	timer *time.Timer
	retry uint32
	quiet bool // the server connected back: no more hellos
}

func (d *Device) helloIPLocked() net.IP {
	if d.st.Hello.Source == "" {
		return nil
	}
	return net.ParseIP(d.st.Hello.Source).To4()
}

// StartHello puts the device in legacy network setup: it opens port 16993
// on its loopback address and starts sending hellos to the configured
// server. It refuses a version the HelloMaxVersion rule excludes, a device
// that is not in pre-provisioning, and an address outside 127.0.0.0/8.
func (d *Device) StartHello() error {
	const call = "legacy network setup"
	d.mu.Lock()
	cfg := d.st.Hello
	ip := d.helloIPLocked()
	var re *amt.RuleError
	switch {
	case !d.st.Rules.helloAllowed(d.version):
		re = refusal(RuleHelloVersion, "AMT "+d.version.String(), "AMT "+d.st.Rules.HelloMaxVersion.String()+" or older", "use host-based or TLS-based setup on this version")
	case d.setup != nil || d.st.ProvState != amt.PreProvisioning:
		re = refusal(RuleState, d.st.ProvState.String(), "pre-provisioning without another setup in progress", "unprovision the device, or stop the other setup")
	case ip == nil || !ip.IsLoopback():
		re = refusal(RuleParameter, fmt.Sprintf("device address %q", cfg.Source), "an IPv4 address in 127.0.0.0/8", "give each simulated device its own loopback address, such as 127.1.0.1")
	case cfg.Server == "":
		re = refusal(RuleParameter, "no provisioning server address", "host:port of the server's hello listener", "set the hello server address (--hello)")
	}
	if re != nil {
		d.refuseLocked(call, re)
		d.mu.Unlock()
		return re
	}
	d.mu.Unlock()

	// AMT 7 to 18 present their own self-signed certificate in legacy
	// setup; no CA vouches for it (MeshCentral checks none).
	cert, err := selfSignedCert(d.uuid, d.clock.Now())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(PortTLS)))
	if err != nil {
		return fmt.Errorf("amtsim: device %s: listen on %s port %d: %w", d.uuid, ip, PortTLS, err)
	}
	d.mu.Lock()
	if d.setup != nil || d.st.ProvState != amt.PreProvisioning {
		d.mu.Unlock()
		_ = ln.Close()
		return fmt.Errorf("amtsim: device %s: another setup started meanwhile", d.uuid)
	}
	run := &helloRun{ln: ln}
	d.hello = run
	d.setup = &session{kind: setupHello, cert: cert}
	d.st.ProvState = amt.InProvisioning
	d.eventLocked("setup", fmt.Sprintf("legacy network setup: listening on %s, hellos to %s", ln.Addr(), cfg.Server))
	run.timer = time.AfterFunc(0, func() { d.sendHello(run) })
	d.mu.Unlock()
	go d.acceptSetup(ln)
	return nil
}

// acceptSetup serves the setup port until the listener closes.
func (d *Device) acceptSetup(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		cfg, kind, err := d.tlsConfig()
		if err != nil || kind != setupHello {
			_ = c.Close()
			continue
		}
		serve(tls.Server(&lmsConn{Conn: c, info: &connInfo{d: d, port: PortTLS, kind: setupHello}}, cfg))
	}
}

// sendHello sends one hello and schedules the next, up to retry 14.
func (d *Device) sendHello(run *helloRun) {
	d.mu.Lock()
	if d.hello != run || run.quiet {
		d.mu.Unlock()
		return
	}
	msg := hello.Message{
		AdminCredentialsSet: d.st.MEBxPassword != "admin",
		InterfaceVersion:    hello.InterfaceVersionPKI,
		Retry:               run.retry,
		UUID:                d.uuid,
	}
	for _, e := range d.hashesLocked().Entries {
		if e.Active && (e.Algorithm == amt.HashSHA1 || e.Algorithm == amt.HashSHA256 || e.Algorithm == amt.HashSHA384) && len(msg.Hashes) < hello.MaxHashes {
			msg.Hashes = append(msg.Hashes, hello.Hash{Algorithm: e.Algorithm, Value: e.Hash})
		}
	}
	server, interval, src := d.st.Hello.Server, d.st.Hello.Interval, d.helloIPLocked()
	d.mu.Unlock()
	if interval <= 0 {
		interval = DefaultHelloInterval
	}
	err := deliverHello(server, src, msg)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.eventLocked("hello", fmt.Sprintf("hello %d to %s failed: %v", msg.Retry, server, err))
	} else {
		d.eventLocked("hello", fmt.Sprintf("hello %d sent to %s", msg.Retry, server))
	}
	if d.hello != run || run.quiet {
		return
	}
	if run.retry >= hello.MaxRetry {
		d.eventLocked("hello", "retry 14 reached: no more hellos; port 16993 stays open for the server")
		return
	}
	run.retry++
	run.timer = time.AfterFunc(interval, func() { d.sendHello(run) })
}

// deliverHello writes one hello in one write from src, as firmware does;
// the server parses it when the device closes the connection.
func deliverHello(server string, src net.IP, m hello.Message) error {
	b, err := m.Encode()
	if err != nil {
		return err
	}
	dialer := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: src}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialer.DialContext(ctx, "tcp", server)
	if err != nil {
		return err
	}
	_, werr := c.Write(b)
	cerr := c.Close()
	return errors.Join(werr, cerr)
}

// helloAnsweredLocked stops the hellos once the server has connected back
// with an accepted chain.
func (d *Device) helloAnsweredLocked() {
	if d.hello != nil && !d.hello.quiet {
		d.hello.quiet = true
		d.hello.timer.Stop()
	}
}

// stopHelloLocked ends a legacy setup's listener and timer.
func (d *Device) stopHelloLocked() {
	if d.hello == nil {
		return
	}
	d.hello.timer.Stop()
	_ = d.hello.ln.Close()
	d.hello = nil
}

// StopHello leaves legacy network setup without configuring the device.
func (d *Device) StopHello() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.setup != nil && d.setup.kind == setupHello {
		d.setup = nil
		d.st.ProvState = amt.PreProvisioning
	}
	d.stopHelloLocked()
}

// SetHello changes where and how often the device says hello (takes effect
// at the next StartHello).
func (d *Device) SetHello(cfg HelloConfig) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.Hello = cfg
}
