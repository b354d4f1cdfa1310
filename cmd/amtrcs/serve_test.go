package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/csr/csrtest"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// amtrcsBinary builds the command once per test binary, for tests that
// need it as a separate process (kill -9 cannot be done in-process).
func amtrcsBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "amtrcs-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "amtrcs")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// syncBuffer is the serve process's output: written by the copier of
// os/exec while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

const killSuffix = "corp.example.com"

// serveFixture is a data directory with a provisioning certificate and a
// config naming its domain, served by a child process.
type serveFixture struct {
	t        *testing.T
	dir      string
	cfgPath  string
	idRoot   string
	api, gw  string
	vendor   *csrtest.Vendor
	cmd      *exec.Cmd
	logs     *syncBuffer
	client   *http.Client
	tlsCfg   *tls.Config
	token    string
	rootHash amt.RootHash
	idCA     *amtsim.IdentityCA
	extra    []string // more serve flags
	extraHCL string   // more configuration, such as a kek block
	certID   string
	started  bool          // serve came up once: its ports are the fleet's now
	exited   chan struct{} // closed when the running serve has exited
}

func newServeFixture(t *testing.T) *serveFixture {
	f := &serveFixture{t: t, dir: t.TempDir(), vendor: csrtest.NewVendor(csrtest.VendorOptions{Name: "Kill Test"})}
	st, err := store.Open(filepath.Join(f.dir, storeFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	leaf, key := f.vendor.Issue(csrtest.LeafOptions{CN: "rcs." + killSuffix, NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(1, 0, 0)})
	f.rootHash = amt.RootHash{Name: "Kill Test Root", Algorithm: amt.HashSHA256, Hash: amt.HashSHA256.Sum(f.vendor.Root.Raw), Active: true}
	res, err := csr.NewWorkshop(st, csr.WorkshopOptions{}).Import(&csr.Delivery{Certificates: []*x509.Certificate{leaf, f.vendor.Intermediate, f.vendor.Root}, Key: key},
		csr.ImportOptions{Check: csr.CheckOptions{CustomHashes: []amt.RootHash{f.rootHash}, Suffixes: []string{killSuffix}}})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if f.idCA, err = amtsim.DefaultIdentityCA(); err != nil {
		t.Fatal(err)
	}
	f.idRoot = filepath.Join(f.dir, "sim-identity-root.pem")
	os.WriteFile(f.idRoot, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.idCA.Cert.Raw}), 0o644)
	f.certID = res.Cert.ID
	f.cfgPath = filepath.Join(f.dir, "amtrcs.hcl")
	f.choosePorts()
	return f
}

