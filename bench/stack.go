package bench

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/rcs/rcsstack"
	"github.com/amtrcs/amtrcs/store"
)

// StackAttribution says how a full-stack report measures CPU.
const StackAttribution = "getrusage of the server process (REST API, agent gateway, job runner, engine, store); the simulated fleet and its agents run in a child process, measured by its own getrusage"

// jobWait bounds the wait for the server to record the end of legacy
// jobs after their devices are provisioned.
const jobWait = 2 * time.Minute

// stackProfile is the profile the bench creates: the defaults of an ACM
// profile (or CCM for the ccm path), TLS after activation left off as the
// demo's, so that the run measures activation alone.
func stackProfile(p Path) provisioning.Profile {
	prof := provisioning.DefaultProfile("bench")
	prof.TLS = provisioning.ProfileTLS{}
	if p == PathCCM {
		prof.Mode, prof.UserConsent = provisioning.ModeCCM, provisioning.ConsentAll
	}
	return prof
}

// child is the running fleet process.
type child struct{ piped }

// piped is a child process the bench speaks to in JSON over its stdin and
// stdout, keeping the tail of its stderr to quote when it fails.
type piped struct {
	cmd    *exec.Cmd
	enc    *json.Encoder
	dec    *json.Decoder
	stdin  io.WriteCloser
	stderr *tailBuffer
}

// stopInto stops the fleet child when a run ends, and adds the tail of
// its stderr to the run's error, or makes its own failure the error.
// It stops the child first, so that its stderr is whole when quoted.
func (c *child) stopInto(err *error) {
	serr := c.stop()
	switch {
	case *err != nil:
		*err = fmt.Errorf("%w%s", *err, c.stderr.suffix())
	case serr != nil:
		*err = fmt.Errorf("bench: fleet process: %w%s", serr, c.stderr.suffix())
	}
}

// startPiped starts cmd with its pipes; what names it in errors.
func startPiped(cmd *exec.Cmd, what string) (piped, error) {
	c := piped{cmd: cmd, stderr: &tailBuffer{max: 8 << 10}}
	cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return c, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return c, err
	}
	if err := cmd.Start(); err != nil {
		return c, fmt.Errorf("bench: start the %s process %s: %w", what, cmd.Path, err)
	}
	c.enc, c.dec = json.NewEncoder(c.stdin), json.NewDecoder(out)
	return c, nil
}

func startChild(ctx context.Context, cfg Config) (*child, error) {
	mk := cfg.FleetCommand
	if mk == nil {
		mk = defaultFleetCommand
	}
	cmd, err := mk(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench: fleet command: %w", err)
	}
	p, err := startPiped(cmd, "fleet")
	if err != nil {
		return nil, err
	}
	return &child{p}, nil
}

func defaultFleetCommand(ctx context.Context) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "bench-fleet")
	cmd.Env = append(os.Environ(), FleetEnv+"=1")
	return cmd, nil
}

// read returns the child's next message; an error message or a closed
// pipe becomes an error (runStack adds the end of the child's stderr).
func (c *child) read(want ...string) (fleetMsg, error) {
	var m fleetMsg
	if err := c.dec.Decode(&m); err != nil {
		return m, fmt.Errorf("bench: the fleet process stopped talking (%v)", err)
	}
	if m.Kind == msgError {
		return m, fmt.Errorf("bench: fleet process: %s", m.Error)
	}
	for _, k := range want {
		if m.Kind == k {
			return m, nil
		}
	}
	return m, fmt.Errorf("bench: fleet process said %q, want one of %v", m.Kind, want)
}

// stop closes the child's stdin (which ends it) and waits for it, killing
// it after 30 s.
func (c *piped) stop() error {
	c.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		return <-done
	}
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := bytes.TrimSpace(t.b); len(s) > 0 {
		return "; its stderr ends: " + string(s)
	}
	return ""
}

