package provisioning

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/store"
)

// run is the state of one session while it runs. Passwords live here in
// memory only, for the calls that send them to the device.
type run struct {
	e         *Engine
	dev       *Device
	sess      *Session
	prof      Profile
	cert      *ProvisioningCert
	domain    Domain
	steps     []step
	stepIndex int
	res       *Result
	// pending are audit events not committed yet: they go with the next
	// session record.
	pending []store.Event

	realm           string
	nonce           []byte
	adminPW, mebxPW string
	// pin is the firmware TLS certificate hash StartConfigurationHBased
	// returned, with its algorithm.
	pin    []byte
	pinAlg amt.HashAlgorithm

	// onFail undoes a half-done setup when a step fails (StopConfiguration).
	onFail func(ctx context.Context) error

	local, setup, admin *conn
	setupPW             string

	// localPin is the SHA-256 of the device certificate first taken
	// unverified in this run (pinSession).
	pinMu    sync.Mutex
	localPin []byte
	// romChecked is the SHA-256 of the ROM certificate this run already
	// held to the device's recorded identity (checkIdentity), and
	// newIdentity the identity it saw first, which the session's next
	// commit records.
	romChecked  []byte
	newIdentity *IdentityState
}

func (r *run) close() {
	r.local.close()
	r.setup.close()
	r.admin.close()
	r.local, r.setup, r.admin = nil, nil, nil
}

// localConn is WS-MAN with the local system account, the host's
// credentials before provisioning: on 16992, or on 16993 when the firmware
// enforces TLS on its local ports (the port rpc-go and Intel LMS pick by
// that flag).
func (r *run) localConn(ctx context.Context) (*conn, error) {
	if r.local != nil {
		return r.local, nil
	}
	if r.dev.Host == nil {
		return nil, errors.New("the local system account needs the host interface")
	}
	acct, err := r.dev.Host.LocalSystemAccount(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the local system account: %w", err)
	}
	port, tc := PortHTTP, (*tls.Config)(nil)
	if r.dev.Info.TLSEnforced() {
		port, tc = PortTLS, r.e.localTLSConfig(r, r.dev.Info.ControlMode != amt.ControlNone)
	}
	c, err := r.dev.dialWSMAN(port, acct.Username, acct.Password, tc)
	if err != nil {
		return nil, err
	}
	r.local = c
	return c, nil
}

// setupConn is WS-MAN on 16993 over mutual TLS with the provisioning chain
// as client certificate, as user admin with password pw: TLS-based setup
// (AMT 19) and legacy network setup.
func (r *run) setupConn(pw string) (*conn, error) {
	if r.setup != nil && r.setupPW == pw {
		return r.setup, nil
	}
	verify := r.pinSession // legacy setup: nothing vouches for AMT 7-18's own certificate
	if r.pin != nil {
		verify = func(cs tls.ConnectionState) error {
			if err := r.e.verifyDevice(cs, r.pin, r.pinAlg); err != nil {
				return err
			}
			return r.checkIdentity(cs.PeerCertificates, identityAtSetup)
		}
	}
	c, err := r.dev.dialWSMAN(PortTLS, amt.AdminUser, pw, r.e.tlsConfig(r.cert, verify))
	if err != nil {
		return nil, err
	}
	r.setup.close()
	r.setup, r.setupPW = c, pw
	return c, nil
}

// adminConn is WS-MAN as admin with the device's password: LMS port 16992
// on the agent path, port 16993 over the network for legacy devices.
func (r *run) adminConn() (*conn, error) {
	if r.sess.Path == PathLegacy {
		// Configured inside the setup session, before the commit.
		return r.setupConn(r.adminPW)
	}
	if r.admin != nil {
		return r.admin, nil
	}
	var c *conn
	var err error
	if tc, ok := r.e.deviceTLSConfig(r.sess.Device); ok {
		// TLS is configured: the firmware's own port 16993, its
		// certificate verified against the pinned internal CA root.
		c, err = r.dev.dialWSMAN(PortTLS, amt.AdminUser, r.adminPW, tc)
	} else if r.dev.Host != nil && r.dev.Info.TLSEnforced() {
		// The agent relays LMS, and the firmware takes WS-MAN on its
		// local ports over TLS only.
		c, err = r.dev.dialWSMAN(PortTLS, amt.AdminUser, r.adminPW, r.e.localTLSConfig(r, true))
	} else if r.dev.Host != nil {
		// The agent relays LMS: port 16992 on the host's loopback.
		c, err = r.dev.dialWSMAN(PortHTTP, amt.AdminUser, r.adminPW, nil)
	} else {
		// A device reached over the network whose TLS the internal CA
		// has not configured yet presents its own certificate.
		c, err = r.dev.dialWSMAN(PortTLS, amt.AdminUser, r.adminPW, r.e.tlsConfig(r.cert, r.pinSession))
	}
	if err != nil {
		return nil, err
	}
	r.admin = c
	return c, nil
}

