package provisioning

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/pki"
	"github.com/amtrcs/amtrcs/store"
)

// testClock is the one clock of a test: the engine's, the CA's and the
// simulated host's, so that days can pass in a test.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now().Truncate(time.Second)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openCA opens an embedded internal CA on the clock, sealed by its own
// store, issuing AMT TLS certificates for 90 days.
func openCA(t testing.TB, clock func() time.Time) *pki.CA {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "ca-seal.db"), store.Options{KEK: store.KEKSource{Key: testKEK}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	day := 24 * time.Hour
	ca, err := pki.Open(context.Background(), pki.Config{Mode: pki.Embedded, DataDir: dir, Validity: pki.Validity{AMTTLS: 90 * day, Agent: 90 * day, Server: 90 * day}}, st, clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ca.Close() })
	return ca
}

// portLog records which firmware ports a device's dialer opened.
type portLog struct {
	mu    sync.Mutex
	ports []int
}

func (p *portLog) wrap(dial func(context.Context, int) (net.Conn, error)) func(context.Context, int) (net.Conn, error) {
	return func(ctx context.Context, port int) (net.Conn, error) {
		p.mu.Lock()
		p.ports = append(p.ports, port)
		p.mu.Unlock()
		return dial(ctx, port)
	}
}

func (p *portLog) reset() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.ports
	p.ports = nil
	return out
}

// tlsFixture is a fixture whose engine has the CA, on the test clock,
// with one device activated by profile.
type tlsFixture struct {
	*fixture
	clock *testClock
	ca    *pki.CA
	sd    *amtsim.Device
	dev   *Device
	ports *portLog
}

func newTLSFixture(t *testing.T, version string, opts Options) *tlsFixture {
	t.Helper()
	clock := newTestClock()
	ca := openCA(t, clock.Now)
	opts.Clock = clock.Now
	opts.TLS.Issuer = ca
	f := newFixture(t, opts)
	sd, dev := f.device(version, func(c *amtsim.Config) { c.Clock = amtsim.ClockFunc(clock.Now) })
	pl := &portLog{}
	dev.Dial = pl.wrap(sd.DialLMS)
	if _, err := f.e.Activate(context.Background(), dev, DefaultProfile("default")); err != nil {
		t.Fatalf("Activate: %v (%s)", err, sd.LastError())
	}
	pl.reset()
	return &tlsFixture{fixture: f, clock: clock, ca: ca, sd: sd, dev: dev, ports: pl}
}

// servedCert is the certificate the device serves on port 16993 now.
func servedCert(t *testing.T, sd *amtsim.Device) *x509.Certificate {
	t.Helper()
	cfg, err := sd.TLSConfig()
	if err != nil {
		t.Fatalf("device serves no TLS: %v", err)
	}
	c, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConfigureTLSThenUsed configures TLS on devices activated by each
// path, then proves the next task reaches the firmware over port 16993
// with the served certificate verified against the pinned CA root.
func TestConfigureTLSThenUsed(t *testing.T) {
	for _, version := range []string{"16.1.27", "19.0.5"} {
		t.Run(version, func(t *testing.T) {
			ctx := context.Background()
			f := newTLSFixture(t, version, Options{})
			res, err := f.e.RenewTLS(ctx, f.dev, false)
			if err != nil {
				t.Fatalf("RenewTLS: %v (%s)", err, f.sd.LastError())
			}
			if !res.Changed || !contains(res.Steps, "verify-tls") {
				t.Fatalf("result %+v: want a change verified over TLS", res)
			}
			st, err := f.e.State(f.dev.ID())
			if err != nil || st.TLS == nil {
				t.Fatalf("state %+v, %v: want a TLS record", st, err)
			}
			want := "pc1." + testSuffix
			leaf := servedCert(t, f.sd)
			if leaf.Subject.CommonName != want || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != want || st.TLS.FQDN != want {
				t.Fatalf("served CN %q SANs %v, recorded %q; want %s", leaf.Subject.CommonName, leaf.DNSNames, st.TLS.FQDN, want)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: f.ca.RootPool(), Intermediates: pool(f.ca.Intermediates()), DNSName: want, CurrentTime: f.clock.Now()}); err != nil {
				t.Fatalf("served certificate does not chain to the CA: %v", err)
			}
			if st.TLS.DaysLeft(f.clock.Now()) < 89 {
				t.Fatalf("%d days left on a new certificate, want 89 or 90", st.TLS.DaysLeft(f.clock.Now()))
			}
			f.ports.reset()
			if _, err := f.e.SyncClock(ctx, f.dev); err != nil {
				t.Fatalf("clock sync over TLS: %v", err)
			}
			if got := f.ports.reset(); len(got) == 0 || slices.ContainsFunc(got, func(p int) bool { return p != PortTLS }) {
				t.Fatalf("ports dialed after TLS: %v, want %d only", got, PortTLS)
			}
			// A second run is not due: nothing is written.
			res, err = f.e.RenewTLS(ctx, f.dev, false)
			if err != nil || res.Changed {
				t.Fatalf("second RenewTLS = %+v, %v; want not due", res, err)
			}
		})
	}
}

