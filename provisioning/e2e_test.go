package provisioning

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/csr/csrtest"
	"github.com/amtrcs/amtrcs/store"
)

const testSuffix = "corp.example.com"

// fixture is a provisioning certificate, a store and an engine.
type fixture struct {
	t      testing.TB
	dir    string
	st     *store.Store
	e      *Engine
	cert   *ProvisioningCert
	vendor *csrtest.Vendor
	opts   Options
	idCA   *amtsim.IdentityCA
	// durable opens the store with fsync on every commit, as amtrcs serve
	// does; tests run without it for speed.
	durable bool
}

func newFixture(t testing.TB, opts Options) *fixture {
	return newVendorFixture(t, opts, csrtest.VendorOptions{Name: "Prov Test"})
}

func newVendorFixture(t testing.TB, opts Options, vo csrtest.VendorOptions) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), vendor: csrtest.NewVendor(vo)}
	now := time.Now()
	leaf, key := f.vendor.Issue(csrtest.LeafOptions{CN: "rcs." + testSuffix, NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(1, 0, 0)})
	f.cert = &ProvisioningCert{ID: "prov1", Chain: []*x509.Certificate{leaf, f.vendor.Intermediate, f.vendor.Root}, Signer: key}
	ca, err := amtsim.DefaultIdentityCA()
	if err != nil {
		t.Fatal(err)
	}
	f.idCA = ca
	if opts.Domains == nil {
		opts.Domains = StaticDomains(Domain{Name: "corp", Suffixes: []string{testSuffix}, CertID: "prov1"})
	}
	if opts.DeviceIdentityRoots == nil {
		opts.DeviceIdentityRoots = []*x509.Certificate{ca.Cert}
	}
	opts.StartConfigRetryDelay = time.Millisecond
	f.opts = opts
	f.open()
	return f
}

// open opens the store and a new engine on it, as a restarted process does.
func (f *fixture) open() {
	f.t.Helper()
	st, err := store.Open(filepath.Join(f.dir, "amtrcs.db"), store.Options{KEK: store.KEKSource{Key: testKEK}, NoSync: !f.durable})
	if err != nil {
		f.t.Fatal(err)
	}
	f.st = st
	f.t.Cleanup(func() { st.Close() })
	e, err := New(st, CertList{f.cert}, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.e = e
}

// rootHash is the custom hash that makes the test vendor's root trusted.
func (f *fixture) rootHash() amtsim.CustomHash {
	return amtsim.CustomHash{Name: "Prov Test Root", Algorithm: amt.HashSHA256, Hash: amt.HashSHA256.Sum(f.vendor.Root.Raw)}
}

func (f *fixture) device(version string, edit func(*amtsim.Config)) (*amtsim.Device, *Device) {
	f.t.Helper()
	v, err := amt.ParseVersion(version)
	if err != nil {
		f.t.Fatal(err)
	}
	cfg := amtsim.Config{Version: v, DHCPSuffix: testSuffix, OSHostname: "pc1", CustomHashes: []amtsim.CustomHash{f.rootHash()}, Identity: f.idCA}
	if edit != nil {
		edit(&cfg)
	}
	sd, err := amtsim.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return sd, agentDevice(sd)
}

func agentDevice(sd *amtsim.Device) *Device {
	return &Device{Host: hostif.NewClient(sd.Host()), Mng: hostif.NewManageability(sd.Manageability()), Dial: sd.DialLMS, Hostname: "pc1", OSFQDN: "pc1." + testSuffix}
}

// authenticates proves the stored password is the device's: a digest
// exchange as admin over the device's local port.
func (f *fixture) authenticates(sd *amtsim.Device) error {
	pw, err := f.e.AdminPassword(sd.ID().String())
	if err != nil {
		return err
	}
	return sd.CheckAdminPassword(context.Background(), pw)
}

func TestActivateACM(t *testing.T) {
	f := newFixture(t, Options{})
	tests := map[string]struct {
		version string
		path    Path
	}{
		"AMT 11 host-based": {"11.8.55", PathHostBased},
		"AMT 16 host-based": {"16.1.27", PathHostBased},
		"AMT 19 TLS-based":  {"19.0.5", PathTLS},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sd, dev := f.device(tc.version, nil)
			res, err := f.e.Activate(context.Background(), dev, DefaultProfile("default"))
			if err != nil {
				t.Fatalf("Activate: %v (device: %s)", err, sd.LastError())
			}
			if res.Path != tc.path || res.ControlMode != amt.ControlACM {
				t.Fatalf("result path %s mode %s, want %s ACM", res.Path, res.ControlMode, tc.path)
			}
			if st, mode := sd.State(); st != amt.PostProvisioning || mode != amt.ControlACM {
				t.Fatalf("device %s %s, want post-provisioning ACM", st, mode)
			}
			if err := f.authenticates(sd); err != nil {
				t.Fatalf("stored password does not authenticate: %v", err)
			}
			sess, err := f.e.GetSession(dev.ID())
			if err != nil || sess.Status != StatusDone || sess.Step != len(stepsFor(tc.path)) {
				t.Fatalf("session %+v, %v; want done after every step", sess, err)
			}
			noSecrets(t, f, dev.ID(), res, sess)
		})
	}
}

var testKEK = []byte("0123456789abcdef0123456789abcdef")

// noSecrets checks that the device's passwords appear in no audit event,
// session record or result, and that every step was audited.
func noSecrets(t *testing.T, f *fixture, id string, res *Result, sess Session) {
	t.Helper()
	admin, err := f.e.AdminPassword(id)
	if err != nil {
		t.Fatal(err)
	}
	mebx, _ := f.st.Secret(MEBxSecretName(id))
	log, err := f.st.AuditLog(store.AuditFilter{Subject: id})
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for _, e := range log {
		if e.Action == "provision.step" && e.Outcome == store.OutcomeSuccess {
			steps++
		}
	}
	if steps != len(res.Steps) {
		t.Errorf("%d audited steps, want %d", steps, len(res.Steps))
	}
	for _, v := range []any{log, res, sess} {
		b, _ := json.Marshal(v)
		if strings.Contains(string(b), admin) || (len(mebx) > 0 && strings.Contains(string(b), string(mebx))) {
			t.Errorf("a password appears in %T: %s", v, b)
		}
	}
}
