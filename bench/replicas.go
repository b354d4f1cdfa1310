package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/internal/pgtest"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/rcs/rcsstack"
	"github.com/amtrcs/amtrcs/store"
)

// The several-servers scenario: Replicas `amtrcs serve` processes on one
// store, a fleet of simulated devices whose agents are spread over them
// (each agent is given every server, starting with its own), and with
// KillReplica one server killed with SIGKILL while the fleet activates.
// The servers are real processes, so the kill is a real crash; the fleet
// and its agents run in this process.
//
// At the end every device is checked against its simulator: provisioned
// with a password the store holds (the simulator accepts it), or not
// provisioned. Anything else is lost. Every activation job must end, and
// each device must have one successful activation (or resumption) job:
// a second one is a job run twice.

// Store backends of the scenario.
const (
	StoreBolt     = "bbolt"
	StorePostgres = "postgres"
)

// DatabaseURLEnv names the PostgreSQL database of the scenario; without it
// a throw-away cluster is started.
const DatabaseURLEnv = "AMTRCS_DATABASE_URL"

// ReplicaConfig is one run of the scenario.
type ReplicaConfig struct {
	Devices  int
	Replicas int
	// Store is StoreBolt (one server only) or StorePostgres.
	Store string
	// DatabaseURL is the PostgreSQL database ("": DatabaseURLEnv, else a
	// throw-away cluster). It should be empty: the run adds its records.
	DatabaseURL string
	// KillReplica kills the last server with SIGKILL once a third of the
	// fleet is provisioned.
	KillReplica bool
	// Binary is the amtrcs executable the servers run (default: this
	// one).
	Binary string
	// Version is the devices' AMT version (zero: 16.1.27, host-based
	// setup).
	Version amt.Version
	// Latency is the simulated firmware latency per call.
	Latency time.Duration
	// LeaseTTL is server.lease_ttl (zero: the servers' default, 15 s).
	LeaseTTL time.Duration
	// Timeout bounds the whole run (zero: 30 minutes).
	Timeout time.Duration
	// Logs receives the servers' logs (nil: discarded, but the last lines
	// of a server that failed to start are in the error).
	Logs io.Writer
	// Progress, when set, is told how many devices are provisioned.
	Progress func(done, total int)
}

func (c *ReplicaConfig) normalize() error {
	switch c.Store {
	case "":
		c.Store = StorePostgres
	case StoreBolt, StorePostgres:
	default:
		return fmt.Errorf("store %q: want %s or %s; pass --store accordingly", c.Store, StoreBolt, StorePostgres)
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Replicas < 1 || c.Replicas > 16 {
		return fmt.Errorf("replicas %d: want 1 to 16", c.Replicas)
	}
	if c.Store == StoreBolt && c.Replicas > 1 {
		return fmt.Errorf("replicas %d on store bbolt: a bbolt file has one server; pass --store postgres for several", c.Replicas)
	}
	if c.KillReplica && c.Replicas < 2 {
		return fmt.Errorf("kill-replica with %d replica: the fleet would have no server left; pass --replicas 2 or more", c.Replicas)
	}
	if c.Devices < 1 || c.Devices > MaxDevices {
		return fmt.Errorf("devices %d: want 1 to %d", c.Devices, MaxDevices)
	}
	if c.Version == (amt.Version{}) {
		c.Version, _ = amt.ParseVersion(paths[PathACM].version)
	}
	if !paths[PathACM].allowed(c.Version) {
		return fmt.Errorf("AMT version %s: the scenario activates by host-based setup, which needs %s", c.Version, paths[PathACM].want)
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = rcs.DefaultLeaseTTL
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Minute
	}
	if c.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the amtrcs executable for the servers: %w", err)
		}
		c.Binary = exe
	}
	if c.Logs == nil {
		c.Logs = io.Discard
	}
	return nil
}

// CheckReplicas reports what RunReplicas would refuse in cfg.
func (c ReplicaConfig) CheckReplicas() error { return c.normalize() }

// replica is one running server.
type replica struct {
	i       int
	dir     string
	cfg     string
	api, gw string
	cmd     *exec.Cmd
	tail    *tailBuffer
	log     io.Writer // the tail and ReplicaConfig.Logs
	exited  chan struct{}
	cpu0    time.Duration
	cpuEnd  time.Duration
}

