package amtsim

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amt/wsman"
)

// LocalTLS says whether a device serves WS-MAN on its local ports over TLS
// only, the bit 6 that IsChangeToAMTEnabled reports (rpc-go reads it to
// pick its activation path and port; Intel LMS to pick its port).
type LocalTLS string

const (
	// LocalTLSByVersion: enforced on firmware that does TLS-based setup
	// (AMT 19 and later), open before it.
	LocalTLSByVersion LocalTLS = ""
	// LocalTLSEnforced: port 16992 refuses connections; WS-MAN is served on
	// 16993 only (ME 16.1 and later).
	LocalTLSEnforced LocalTLS = "enforced"
	// LocalTLSOpen: port 16992 serves WS-MAN over plain HTTP.
	LocalTLSOpen LocalTLS = "open"
)

// ParseLocalTLS reads a local-TLS setting by name.
func ParseLocalTLS(s string) (LocalTLS, error) {
	switch LocalTLS(s) {
	case LocalTLSByVersion, "version":
		return LocalTLSByVersion, nil
	case LocalTLSEnforced, LocalTLSOpen:
		return LocalTLS(s), nil
	}
	return "", fmt.Errorf("amtsim: local TLS %q: want version, enforced or open", s)
}

// newInterface is the manageability interface of ME 16.1 and later, which
// has an operational state and can enforce TLS on local ports.
var newInterface = amt.Version{Major: 16, Minor: 1}

func checkAMTState(cfg Config, p amt.Profile) error {
	if _, err := ParseLocalTLS(string(cfg.LocalTLS)); err != nil {
		return err
	}
	old := cfg.Version.Less(newInterface)
	if old && cfg.LocalTLS == LocalTLSEnforced {
		return fmt.Errorf("amtsim: local TLS enforced on AMT %s: firmware before 16.1 does not enforce TLS on local ports; use 16.1 or later", cfg.Version)
	}
	if old && cfg.AMTDisabled {
		return fmt.Errorf("amtsim: AMT disabled on AMT %s: the operational state exists from 16.1 on (older firmware disabled in the MEBx is not modelled); use 16.1 or later", cfg.Version)
	}
	if p.TLSSetup && cfg.LocalTLS == LocalTLSOpen {
		return fmt.Errorf("amtsim: local TLS open on AMT %s: firmware with TLS-based setup only is activated over TLS; use enforced or leave it by version", cfg.Version)
	}
	return nil
}

// tlsEnforcedLocked reports whether port 16992 is closed to WS-MAN.
func (d *Device) tlsEnforcedLocked() bool {
	switch d.st.LocalTLS {
	case LocalTLSEnforced:
		return true
	case LocalTLSOpen:
		return false
	}
	return d.profile.TLSSetup
}

// ccmNeedsCommitLocked says whether a CCM Setup waits for CommitChanges:
// on firmware that enforces TLS locally and on AMT 19+, where rpc-go
// (local.go activateCCM) and RPS (activation.ts SETUP) commit after it and
// rpc-go unprovisions when the commit fails. That the setup is lost
// without it is the simulator's reading of those clients, not documented
// firmware behaviour.
func (d *Device) ccmNeedsCommitLocked() bool { return d.tlsEnforcedLocked() || d.profile.TLSSetup }

// AMTState implements hostif.ManageabilityFirmware: the IsChangeToAMTEnabled
// flags. The operational state may be changed in pre-provisioning only, as
// rpc-go's reading of the blocked bits says of provisioned devices.
func (d *Device) AMTState() amt.AMTState {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.version.Less(newInterface) {
		return 0
	}
	s := amt.StateNewInterface
	if !d.st.AMTDisabled {
		s |= amt.StateOperational
	}
	if d.tlsEnforcedLocked() {
		s |= amt.StateTLSOnLocalPorts
	}
	if d.st.ProvState == amt.PreProvisioning {
		s |= amt.StateTransitionAllowed
	}
	return s
}

// SetAMTOperational implements hostif.ManageabilityFirmware.
func (d *Device) SetAMTOperational(enable bool) amt.HostStatus {
	const call = "SetAmtOperationalState"
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.version.Less(newInterface) || d.st.ProvState != amt.PreProvisioning {
		d.refuseLocked(call, refusal(RuleState, fmt.Sprintf("AMT %s, %s", d.version, d.st.ProvState), "ME 16.1 or later in pre-provisioning", "enable AMT in the MEBx"))
		return amt.HostInvalidAMTMode
	}
	if d.st.AMTDisabled == !enable {
		return amt.HostSuccess
	}
	if !d.flashWriteLocked(call) {
		return amt.HostInternalError
	}
	d.st.AMTDisabled = !enable
	d.eventLocked("operational-state", fmt.Sprintf("AMT operational state set to enabled=%v", enable))
	return amt.HostSuccess
}

// Manageability is the device's manageability MEI client (rpc-go's
// watchdog client) as /dev/mei0 gives it to a local agent.
func (d *Device) Manageability() hostif.Transport {
	return hostif.TransportFunc(d.mngCall)
}

func (d *Device) mngCall(ctx context.Context, req []byte) ([]byte, error) {
	if err := d.wait(ctx); err != nil {
		return nil, err
	}
	return hostif.ServeManageability(d, req)
}

// localTLSCertLocked is what port 16993 presents outside a setup session
// when TLS is enforced and no certificate has been configured: the device's
// identity chain before provisioning (what rpc-go verifies against the
// On-Die root when it connects then), and one self-signed certificate
// after it (the single certificate rpc-go's HandleAMTTransition accepts
// once the control mode has changed).
func (d *Device) localTLSCertLocked() (*tls.Certificate, error) {
	if d.st.ProvState != amt.PostProvisioning {
		if d.localIdentity == nil {
			c, err := d.identityCertLocked()
			if err != nil {
				return nil, err
			}
			d.localIdentity = c
		}
		return d.localIdentity, nil
	}
	if d.selfSigned == nil {
		c, err := selfSignedCert(d.uuid, d.clock.Now())
		if err != nil {
			return nil, err
		}
		d.selfSigned = c
	}
	return d.selfSigned, nil
}

// CheckAdminPassword proves pw is the device's admin password with a
// digest exchange on the local port a program on its host would use: plain
// 16992, or 16993 over TLS when TLS is enforced on the local ports. It
// does not verify the device's certificate: it checks the simulator's own
// state, and is no model of how an RCS must connect.
func (d *Device) CheckAdminPassword(ctx context.Context, pw string) error {
	d.mu.Lock()
	enforced := d.tlsEnforcedLocked()
	d.mu.Unlock()
	port, url := PortHTTP, "http://127.0.0.1:16992/wsman"
	if enforced {
		port, url = PortTLS, "https://127.0.0.1:16993/wsman"
	}
	tr := &http.Transport{
		DialContext:     func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialLMS(ctx, port) },
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // the simulator checking itself
	}
	defer tr.CloseIdleConnections()
	c, err := wsman.NewClient(url, amt.AdminUser, pw, wsman.WithTransport(tr))
	if err != nil {
		return err
	}
	_, err = c.GetGeneralSettings(ctx)
	return err
}

// selfSignedCert is the firmware's own certificate: one self-signed RSA
// certificate, what AMT presents where no CA has issued it one (legacy
// network setup on AMT 7 to 18, the local TLS port after provisioning).
// Its key comes from the simulator's pool.
func selfSignedCert(uuid amt.UUID, now time.Time) (*tls.Certificate, error) {
	key, err := pool.get()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "iAMT " + uuid.String()},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(20, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("amtsim: self-signed certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
