package rcs_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/csr/csrtest"
	"github.com/amtrcs/amtrcs/pki"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

const testSuffix = "corp.example.com"

var testKEK = bytes.Repeat([]byte{7}, 32)

// env is a real server on loopback with a provisioning certificate in its
// store, a domain for testSuffix, and its first admin token.
type env struct {
	t      testing.TB
	dir    string
	st     *store.Store
	srv    *rcs.Server
	vendor *csrtest.Vendor
	idCA   *amtsim.IdentityCA
	certID string
	token  string
	client *http.Client
	tlsCfg *tls.Config
	// withoutLMS gives agents hosts where no LMS runs: they reach the
	// firmware ports with APF over the device's LME client.
	withoutLMS bool
}

func newEnv(t testing.TB, edit func(*config.Config)) *env {
	t.Helper()
	return newEnvWith(t, edit, nil)
}

func newEnvWith(t testing.TB, edit func(*config.Config), editOpts func(*rcs.Options)) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "amtrcs.db"), store.Options{KEK: store.KEKSource{Key: testKEK}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return newEnvOn(t, dir, st, edit, editOpts)
}

// newEnvOn is newEnvWith on a store the test opened (PostgreSQL, say), with
// the data directory dir.
func newEnvOn(t testing.TB, dir string, st *store.Store, edit func(*config.Config), editOpts func(*rcs.Options)) *env {
	t.Helper()
	e := &env{t: t, dir: dir, vendor: csrtest.NewVendor(csrtest.VendorOptions{Name: "RCS Test"})}
	e.st = st
	t.Cleanup(func() { st.Close() })
	now := time.Now()
	leaf, key := e.vendor.Issue(csrtest.LeafOptions{CN: "rcs." + testSuffix, NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(1, 0, 0)})
	w := csr.NewWorkshop(st, csr.WorkshopOptions{Actor: "test"})
	res, err := w.Import(&csr.Delivery{Certificates: []*x509.Certificate{leaf, e.vendor.Intermediate, e.vendor.Root}, Key: key},
		csr.ImportOptions{Check: csr.CheckOptions{CustomHashes: []amt.RootHash{e.rootHash()}, Suffixes: []string{testSuffix}}})
	if err != nil {
		t.Fatalf("import the test chain: %v", err)
	}
	e.certID = res.Cert.ID
	if e.idCA, err = amtsim.DefaultIdentityCA(); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = e.dir
	cfg.Server.API = "127.0.0.1:0"
	cfg.Server.AgentGateway = "127.0.0.1:0"
	if edit != nil {
		edit(cfg)
	}
	logger := testLogger()
	opts := rcs.Options{
		Config: cfg, Store: st, Logger: logger,
		Engine: provisioning.Options{DeviceIdentityRoots: []*x509.Certificate{e.idCA.Cert}, StartConfigRetryDelay: time.Millisecond},
	}
	if editOpts != nil {
		editOpts(&opts)
	}
	srv, err := rcs.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e.srv = srv
	tok, err := os.ReadFile(filepath.Join(e.dir, rcs.AdminTokenFile))
	if err != nil {
		t.Fatalf("admin token file: %v", err)
	}
	e.token = strings.TrimSpace(string(tok))
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	e.tlsCfg = &tls.Config{RootCAs: pool}
	e.client = &http.Client{Transport: &http.Transport{TLSClientConfig: e.tlsCfg}, Timeout: 30 * time.Second}
	var d rcs.Domain
	if code := e.call("POST", "/api/v1/domains", e.token, rcs.Domain{Name: "corp", Suffixes: []string{testSuffix}, CertID: e.certID}, &d); code != http.StatusCreated {
		t.Fatalf("create domain: %d", code)
	}
	return e
}

func (e *env) rootHash() amt.RootHash {
	return amt.RootHash{Name: "RCS Test Root", Algorithm: amt.HashSHA256, Hash: amt.HashSHA256.Sum(e.vendor.Root.Raw)}
}