// replicaRun is the state of one run.
type replicaRun struct {
	cfg      ReplicaConfig
	dir      string
	url      string
	kek      string
	env      []string
	certID   string
	vendor   *rcsstack.Vendor
	replicas []*replica
	client   *http.Client
	tlsCfg   *tls.Config
	token    string
}

// RunReplicas runs the scenario.
func RunReplicas(ctx context.Context, cfg ReplicaConfig) (*ReplicaReport, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "amtrcs-replicas-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r := &replicaRun{cfg: cfg, dir: dir}
	if cfg.Store == StorePostgres {
		r.url = cfg.DatabaseURL
		if r.url == "" {
			r.url = os.Getenv(DatabaseURLEnv)
		}
		if r.url == "" {
			url, stop, err := pgtest.Throwaway()
			if err != nil {
				return nil, err
			}
			defer stop()
			r.url = url
		}
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	r.kek = hex.EncodeToString(key)
	r.env = append(os.Environ(), "AMTRCS_BENCH_KEK="+r.kek, "AMTRCS_BENCH_DATABASE_URL="+r.url)
	if err := r.prepareStore(key); err != nil {
		return nil, err
	}
	defer r.stopAll()
	for i := range cfg.Replicas {
		if err := r.startReplica(ctx, i); err != nil {
			return nil, err
		}
	}
	return r.activate(ctx, key)
}

// openStore opens the run's store with its KEK.
func (r *replicaRun) openStore(key []byte) (*store.Store, error) {
	opts := store.Options{KEK: store.KEKSource{Key: key}, Logger: discardLogger()}
	if r.cfg.Store == StorePostgres {
		return store.OpenPostgres(r.url, r.dir, opts)
	}
	return store.Open(filepath.Join(r.dir, "replica-0", "amtrcs.db"), opts)
}

// prepareStore imports a throw-away vendor's provisioning chain, as an
// admin would with `amtrcs cert import`.
func (r *replicaRun) prepareStore(key []byte) error {
	now := time.Now()
	v, err := rcsstack.NewVendor("amtrcs replicas", Suffix, now)
	if err != nil {
		return err
	}
	r.vendor = v
	st, err := r.openStore(key)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := csr.NewWorkshop(st, csr.WorkshopOptions{}).Import(&csr.Delivery{Certificates: v.Chain, Key: v.Key},
		csr.ImportOptions{Check: csr.CheckOptions{CustomHashes: []amt.RootHash{v.RootHash()}, Suffixes: []string{Suffix}}})
	if err != nil {
		return fmt.Errorf("import the provisioning chain: %w", err)
	}
	r.certID = res.Cert.ID
	return nil
}

func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startReplica writes server i's configuration and starts it. The first
// makes the self-signed server certificate (its key sealed in the
// store); the others are given its certificate file, so that one
// certificate serves the fleet, as behind a load balancer.
func (r *replicaRun) startReplica(ctx context.Context, i int) error {
	rp := &replica{i: i, dir: filepath.Join(r.dir, fmt.Sprintf("replica-%d", i)), tail: &tailBuffer{max: 16 << 10}}
	rp.log = io.MultiWriter(rp.tail, &prefixWriter{w: r.cfg.Logs, prefix: fmt.Sprintf("[server %d] ", i)})
	if err := os.MkdirAll(rp.dir, 0o700); err != nil {
		return err
	}
	if i > 0 {
		b, err := os.ReadFile(filepath.Join(r.replicas[0].dir, rcs.ServerCertFile))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(rp.dir, rcs.ServerCertFile), b, 0o644); err != nil {
			return err
		}
	}
	storeHCL := "kek {\n  env = \"AMTRCS_BENCH_KEK\"\n}\n"
	if r.cfg.Store == StorePostgres {
		storeHCL += "store {\n  backend = \"postgres\"\n  url     = env.AMTRCS_BENCH_DATABASE_URL\n}\n"
	}
	for attempt := 0; ; attempt++ {
		var err error
		if rp.api, err = freeLoopback(); err != nil {
			return err
		}
		if rp.gw, err = freeLoopback(); err != nil {
			return err
		}
		rp.cfg = filepath.Join(rp.dir, "amtrcs.hcl")
		hcl := fmt.Sprintf("data_dir = %q\nserver {\n  api = %q\n  agent_gateway = %q\n  lease_ttl = %q\n}\ndomain \"bench\" {\n  suffixes = [%q]\n  provisioning_cert = %q\n}\n%s",
			rp.dir, rp.api, rp.gw, r.cfg.LeaseTTL.String(), Suffix, r.certID, storeHCL)
		if err := os.WriteFile(rp.cfg, []byte(hcl), 0o600); err != nil {
			return err
		}
		err = r.launch(ctx, rp)
		if err == nil {
			break
		}
		if attempt < 3 && strings.Contains(rp.tail.suffix(), "address already in use") {
			continue // a port taken between the check and the bind
		}
		return err
	}
	r.replicas = append(r.replicas, rp)
	return nil
}