// TestTLSPinRefusesOtherRoot: a device whose certificate does not chain to
// the pinned root is refused before any WS-MAN call.
func TestTLSPinRefusesOtherRoot(t *testing.T) {
	ctx := context.Background()
	f := newTLSFixture(t, "16.1.27", Options{})
	if _, err := f.e.RenewTLS(ctx, f.dev, false); err != nil {
		t.Fatalf("RenewTLS: %v", err)
	}
	other := openCA(t, f.clock.Now)
	if err := f.st.Update(func(tx *store.Tx) error {
		return updateState(tx, f.dev.ID(), f.clock.Now(), func(s *DeviceState) { s.TLS.Root = other.Roots()[0].Raw })
	}); err != nil {
		t.Fatal(err)
	}
	_, err := f.e.SyncClock(ctx, f.dev)
	var r Reason
	if !errors.As(err, &r) || r.Rule != RuleDeviceTLSIdentity {
		t.Fatalf("clock sync with another pinned root = %v, want a %q refusal", err, RuleDeviceTLSIdentity)
	}
	st, _ := f.e.State(f.dev.ID())
	if st.LastErrorTask != TaskClockSync || st.LastError == "" {
		t.Fatalf("state %+v: want the failure recorded", st)
	}
}

// TestTLSRefusals: no CA, and a profile with TLS off.
func TestTLSRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	sd, dev := f.device("16.1.27", nil)
	p := DefaultProfile("default")
	p.TLS.Enabled = false
	if _, err := f.e.Activate(ctx, dev, p); err != nil {
		t.Fatalf("Activate: %v (%s)", err, sd.LastError())
	}
	res, err := f.e.RenewTLS(ctx, dev, false)
	if err != nil || res.Changed || len(res.Notes) == 0 {
		t.Fatalf("TLS off: %+v, %v; want nothing done, said so", res, err)
	}
	_, err = f.e.RenewTLS(ctx, dev, true)
	var r Reason
	if !errors.As(err, &r) || r.Rule != RuleTLSIssuer {
		t.Fatalf("forced without a CA = %v, want a %q refusal", err, RuleTLSIssuer)
	}
}

// TestTLSReissueDue: 20 days before expiry the TLS task re-issues.
func TestTLSReissueDue(t *testing.T) {
	ctx := context.Background()
	f := newTLSFixture(t, "16.1.27", Options{})
	if _, err := f.e.RenewTLS(ctx, f.dev, false); err != nil {
		t.Fatalf("RenewTLS: %v", err)
	}
	first, _ := f.e.State(f.dev.ID())
	f.clock.Advance(70 * 24 * time.Hour)
	res, err := f.e.RenewTLS(ctx, f.dev, false)
	if err != nil || !res.Changed {
		t.Fatalf("RenewTLS with 20 days left = %+v, %v; want a re-issue (%s)", res, err, f.sd.LastError())
	}
	st, _ := f.e.State(f.dev.ID())
	if st.TLS.Serial == first.TLS.Serial || st.TLS.DaysLeft(f.clock.Now()) < 89 || servedCert(t, f.sd).SerialNumber.Text(16) != st.TLS.Serial {
		t.Fatalf("after re-issue: serial %s (was %s), %d days left", st.TLS.Serial, first.TLS.Serial, st.TLS.DaysLeft(f.clock.Now()))
	}
}

func pool(cs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c)
	}
	return p
}
