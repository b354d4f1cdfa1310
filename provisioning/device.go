package provisioning

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amt/wsman"
)

// Firmware ports (reference §6, §7).
const (
	PortHTTP = 16992 // WS-MAN over HTTP (local through LMS)
	PortTLS  = 16993 // WS-MAN over TLS
)

// Device is one AMT device as the engine reaches it: what the host
// interface reported, a host-interface client, and a dialer for the
// firmware's ports.
type Device struct {
	// Info is what the host interface reported (ReadInfo fills it). For a
	// legacy hello device only UUID is known at first; the engine fills
	// Version from CIM_SoftwareIdentity.
	Info hostif.Info
	// Hostname and OSFQDN are the operating system's names, as the agent
	// reports them; SyncHostname copies them into AMT.
	Hostname, OSFQDN string
	// Host is the host-interface client (PTHI relayed by the agent); nil
	// for legacy hello devices, which are reached over the network only.
	Host *hostif.Client
	// Mng is the manageability client (operational state, TLS enforced on
	// the local ports); nil when the device has none or is reached over
	// the network only.
	Mng *hostif.Manageability
	// Dial opens one stream to a firmware port (16992 or 16993): a relayed
	// LMS stream, or TCP to the hello's source address.
	Dial func(ctx context.Context, port int) (net.Conn, error)
	// Addr is the hello's source address for legacy devices; zero on the
	// agent path.
	Addr netip.Addr
}

// ID is the device's UUID as text, the key of its session and secrets.
func (d *Device) ID() string { return d.Info.UUID.String() }

// ReadInfo fills Info over the host interface.
func (d *Device) ReadInfo(ctx context.Context) error {
	if d.Host == nil {
		return errors.New("read device info: the device has no host interface (a legacy hello device); its facts come from WS-MAN")
	}
	in, err := d.Host.ReadInfo(ctx)
	if err != nil {
		return fmt.Errorf("read device info: %w", err)
	}
	in.AMTState = d.readAMTState(ctx)
	d.Info = in
	return nil
}

// RefreshState re-reads, live, what a report may have got wrong since the
// agent read it: the provisioning state, and the control mode where it is
// not implied (pre-provisioning has none). The rest of Info (version,
// suffix, hash table, flags) stays as reported, as RPS trusts rpc-go's
// amtinfo; but when the state moved since the report, the report is stale
// and all of Info is read again. One host-interface call in the common
// case, instead of one per fact and per hash.
func (d *Device) RefreshState(ctx context.Context) error {
	if d.Host == nil {
		return errors.New("read device state: the device has no host interface (a legacy hello device)")
	}
	st, err := d.Host.ProvisioningState(ctx)
	if err != nil {
		return fmt.Errorf("read device state: %w", err)
	}
	mode := amt.ControlNone
	if st != amt.PreProvisioning {
		if mode, err = d.Host.ControlMode(ctx); err != nil {
			return fmt.Errorf("read device state: %w", err)
		}
	}
	if st != d.Info.ProvisioningState || mode != d.Info.ControlMode {
		return d.ReadInfo(ctx)
	}
	return nil
}

// readAMTState reads the manageability client's flags; nil when there is
// no client or it does not answer, and the device is then judged by its
// version, as rpc-go goes on when it cannot read them.
func (d *Device) readAMTState(ctx context.Context) *amt.AMTState {
	if d.Mng == nil {
		return nil
	}
	st, err := d.Mng.AMTState(ctx)
	if err != nil {
		return nil
	}
	return &st
}

// state reads control mode and provisioning state over the host interface.
func (d *Device) state(ctx context.Context) (amt.ControlMode, amt.ProvisioningState, error) {
	mode, err := d.Host.ControlMode(ctx)
	if err != nil {
		return 0, 0, err
	}
	st, err := d.Host.ProvisioningState(ctx)
	return mode, st, err
}

// conn is one WS-MAN client with the transport under it, so that its
// connections can be closed when a session ends (relayed streams are
// scarce: firmware has about 8 channel slots).
type conn struct {
	*wsman.Client
	tr *http.Transport
}

func (c *conn) close() {
	if c != nil && c.tr != nil {
		c.tr.CloseIdleConnections()
	}
}

// dialWSMAN opens a WS-MAN client on port as user. tlsCfg is required for
// PortTLS and ignored for PortHTTP.
func (d *Device) dialWSMAN(port int, user, password string, tlsCfg *tls.Config) (*conn, error) {
	if d.Dial == nil {
		return nil, errors.New("device has no dialer for its WS-MAN ports")
	}
	host := "127.0.0.1" // LMS listens on the host's loopback
	if d.Addr.IsValid() {
		host = d.Addr.String()
	}
	scheme := "http"
	if port == PortTLS {
		scheme = "https"
		if tlsCfg != nil && tlsCfg.CipherSuites == nil {
			// AMT 11 and 12 offer RSA key exchange only; Go does not by
			// default. Offered to those versions (and to a legacy device
			// whose version is not read yet), never to AMT 16+.
			if s := amt.ClientCipherSuites(d.Info.Version); s != nil {
				tlsCfg = tlsCfg.Clone()
				tlsCfg.CipherSuites = s
			}
		}
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := d.Dial(ctx, port)
			if err != nil {
				return nil, err
			}
			return silenceConn{c}, nil
		},
		TLSClientConfig: tlsCfg,
		// AMT speaks HTTP/1.1 only; a relayed stream is one connection.
		ForceAttemptHTTP2:   false,
		MaxIdleConnsPerHost: 1,
		// No handshake or response timeout: they count the time from
		// the start, a busy server's CPU included; silenceConn bounds the
		// firmware's silence instead, and the job's context the whole.
	}
	endpoint := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/wsman"
	c, err := wsman.NewClient(endpoint, user, password, wsman.WithTransport(tr))
	if err != nil {
		return nil, err
	}
	return &conn{Client: c, tr: tr}, nil
}

// firmwareSilence is how long the firmware may send nothing while the
// engine waits for it: a TLS handshake message or a WS-MAN answer.
const firmwareSilence = 2 * time.Minute

// silenceConn fails a read only when the other side has been silent for
// firmwareSilence. A deadline from the start of a handshake or a request
// would also count the time this process spends computing, and under load
// take a busy server for a silent firmware.
type silenceConn struct{ net.Conn }

func (c silenceConn) Read(b []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(firmwareSilence))
	return c.Conn.Read(b)
}