// choosePorts picks two free loopback ports and writes the config naming
// them. A port freed here may be taken by another test before serve binds
// it: start then chooses again.
func (f *serveFixture) choosePorts() {
	f.api, f.gw = freePort(f.t), freePort(f.t)
	cert := ""
	if f.certID != "" {
		cert = fmt.Sprintf("  provisioning_cert = %q\n", f.certID)
	}
	hcl := fmt.Sprintf("data_dir = %q\nserver {\n  api = %q\n  agent_gateway = %q\n}\ndomain \"corp\" {\n  suffixes = [%q]\n%s}\n", f.dir, f.api, f.gw, killSuffix, cert) + f.extraHCL
	if err := os.WriteFile(f.cfgPath, []byte(hcl), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// start runs `amtrcs serve` and waits for its health endpoint.
func (f *serveFixture) start() {
	t := f.t
	f.logs = &syncBuffer{}
	args := append([]string{"serve", "--config", f.cfgPath, "--data-dir", f.dir, "--device-identity-root", f.idRoot}, f.extra...)
	f.cmd = exec.Command(amtrcsBinary(t), args...)
	f.cmd.Stdout, f.cmd.Stderr = f.logs, f.logs
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	f.exited = exited
	go func() { _ = f.cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case <-exited:
			if !f.started && strings.Contains(f.logs.String(), "address already in use") {
				// Another test took a port between freePort and serve.
				f.choosePorts()
				f.start()
				return
			}
			t.Fatalf("amtrcs serve exited:\n%s", f.logs)
		default:
		}
		if f.client == nil {
			if b, err := os.ReadFile(filepath.Join(f.dir, rcs.ServerCertFile)); err == nil {
				if blk, _ := pem.Decode(b); blk != nil {
					if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
						pool := x509.NewCertPool()
						pool.AddCert(c)
						f.tlsCfg = &tls.Config{RootCAs: pool}
						f.client = &http.Client{Transport: &http.Transport{TLSClientConfig: f.tlsCfg}, Timeout: 10 * time.Second}
					}
				}
			}
		}
		if f.client != nil {
			if resp, err := f.client.Get("https://" + f.api + "/api/v1/health"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("amtrcs serve did not come up:\n%s", f.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.started = true
	tok, err := os.ReadFile(filepath.Join(f.dir, rcs.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	f.token = strings.TrimSpace(string(tok))
}

func (f *serveFixture) kill9() {
	f.cmd.Process.Signal(syscall.SIGKILL)
	<-f.exited
}

func (f *serveFixture) get(path string, out any) int {
	req, _ := http.NewRequest("GET", "https://"+f.api+path, nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := f.client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func (f *serveFixture) enrollToken() string {
	req, _ := http.NewRequest("POST", "https://"+f.api+"/api/v1/agents/tokens", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok rcs.EnrollToken
	json.NewDecoder(resp.Body).Decode(&tok)
	if tok.Token == "" {
		f.t.Fatalf("enroll token: %s", resp.Status)
	}
	return tok.Token
}

func (f *serveFixture) device(version string, latency time.Duration) *amtsim.Device {
	v, _ := amt.ParseVersion(version)
	sd, err := amtsim.New(amtsim.Config{Version: v, DHCPSuffix: killSuffix, OSHostname: "pc", Identity: f.idCA, Latency: latency,
		CustomHashes: []amtsim.CustomHash{{Name: f.rootHash.Name, Algorithm: amt.HashSHA256, Hash: f.rootHash.Hash}}})
	if err != nil {
		f.t.Fatal(err)
	}
	return sd
}

func passwordOpens(sd *amtsim.Device, pw string) error {
	return sd.CheckAdminPassword(context.Background(), pw)
}

// amtrcs serve is killed with SIGKILL while activations run, and started
// again on the same data directory: the agents reconnect, the sessions
// resume, and every device ends provisioned with a password the store
// holds (checked against the device), or cleanly not provisioned.
func TestServeKill9MidActivation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	f := newServeFixture(t)
	f.start()
	versions := []string{"11.8.55", "16.1.27", "19.0.5"}
	const n = 24
	devs := make([]*amtsim.Device, n)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for i := range devs {
		// Latency per call makes an activation last about a second, so the
		// kill lands in the middle of many of them.
		devs[i] = f.device(versions[i%3], 15*time.Millisecond)
		ag, err := agent.New(agent.Options{Server: "https://" + f.gw, EnrollToken: f.enrollToken(), Hostname: fmt.Sprintf("pc%02d", i),
			Backend: agent.OnDevice("pc", devs[i]), TLS: f.tlsCfg,
			MinBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); ag.Run(ctx) }()
	}
	// Kill once some devices are provisioned and others are not yet.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		post := 0
		for _, sd := range devs {
			if st, _ := sd.State(); st == amt.PostProvisioning {
				post++
			}
		}
		if post >= 2 {
			if post == n {
				t.Fatal("every device finished before the kill; raise the latency")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no activation finished:\n%s", f.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.kill9()
	midway := 0
	for _, sd := range devs {
		if st, _ := sd.State(); st != amt.PostProvisioning {
			midway++
		}
	}
	t.Logf("killed with %d of %d devices not yet provisioned", midway, n)
	f.start()
	defer f.kill9()

	// Wait until every device has settled: no job running, each record
	// provisioned or failed.
	deadline = time.Now().Add(3 * time.Minute)
	for {
		var ds []rcs.DeviceRecord
		settled := 0
		if f.get("/api/v1/devices", &ds) == 200 {
			for _, d := range ds {
				if d.State == rcs.StateProvisioned || d.State == rcs.StateFailed {
					settled++
				}
			}
		}
		if settled == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d devices settled:\n%s", settled, n, f.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	provisioned := 0
	for i, sd := range devs {
		id := sd.ID().String()
		st, mode := sd.State()
		switch st {
		case amt.PostProvisioning:
			var pw rcs.DevicePassword
			if code := f.get("/api/v1/devices/"+id+"/password", &pw); code != 200 {
				t.Errorf("device %d (AMT %s) is provisioned (%s) and the store has no password for it (%d)", i, sd.Version(), mode, code)
				continue
			}
			if err := passwordOpens(sd, pw.Password); err != nil {
				t.Errorf("device %d: the stored password does not open it: %v", i, err)
				continue
			}
			provisioned++
		case amt.PreProvisioning:
			// Cleanly not provisioned: allowed, reported.
			t.Logf("device %d (AMT %s) ended not provisioned", i, sd.Version())
		default:
			t.Errorf("device %d (AMT %s) left %s", i, sd.Version(), st)
		}
	}
	if provisioned != n {
		t.Errorf("%d of %d devices provisioned after the restart; the agents reconnect, so all should be", provisioned, n)
	}
}

// TestServeRefusesBadRootFiles: a root or CA file that holds no
// certificate, or is too large, is bad input (exit 2) naming the flag, the
// file and what it should hold; nothing is started.
func TestServeRefusesBadRootFiles(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.pem")
	if err := os.WriteFile(big, bytes.Repeat([]byte("A"), 20<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		flag, file, want string
	}{
		{"--device-identity-root", junk, "PRIVATE KEY"},
		{"--client-ca", junk, "PRIVATE KEY"},
		{"--device-identity-root", big, "MiB"},
		{"--client-ca", filepath.Join(dir, "missing.pem"), "no such file"},
	} {
		code, _, errOut := runCLI(t, "serve", "--data-dir", filepath.Join(dir, "data"), tt.flag, tt.file)
		if code != 2 || !strings.Contains(errOut, tt.flag) || !strings.Contains(errOut, tt.file) || !strings.Contains(errOut, tt.want) {
			t.Errorf("serve %s %s: exit %d, stderr %q; want 2 naming the flag, the file and %q", tt.flag, tt.file, code, errOut, tt.want)
		}
	}
}