// tlsConfig presents cert's chain as client certificate (when cert is not
// nil) and checks the device with verify.
func (e *Engine) tlsConfig(cert *ProvisioningCert, verify func(tls.ConnectionState) error) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		// The device's name is no DNS name ("AMT RCFG"); verify checks
		// its identity chain, the pinned hash, or the session's pin.
		InsecureSkipVerify: true,
		VerifyConnection:   verify,
	}
	if cert != nil {
		tc := &tls.Certificate{PrivateKey: cert.Signer, Leaf: cert.Chain[0]}
		for _, c := range cert.Chain {
			tc.Certificate = append(tc.Certificate, c.Raw)
		}
		// Always present the chain: Go would withhold it when the device's
		// list of acceptable CAs does not name our issuer, and the
		// firmware decides by its own root table anyway.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return tc, nil }
	}
	return cfg
}

// localTLSConfig verifies the firmware on its local TLS port before the
// internal CA has issued it a certificate. The firmware presents its
// identity chain (checked as in TLS-based setup, without the pin, as rpc-go
// does before provisioning, and held to the device's recorded identity),
// or, once provisioned, one certificate of its
// own, which rpc-go accepts after the control mode changed (lmsTls.go
// HandleAMTTransition). provisioned says whether one certificate may do.
func (e *Engine) localTLSConfig(r *run, provisioned bool) *tls.Config {
	return e.tlsConfig(nil, func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 1 && provisioned {
			return r.pinSession(cs)
		}
		if err := checkDeviceChainShape(cs.PeerCertificates); err != nil {
			return err
		}
		if err := e.verifyDevice(cs, nil, 0); err != nil {
			return err
		}
		return r.checkIdentity(cs.PeerCertificates, identityAtLocal)
	})
}

// pinSession takes a device certificate that nothing vouches for (AMT 7 to
// 18 in legacy setup, where MeshCentral does no certificate check either;
// a provisioned firmware's own certificate before the internal CA's): the
// first one seen is pinned for the rest of the run, so every later
// connection of the session reaches the same firmware, and its SHA-256 is
// noted in the result. Digest authentication never sends the password.
func (r *run) pinSession(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return Reason{Rule: RuleDeviceIdentity, Seen: "no certificate", Want: "the firmware's TLS certificate", Fix: "check that the stream reaches AMT port 16993"}
	}
	c := cs.PeerCertificates[0]
	sum := amt.HashSHA256.Sum(c.Raw)
	r.pinMu.Lock()
	defer r.pinMu.Unlock()
	if r.localPin == nil {
		r.localPin = sum
		if r.res != nil {
			r.res.Notes = append(r.res.Notes, fmt.Sprintf("device certificate %q (SHA-256 %s) taken unverified, as firmware's own certificate must be, and pinned for this session", c.Subject.CommonName, amt.FormatHash(sum)))
		}
		return nil
	}
	if !bytes.Equal(r.localPin, sum) {
		return Reason{Rule: RuleDeviceIdentity, Seen: "certificate " + amt.FormatHash(sum),
			Want: "the one this session first saw, " + amt.FormatHash(r.localPin), Fix: "the firmware's certificate changed within one session, or another host answered: check the network path and run the job again"}
	}
	return nil
}

// RuleDeviceIdentity names refusals of the device's TLS certificate.
const RuleDeviceIdentity = "device identity"