// launch runs serve and waits for its health endpoint.
func (r *replicaRun) launch(ctx context.Context, rp *replica) error {
	rp.cmd = exec.Command(r.cfg.Binary, "serve", "--config", rp.cfg, "--data-dir", rp.dir)
	rp.cmd.Env = r.env
	rp.cmd.Stdout, rp.cmd.Stderr = rp.log, rp.log
	if err := rp.cmd.Start(); err != nil {
		return fmt.Errorf("start server %d: %w", rp.i, err)
	}
	rp.exited = make(chan struct{})
	go func() { _ = rp.cmd.Wait(); close(rp.exited) }()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		select {
		case <-rp.exited:
			return fmt.Errorf("server %d exited at start:\n%s", rp.i, rp.tail.suffix())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if r.client == nil {
			r.trust(rp)
		}
		if r.client != nil {
			if resp, err := r.client.Get("https://" + rp.api + "/api/v1/health"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server %d did not come up in 3 minutes:\n%s", rp.i, rp.tail.suffix())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.token == "" {
		tok, err := os.ReadFile(filepath.Join(rp.dir, rcs.AdminTokenFile))
		if err != nil {
			return fmt.Errorf("server %d: admin token: %w", rp.i, err)
		}
		r.token = strings.TrimSpace(string(tok))
	}
	rp.cpu0 = procCPU(rp.cmd.Process.Pid)
	return nil
}

// trust reads the first server's certificate, once it has written it.
func (r *replicaRun) trust(rp *replica) {
	b, err := os.ReadFile(filepath.Join(rp.dir, rcs.ServerCertFile))
	if err != nil {
		return
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	r.tlsCfg = &tls.Config{RootCAs: pool}
	r.client = &http.Client{Transport: &http.Transport{TLSClientConfig: r.tlsCfg}, Timeout: 30 * time.Second}
}

// api calls the REST API of a live server with the admin token.
func (r *replicaRun) api(method, path string, out any) error {
	var last error
	for _, rp := range r.replicas {
		select {
		case <-rp.exited:
			continue
		default:
		}
		req, _ := http.NewRequest(method, "https://"+rp.api+path, nil)
		req.Header.Set("Authorization", "Bearer "+r.token)
		resp, err := r.client.Do(req)
		if err != nil {
			last = err
			continue
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
		}
		if out != nil {
			return json.NewDecoder(resp.Body).Decode(out)
		}
		return nil
	}
	return fmt.Errorf("%s %s: no server answered: %v", method, path, last)
}

// activate runs the fleet until every device is provisioned or the
// timeout, killing a server midway when asked, then checks every device.
func (r *replicaRun) activate(ctx context.Context, key []byte) (*ReplicaReport, error) {
	cfg := r.cfg
	rep := &ReplicaReport{Store: cfg.Store, Replicas: cfg.Replicas, Devices: cfg.Devices, Version: cfg.Version.String(), Killed: -1}
	devs := make([]*amtsim.Device, cfg.Devices)
	agents := make([]*agent.Agent, cfg.Devices)
	for i := range devs {
		d, err := amtsim.New(amtsim.Config{Version: cfg.Version, DHCPSuffix: Suffix, OSHostname: fmt.Sprintf("pc%05d", i), Latency: cfg.Latency,
			CustomHashes: []amtsim.CustomHash{{Name: "amtrcs replicas root", Algorithm: amt.HashSHA256, Hash: r.vendor.RootHash().Hash}}})
		if err != nil {
			return nil, err
		}
		devs[i] = d
		var tok rcs.EnrollToken
		if err := r.api(http.MethodPost, "/api/v1/agents/tokens", &tok); err != nil {
			return nil, err
		}
		// Each agent starts with its own server and has the others after.
		urls := make([]string, cfg.Replicas)
		for k := range urls {
			urls[k] = "https://" + r.replicas[(i+k)%cfg.Replicas].gw
		}
		a, err := agent.New(agent.Options{Server: strings.Join(urls, ","), EnrollToken: tok.Token, Hostname: fmt.Sprintf("pc%05d", i),
			Backend: agent.OnDevice("pc", d), TLS: r.tlsCfg, Logger: discardLogger(),
			MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second})
		if err != nil {
			return nil, err
		}
		agents[i] = a
	}
	actx, stopAgents := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopAgents(); wg.Wait() }()
	t0 := time.Now()
	for _, a := range agents {
		wg.Go(func() { _ = a.Run(actx) })
	}
	killAt := cfg.Devices / 3
	var done time.Time
	for {
		n := 0
		for _, d := range devs {
			if st, _ := d.State(); st == amt.PostProvisioning {
				n++
			}
		}
		if cfg.Progress != nil {
			cfg.Progress(n, cfg.Devices)
		}
		if cfg.KillReplica && rep.Killed < 0 && n >= max(killAt, 1) {
			victim := r.replicas[cfg.Replicas-1]
			victim.cpuEnd = procCPU(victim.cmd.Process.Pid)
			_ = victim.cmd.Process.Signal(syscall.SIGKILL)
			<-victim.exited
			rep.Killed, rep.KilledAfter = victim.i, n
		}
		if n == cfg.Devices {
			done = time.Now()
			break
		}
		if ctx.Err() != nil {
			rep.Failures = append(rep.Failures, fmt.Sprintf("timed out with %d of %d devices provisioned", n, cfg.Devices))
			done = time.Now()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The last jobs record their end just after the device's last call.
	r.waitJobsEnded(ctx)
	elapsed := done.Sub(t0)
	stopAgents()
	wg.Wait()
	var cpu time.Duration
	for _, rp := range r.replicas {
		end := rp.cpuEnd
		if end == 0 {
			end = procCPU(rp.cmd.Process.Pid)
		}
		cpu += end - rp.cpu0
	}
	r.stopAll()
	if err := r.check(rep, devs, key); err != nil {
		return nil, err
	}
	rep.ElapsedSeconds = elapsed.Seconds()
	if elapsed > 0 {
		rep.ActivationsPerSecond = float64(rep.Provisioned) / elapsed.Seconds()
	}
	rep.ServerCPUSeconds = cpu.Seconds()
	if rep.Provisioned > 0 {
		rep.ServerCPUPerActivationMS = ms(cpu) / float64(rep.Provisioned)
	}
	return rep, nil
}

// waitJobsEnded waits until no job is recorded as running, or a minute
// past the lease time to live (a dead server's jobs end then).
func (r *replicaRun) waitJobsEnded(ctx context.Context) {
	deadline := time.Now().Add(time.Minute + 3*r.cfg.LeaseTTL)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var running []rcs.Job
		if err := r.api(http.MethodGet, "/api/v1/jobs?status="+rcs.JobRunning, &running); err == nil && len(running) == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stopAll stops the servers still running, gracefully.
func (r *replicaRun) stopAll() {
	for _, rp := range r.replicas {
		select {
		case <-rp.exited:
			continue
		default:
		}
		_ = rp.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-rp.exited:
		case <-time.After(time.Minute):
			_ = rp.cmd.Process.Kill()
			<-rp.exited
		}
	}
}

// procCPU is a process's user and system CPU so far, from /proc (zero
// where there is none).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing one.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	// USER_HZ is 100 on every Linux that Go supports.
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// prefixWriter passes a server's log on, each write prefixed with the
// server's name.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) > 0 {
			_, _ = io.WriteString(p.w, p.prefix+string(line))
		}
	}
	return len(b), nil
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