// call makes an API request and decodes the JSON answer into out.
func (e *env) call(method, path, token string, body, out any) int {
	e.t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	// A connection the loaded server cut before it answered (a TLS
	// handshake past its deadline among hundreds at once) is the harness's
	// problem, not what a test is about: try it again a few times.
	var resp *http.Response
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(b)
		}
		req, rerr := http.NewRequest(method, e.srv.URL()+path, rd)
		if rerr != nil {
			e.t.Fatal(rerr)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if resp, err = e.client.Do(req); err == nil {
			break
		}
	}
	if err != nil {
		e.t.Errorf("%s %s: %v", method, path, err)
		return 0
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Errorf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

// device makes a simulated device that trusts the test vendor's root.
func (e *env) device(version string, edit func(*amtsim.Config)) *amtsim.Device {
	e.t.Helper()
	v, err := amt.ParseVersion(version)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := amtsim.Config{Version: v, DHCPSuffix: testSuffix, OSHostname: "pc", Identity: e.idCA,
		CustomHashes: []amtsim.CustomHash{{Name: "RCS Test Root", Algorithm: amt.HashSHA256, Hash: e.rootHash().Hash}}}
	if edit != nil {
		edit(&cfg)
	}
	sd, err := amtsim.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return sd
}

func (e *env) enrollToken() string {
	e.t.Helper()
	var tok rcs.EnrollToken
	if code := e.call("POST", "/api/v1/agents/tokens", e.token, nil, &tok); code != http.StatusCreated || tok.Token == "" {
		e.t.Fatalf("enroll token: %d", code)
	}
	return tok.Token
}

// agentFor returns an agent of sd over the agent gateway listener.
func (e *env) agentFor(sd *amtsim.Device, profile string, once bool, events func(wire.Event)) *agent.Agent {
	e.t.Helper()
	host := fmt.Sprintf("pc-%s", sd.ID().String()[:8])
	// The agent keeps its credential, as the CLI's does: its credential
	// speaks for this device only.
	state := filepath.Join(e.dir, "agent-"+sd.ID().String()+".json")
	token := ""
	if _, err := os.Stat(state); err != nil {
		token = e.enrollToken()
	}
	a, err := agent.New(agent.Options{
		Server:      "https://" + e.srv.Addr("agent_gateway").String(),
		EnrollToken: token,
		StateFile:   state,
		Profile:     profile,
		Hostname:    host,
		FQDN:        host + "." + testSuffix,
		Backend:     e.backend(host, sd),
		TLS:         e.tlsCfg,
		Events:      events,
		Logger:      testLogger(),
		Once:        once,
		MinBackoff:  20 * time.Millisecond,
		MaxBackoff:  200 * time.Millisecond,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) backend(host string, sd *amtsim.Device) agent.Backend {
	if e.withoutLMS {
		return agent.OnDeviceWithoutLMS(host, sd)
	}
	return agent.OnDevice(host, sd)
}

// runOnce runs an agent until its first job ends.
func (e *env) runOnce(sd *amtsim.Device, profile string) ([]wire.Event, error) {
	return e.runOnceWithin(sd, profile, 60*time.Second)
}

// runOnceWithin bounds the agent's run by d: a correctness bound, generous
// enough for a loaded machine under the race detector, never a timing claim.
func (e *env) runOnceWithin(sd *amtsim.Device, profile string, d time.Duration) ([]wire.Event, error) {
	var evs []wire.Event
	a := e.agentFor(sd, profile, true, func(ev wire.Event) { evs = append(evs, ev) })
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := a.Run(ctx)
	return evs, err
}

// authenticates proves a password is the device's: a digest exchange as
// admin over its local port.
func authenticates(sd *amtsim.Device, pw string) error {
	return sd.CheckAdminPassword(context.Background(), pw)
}

// waitDevice polls the API until the device's record satisfies ok.
func (e *env) waitDevice(id string, ok func(rcs.DeviceRecord) bool) rcs.DeviceRecord {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var d rcs.DeviceDetail
	for time.Now().Before(deadline) {
		// Afresh each time: fields the answer omits must not keep old values.
		d = rcs.DeviceDetail{}
		if code := e.call("GET", "/api/v1/devices/"+id, e.token, nil, &d); code == http.StatusOK && ok(d.Device) {
			return d.Device
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("device %s never reached the wanted state; last %+v", id, d.Device)
	return d.Device
}

// testLogger logs to stderr when RCS_TEST_LOG is set, else nowhere.
func testLogger() *slog.Logger {
	if os.Getenv("RCS_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// liveAgent runs sd's agent, connected until stop (or the test's end),
// and returns a wait for its next final event.
func (e *env) liveAgent(sd *amtsim.Device, profile string) (next func(what string) wire.Event, stop func()) {
	e.t.Helper()
	finals := make(chan wire.Event, 8)
	a := e.agentFor(sd, profile, false, func(ev wire.Event) {
		if ev.Final() {
			finals <- ev
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	e.t.Cleanup(stop)
	next = func(what string) wire.Event {
		e.t.Helper()
		select {
		case ev := <-finals:
			return ev
		case <-time.After(60 * time.Second):
			e.t.Fatalf("%s: no final event", what)
		}
		return wire.Event{}
	}
	return next, stop
}

// embeddedCA is an internal CA of the test's own (the server's engine
// issues the devices' TLS certificates with it), sealed in a store of its
// own and closed at the test's end.
func embeddedCA(t testing.TB) *pki.CA {
	t.Helper()
	dir := t.TempDir()
	caStore, err := store.Open(filepath.Join(dir, "ca-seal.db"), store.Options{KEK: store.KEKSource{Key: testKEK}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caStore.Close() })
	day := 24 * time.Hour
	ca, err := pki.Open(context.Background(), pki.Config{Mode: pki.Embedded, DataDir: dir, Validity: pki.Validity{AMTTLS: 90 * day, Agent: 90 * day, Server: 90 * day}}, caStore, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ca.Close() })
	return ca
}