func (e *Engine) verifyDevice(cs tls.ConnectionState, pin []byte, pinAlg amt.HashAlgorithm) error {
	if len(cs.PeerCertificates) == 0 {
		return Reason{Rule: RuleDeviceIdentity, Seen: "no certificate", Want: "the firmware's TLS certificate", Fix: "check that the stream reaches AMT port 16993"}
	}
	leaf := cs.PeerCertificates[0]
	if pin != nil {
		if got := pinAlg.Sum(leaf.Raw); !bytes.Equal(got, pin) {
			return Reason{Rule: RuleDeviceIdentity,
				Seen: fmt.Sprintf("certificate %q with %s %s", leaf.Subject.CommonName, pinAlg, amt.FormatHash(got)),
				Want: fmt.Sprintf("the hash StartConfigurationHBased returned, %s", amt.FormatHash(pin)),
				Fix:  "the stream does not reach this device's firmware: check the agent's relay"}
		}
		// TLS-based setup: the firmware's own identity chain, which
		// hardware-proven clients check for its shape as well as its
		// signatures.
		if err := checkDeviceChainShape(cs.PeerCertificates); err != nil {
			return err
		}
	}
	now := e.opts.Clock()
	err := e.chains.verify(cs.PeerCertificates, now, func() ([][]*x509.Certificate, error) {
		// Intel's On-Die root is always trusted: firmware sends its chain
		// without it. Configured roots (the simulator's) come in addition.
		roots := x509.NewCertPool()
		roots.AddCert(amt.IntelOnDieRoot())
		for _, c := range e.opts.DeviceIdentityRoots {
			roots.AddCert(c)
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
			for _, p := range e.pins {
				if bytes.Equal(amt.HashSHA256.Sum(c.Raw), p) {
					roots.AddCert(c)
				}
			}
		}
		return leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	})
	if err != nil {
		return Reason{Rule: RuleDeviceIdentity,
			Seen: fmt.Sprintf("certificate %q issued by %q does not verify: %v", leaf.Subject.CommonName, leaf.Issuer.CommonName, err),
			Want: "a chain to Intel's On-Die CA root (built in) or a configured device-identity root",
			Fix:  "for simulated devices add the simulator's device-identity root to the RCS's device_identity_roots (--device-identity-root)"}
	}
	return nil
}

// checkDeviceChainShape checks the firmware's identity chain as
// hardware-proven clients do: 4 or 6 certificates (the root not sent), a
// leaf named as firmware names it, and at position 3 the CSME ROM
// certificate, issued under an On-Die CSME CA.
func checkDeviceChainShape(chain []*x509.Certificate) error {
	if !slices.Contains(amt.DeviceChainLengths, len(chain)) {
		return Reason{Rule: RuleDeviceIdentity, Seen: fmt.Sprintf("a chain of %d certificates", len(chain)),
			Want: fmt.Sprintf("%v certificates (leaf and intermediates, as AMT firmware sends them)", amt.DeviceChainLengths),
			Fix:  "the stream does not reach AMT firmware's TLS-based setup: check the agent's relay to port 16993"}
	}
	leaf := chain[0]
	if cn := leaf.Subject.CommonName; cn != amt.DeviceLeafCN && cn != amt.DeviceLeafCNIDevID {
		return Reason{Rule: RuleDeviceIdentity, Seen: fmt.Sprintf("leaf CN %q", cn),
			Want: fmt.Sprintf("%q or %q", amt.DeviceLeafCNIDevID, amt.DeviceLeafCN),
			Fix:  "the stream does not reach AMT firmware's TLS-based setup: check the agent's relay to port 16993"}
	}
	rom := chain[amt.DeviceChainROMIndex]
	cnOK := slices.ContainsFunc(amt.DeviceROMCNMarks, func(m string) bool { return strings.Contains(rom.Subject.CommonName, m) })
	ouOK := slices.ContainsFunc(rom.Issuer.OrganizationalUnit, func(ou string) bool {
		return slices.ContainsFunc(amt.DeviceROMIssuerOUPrefixes, func(p string) bool { return strings.HasPrefix(ou, p) })
	})
	if !cnOK || !ouOK {
		return Reason{Rule: RuleDeviceIdentity,
			Seen: fmt.Sprintf("certificate %d has CN %q, issuer OU %q", amt.DeviceChainROMIndex, rom.Subject.CommonName, rom.Issuer.OrganizationalUnit),
			Want: fmt.Sprintf("the CSME ROM certificate: a CN containing one of %q, an issuer OU starting with one of %q", amt.DeviceROMCNMarks, amt.DeviceROMIssuerOUPrefixes),
			Fix:  "the device's chain is not an AMT firmware identity chain: check the agent's relay to port 16993"}
	}
	return nil
}

// realmOf reads the digest realm.
func realmOf(ctx context.Context, c *conn) (string, error) {
	gs, err := c.GetGeneralSettings(ctx)
	if err != nil {
		return "", fmt.Errorf("read AMT_GeneralSettings: %w", err)
	}
	if gs.DigestRealm == "" {
		return "", errors.New("AMT_GeneralSettings has an empty DigestRealm")
	}
	return gs.DigestRealm, nil
}

// isAuth reports a digest refusal.
func isAuth(err error) bool {
	var a *wsman.AuthError
	return errors.As(err, &a)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
