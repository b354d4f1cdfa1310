package amtsim_test

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hello"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/amtsim/simtest"
)

// helloServer listens for hellos as an RCS does on port 9971.
type helloServer struct {
	ln net.Listener
}

func newHelloServer(t *testing.T) *helloServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &helloServer{ln: ln}
}

// next reads one hello the way existing servers do: to EOF, then decode.
func (s *helloServer) next(t *testing.T) (hello.Message, net.IP) {
	t.Helper()
	_ = s.ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := s.ln.Accept()
	if err != nil {
		t.Fatalf("no hello: %v", err)
	}
	defer c.Close()
	b, err := io.ReadAll(io.LimitReader(c, hello.MaxSize+1))
	if err != nil {
		t.Fatal(err)
	}
	m, err := hello.Decode(b)
	if err != nil {
		t.Fatalf("hello.Decode: %v", err)
	}
	return m, c.RemoteAddr().(*net.TCPAddr).IP
}

func legacyClient(t *testing.T, addr, user, pass string, v *simtest.Vendor) *wsman.Client {
	t.Helper()
	cert := v.TLSCertificate()
	// A legacy device's version is not known before the session: offer
	// the RSA key-exchange suites old firmware needs, as the RCS does.
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, CipherSuites: amt.ClientCipherSuites(amt.Version{})} //nolint:gosec // legacy servers do not verify the device
	c, err := wsman.NewClient("https://"+addr+"/wsman", user, pass, wsman.WithTLSConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nullSignedCSR is the request a console hands GeneratePKCS10RequestEx:
// subject and the firmware key's public half, with an empty signature.
func nullSignedCSR(t *testing.T, cn string, pub crypto.PublicKey) []byte {
	t.Helper()
	subj, err := asn1.Marshal(pkix.Name{CommonName: cn}.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	tbs, err := asn1.Marshal(struct {
		Version       int
		Subject       asn1.RawValue
		PublicKey     asn1.RawValue
		RawAttributes []asn1.RawValue `asn1:"tag:0"`
	}{0, asn1.RawValue{FullBytes: subj}, asn1.RawValue{FullBytes: spki}, nil})
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(struct {
		Info      asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}{asn1.RawValue{FullBytes: tbs}, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, Parameters: asn1.NullRawValue}, asn1.BitString{}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestLegacyNetworkSetup is the hello path of an RCS: hellos from the
// device's own address, then the server connects back with its chain as
// user admin with an empty password and configures the device.
func TestLegacyNetworkSetup(t *testing.T) {
	t.Parallel()
	v := simtest.NewVendor(t, simtest.Options{})
	srv := newHelloServer(t)
	const src = "127.1.9.1"
	d := newDevice(t, "11.8.70", v, func(c *amtsim.Config) {
		c.Hello = amtsim.HelloConfig{Server: srv.ln.Addr().String(), Interval: 20 * time.Millisecond, Source: src}
	})
	if err := d.StartHello(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.StopHello)
	for want := uint32(0); want < 2; want++ {
		m, ip := srv.next(t)
		if m.Retry != want || m.UUID != d.ID() || ip.String() != src || m.InterfaceVersion != hello.InterfaceVersionPKI {
			t.Fatalf("hello %d: %+v from %s", want, m, ip)
		}
		found := false
		for _, h := range m.Hashes {
			found = found || (h.Algorithm == amt.HashSHA256 && string(h.Value) == string(v.RootHash()))
		}
		if !found {
			t.Fatalf("hello does not announce the custom root hash")
		}
	}
	addr := net.JoinHostPort(src, "16993")
	c := legacyClient(t, addr, "admin", "", v)
	gs, err := c.GetGeneralSettings(ctx(t))
	if err != nil {
		t.Fatalf("GetGeneralSettings: %v (%s)", err, d.LastError())
	}
	fw, err := c.FirmwareVersion(ctx(t))
	if err != nil || fw != d.Version() {
		t.Fatalf("firmware version %v, %v", fw, err)
	}
	if rc := code(t, c.SetMEBxPassword(ctx(t), "Mebx-Pa55!")); rc != 0 {
		t.Fatalf("SetMEBxPassword %d (%s)", rc, d.LastError())
	}
	const password = "Legacy-Adm1n"
	if rc := code(t, c.SetAdminAclEntryEx(ctx(t), "admin", b64(amt.DigestPassword("admin", gs.DigestRealm, password)))); rc != 0 {
		t.Fatalf("SetAdminAclEntryEx %d (%s)", rc, d.LastError())
	}
	c = legacyClient(t, addr, "admin", password, v)
	// Time: the firmware clock runs 10 minutes behind; the server sets it.
	d.SetFirmwareTime(time.Now().Add(-10 * time.Minute))
	ta0, err := c.GetLowAccuracyTimeSynch(ctx(t))
	if err != nil || time.Since(time.Unix(ta0, 0)) < 9*time.Minute {
		t.Fatalf("Ta0 %d, %v", ta0, err)
	}
	now := time.Now().Unix()
	if rc := code(t, c.SetHighAccuracyTimeSynch(ctx(t), ta0, now, now)); rc != 0 {
		t.Fatalf("SetHighAccuracyTimeSynch %d", rc)
	}
	if off := time.Since(d.FirmwareTime()); off > 5*time.Second || off < -5*time.Second {
		t.Fatalf("firmware clock off by %v after sync", off)
	}
	// TLS: key in the firmware, CSR signed by it, certificate back.
	certID, _, tlsDER := firmwareCert(t, d, c, v, 7)
	if _, err := c.CreateTLSCredentialContext(ctx(t), certID); err != nil {
		t.Fatalf("TLSCredentialContext: %v (%s)", err, d.LastError())
	}
	if _, err := c.PutTLSSettingData(ctx(t), &wsman.TLSSettingData{ElementName: wsman.TLSSettingRemote, InstanceID: wsman.TLSSettingRemote, Enabled: true}); err != nil {
		t.Fatalf("PutTLSSettingData: %v (%s)", err, d.LastError())
	}
	if rc := code(t, c.CommitChanges(ctx(t))); rc != 0 {
		t.Fatalf("CommitChanges %d (%s)", rc, d.LastError())
	}
	if st, mode := d.State(); st != amt.PostProvisioning || mode != amt.ControlACM {
		t.Fatalf("after commit %v %v", st, mode)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the setup port still listens after CommitChanges")
	}
	// Port 16993 now serves the certificate the server installed.
	conn, err := d.DialLMS(ctx(t), amtsim.PortTLS)
	if err != nil {
		t.Fatal(err)
	}
	// AMT 11 serves RSA key-exchange suites only: Go's defaults cannot
	// connect, the suites amt names for the version can.
	if err := tls.Client(conn, &tls.Config{InsecureSkipVerify: true}).HandshakeContext(ctx(t)); err == nil { //nolint:gosec // only the suites are under test
		t.Fatalf("AMT %s accepted a client with Go's default suites; the firmware offers RSA key exchange only", d.Version())
	}
	conn.Close()
	if conn, err = d.DialLMS(ctx(t), amtsim.PortTLS); err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, CipherSuites: amt.ClientCipherSuites(d.Version())}) //nolint:gosec // the certificate is compared below
	if err := tc.HandshakeContext(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := tc.ConnectionState().PeerCertificates[0].Raw; string(got) != string(tlsDER) {
		t.Fatal("16993 does not serve the installed TLS certificate")
	}
	tc.Close()
}

// TestHelloRetries: retry counters 0 to 14, then silence.
func TestHelloRetries(t *testing.T) {
	t.Parallel()
	srv := newHelloServer(t)
	d := newDevice(t, "12.0.40", nil, func(c *amtsim.Config) {
		c.Hello = amtsim.HelloConfig{Server: srv.ln.Addr().String(), Interval: time.Millisecond, Source: "127.1.9.2"}
	})
	if err := d.StartHello(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.StopHello)
	for want := uint32(0); want <= hello.MaxRetry; want++ {
		if m, _ := srv.next(t); m.Retry != want {
			t.Fatalf("hello retry %d, want %d", m.Retry, want)
		}
	}
	_ = srv.ln.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
	if c, err := srv.ln.Accept(); err == nil {
		c.Close()
		t.Fatal("a 16th hello after retry 14")
	}
}

// TestHelloRefusals: a chain the firmware refuses fails the handshake, and
// the rules around starting legacy setup hold.
func TestHelloRefusals(t *testing.T) {
	t.Parallel()
	t.Run("untrusted chain", func(t *testing.T) {
		t.Parallel()
		v := simtest.NewVendor(t, simtest.Options{})
		srv := newHelloServer(t)
		d := newDevice(t, "11.8.70", nil, func(c *amtsim.Config) {
			c.Hello = amtsim.HelloConfig{Server: srv.ln.Addr().String(), Interval: time.Hour, Source: "127.1.9.3"}
		})
		if err := d.StartHello(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.StopHello)
		srv.next(t)
		_, err := legacyClient(t, "127.1.9.3:16993", "admin", "", v).GetGeneralSettings(ctx(t))
		if err == nil || !strings.Contains(err.Error(), "remote error: tls: bad certificate") {
			t.Fatalf("got %v, want bad certificate", err)
		}
		wantRefused(t, d, amtsim.RuleRootHash)
	})
	t.Run("rule HelloMaxVersion", func(t *testing.T) {
		t.Parallel()
		d := newDevice(t, "19.0.5", nil, func(c *amtsim.Config) {
			c.Hello = amtsim.HelloConfig{Server: "127.0.0.1:9971", Source: "127.1.9.4"}
			c.Rules.HelloMaxVersion = amt.Version{Major: 18, Minor: 99}
		})
		var re *amt.RuleError
		if err := d.StartHello(); !errors.As(err, &re) || re.Rule != amtsim.RuleHelloVersion {
			t.Fatalf("got %v, want rule %q", err, amtsim.RuleHelloVersion)
		}
	})
	t.Run("address outside loopback", func(t *testing.T) {
		t.Parallel()
		d := newDevice(t, "11.8.70", nil, func(c *amtsim.Config) {
			c.Hello = amtsim.HelloConfig{Server: "127.0.0.1:9971", Source: "192.0.2.10"}
		})
		var re *amt.RuleError
		if err := d.StartHello(); !errors.As(err, &re) || re.Rule != amtsim.RuleParameter {
			t.Fatalf("got %v, want rule %q", err, amtsim.RuleParameter)
		}
	})
}