// runStack is the full-stack run: the server here, the fleet and its
// agents in a child process.
func runStack(ctx context.Context, cfg Config) (_ *Report, err error) {
	dir, cleanup, err := workDir(cfg)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	rep := &Report{Mode: ModeStack, Path: cfg.Path, Version: cfg.Version.String(), Devices: cfg.Devices, Concurrency: cfg.Concurrency,
		LatencyPerCallMS: ms(cfg.Latency)}
	rep.LatencyMeasured = "agent start to the job's final event at the agent"
	if cfg.Path == PathLegacy {
		rep.LatencyMeasured = "first hello sent to the job's end in the server's job record"
	}
	// The floor first, on an idle machine.
	if rep.Floor, err = MeasureFloor(cfg.FloorTime); err != nil {
		return nil, err
	}
	vendor, err := rcsstack.NewVendor("amtrcs bench", Suffix, time.Now())
	if err != nil {
		return nil, err
	}
	ch, err := startChild(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer ch.stopInto(&err)
	if err := ch.enc.Encode(fleetSpec{Path: cfg.Path, Version: cfg.Version.String(), Devices: cfg.Devices, Concurrency: cfg.Concurrency,
		Latency: cfg.Latency, Suffix: Suffix, RootHash: vendor.RootHash().Hash}); err != nil {
		return nil, fmt.Errorf("bench: send the fleet spec: %w", err)
	}
	m, err := ch.read(msgReady)
	if err != nil {
		return nil, err
	}
	idRoot, err := x509.ParseCertificate(m.IdentityRoot)
	if err != nil {
		return nil, fmt.Errorf("bench: the fleet's identity root: %w", err)
	}

	var tlsDials atomic.Int64
	stack, err := rcsstack.Start(ctx, rcsstack.Options{Dir: dir, Suffix: Suffix, Vendor: vendor, DomainName: "bench", Profile: stackProfile(cfg.Path),
		NoSync: cfg.NoSync, Hello: cfg.Path == PathLegacy, IdentityRoots: []*x509.Certificate{idRoot},
		// Counts the legacy devices' TLS connections; agents count theirs.
		DialNetwork: func(ctx context.Context, network, addr string) (net.Conn, error) {
			tlsDials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}})
	if err != nil {
		return nil, err
	}
	defer stack.Close()
	rep.Store = "bbolt, fsync on every commit: " + stack.Store.Path()
	if cfg.NoSync {
		rep.Store = "bbolt with fsync OFF (diagnostic, not durable): " + stack.Store.Path()
	}
	srvMsg := fleetServer{Gateway: stack.GatewayURL(), ServerCert: stack.Server.Certificate().Raw, Hello: stack.HelloAddr()}
	if cfg.Path != PathLegacy {
		srvMsg.Tokens = make([]string, cfg.Devices+1)
		for i := range srvMsg.Tokens {
			if srvMsg.Tokens[i], _, _, err = stack.Server.NewEnrollToken("bench", 24*time.Hour); err != nil {
				return nil, fmt.Errorf("bench: enrollment token: %w", err)
			}
		}
	}
	if err := ch.enc.Encode(srvMsg); err != nil {
		return nil, fmt.Errorf("bench: send the server to the fleet: %w", err)
	}
	if m, err = ch.read(msgCalibrated); err != nil {
		return nil, err
	}
	rep.Calls = *m.Calls
	rep.RelayRoundTrips = rep.Calls.RelayRoundTrips
	if cfg.Path == PathLegacy {
		// The calibration's job ends in the server after its device is
		// provisioned: wait, so that its CPU is not counted.
		if _, err := waitJobs(ctx, stack, []string{m.Device.UUID}); err != nil {
			return nil, fmt.Errorf("bench: calibration: %w", err)
		}
	}

	var prof bytes.Buffer
	if cfg.CPUProfile {
		if err := pprof.StartCPUProfile(&prof); err != nil {
			return nil, fmt.Errorf("bench: CPU profile (another profile running?): %w", err)
		}
	}
	tlsDials.Store(0)
	cpu0, t0 := processCPU(), time.Now()
	if err := ch.enc.Encode(fleetGo{Go: true}); err != nil {
		return nil, fmt.Errorf("bench: start the fleet: %w", err)
	}
	var devs []fleetDevice
	var end *fleetEnd
	for end == nil {
		m, err := ch.read(msgDevice, msgEnd)
		if err != nil {
			if cfg.CPUProfile {
				pprof.StopCPUProfile()
			}
			return nil, err
		}
		if m.Kind == msgEnd {
			end = m.End
			break
		}
		devs = append(devs, *m.Device)
		if cfg.Progress != nil {
			cfg.Progress(len(devs), cfg.Devices)
		}
	}
	elapsed, cpu := time.Since(t0), processCPU()-cpu0
	// Reading the job records back is not part of the run, but legacy
	// jobs end in the server after their devices are provisioned: their
	// wait is.
	lat, fails, last, err := stackOutcome(ctx, cfg, stack, devs)
	if cfg.Path == PathLegacy {
		cpu = processCPU() - cpu0
		if !last.IsZero() {
			elapsed = last.Sub(t0)
		}
	}
	if cfg.CPUProfile {
		pprof.StopCPUProfile()
		rep.profile = prof.Bytes()
	}
	if err != nil {
		return nil, err
	}
	dials := tlsDials.Load()
	if cfg.Path != PathLegacy {
		dials = end.TLSDials
	}
	rep.fill(cfg, dials, lat, fails, elapsed, cpu)
	rep.FleetPeakRSSMiB = float64(end.PeakRSS) / (1 << 20)
	rep.DelayedCalls = end.Delayed
	rep.attributeStack(cpu, end.CPU)
	return rep, nil
}

// stackOutcome checks each device's outcome against the server's records
// and returns the latencies, the failures, and for legacy the time the
// last job ended.
func stackOutcome(ctx context.Context, cfg Config, stack *rcsstack.Stack, devs []fleetDevice) (lat []time.Duration, fails []error, last time.Time, err error) {
	var ok []fleetDevice
	for _, d := range devs {
		if d.Error != "" {
			fails = append(fails, fmt.Errorf("device %d (%s): %s", d.Index+1, d.UUID, d.Error))
		} else {
			ok = append(ok, d)
		}
	}
	ids := make([]string, len(ok))
	for i, d := range ok {
		ids[i] = d.UUID
	}
	jobs, err := waitJobs(ctx, stack, ids)
	if err != nil && cfg.Path == PathLegacy {
		return nil, nil, time.Time{}, err
	}
	for _, d := range ok {
		j, found := jobs[d.UUID]
		switch {
		case !found:
			fails = append(fails, fmt.Errorf("device %d (%s): provisioned, but the server recorded no finished job for it", d.Index+1, d.UUID))
		case j.Status != rcs.JobDone:
			fails = append(fails, fmt.Errorf("device %d (%s): the server's job %s is %s: %s", d.Index+1, d.UUID, j.ID, j.Status, j.Error))
		case cfg.Path == PathLegacy:
			lat = append(lat, j.Finished.Sub(d.Start))
			if j.Finished.After(last) {
				last = j.Finished
			}
		default:
			lat = append(lat, d.Latency)
		}
	}
	return lat, fails, last, nil
}

// waitJobs waits until each device's last job in the server has finished
// and returns those jobs by device.
func waitJobs(ctx context.Context, stack *rcsstack.Stack, ids []string) (map[string]rcs.Job, error) {
	jobs := make(map[string]rcs.Job, len(ids))
	pending := ids
	deadline := time.Now().Add(jobWait)
	for {
		var still []string
		for _, id := range pending {
			var d rcs.DeviceRecord
			if err := stack.Store.Get(store.Devices, id, &d); err != nil || d.LastJob == "" {
				still = append(still, id)
				continue
			}
			j, err := stack.Server.Job(d.LastJob)
			if err != nil || j.Status == rcs.JobRunning {
				still = append(still, id)
				continue
			}
			jobs[id] = j
		}
		if pending = still; len(pending) == 0 {
			return jobs, nil
		}
		if time.Now().After(deadline) {
			return jobs, fmt.Errorf("%d devices' jobs did not finish within %s of their provisioning (first: %s)", len(pending), jobWait, pending[0])
		}
		select {
		case <-ctx.Done():
			return jobs, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// attributeStack fills the CPU figures of a full-stack run.
func (r *Report) attributeStack(server, fleet time.Duration) {
	r.CPU.Attribution = StackAttribution
	r.CPU.ServerSeconds = server.Seconds()
	r.CPU.FleetSeconds = fleet.Seconds()
	r.CPU.ServerShare = 1
	if r.Activated == 0 {
		return
	}
	n := float64(r.Activated)
	r.CPU.ServerPerActivationMS = r.CPU.ServerSeconds * 1000 / n
	r.CPU.ProcessPerActivationMS = r.CPU.ServerPerActivationMS
	r.CPU.FleetPerActivationMS = r.CPU.FleetSeconds * 1000 / n
	r.serverRSA()
	if both := r.CPU.ServerPerActivationMS + r.CPU.FleetPerActivationMS; both > 0 && r.CryptoCPUPerActivationMS > 0 {
		r.CPURatioToFloor = r.CryptoCPUPerActivationMS / both
	}
}
