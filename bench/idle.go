package bench

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/rcs/rcsstack"
)

// reconnectWait bounds the wait for the whole fleet to come back after a
// restart; a run that reaches it counts the agents still away as failed.
const reconnectWait = 10 * time.Minute

// IdleReport is what an idle-agent run measured (Report.Idle).
type IdleReport struct {
	// ConnectSeconds is the first connection of the whole fleet, each
	// device activated on the way, as a fleet's agents are before they
	// idle.
	ConnectSeconds float64 `json:"connect_seconds"`
	HoldSeconds    float64 `json:"hold_seconds"`
	// The server process's memory while the agents were connected and
	// idle, sampled once a second during the hold: resident set (the
	// largest sample) and its anonymous part, the Go heap and goroutine
	// stacks in use, and the resident set when it had just started,
	// before its agents came back.
	ServerRSSMiB float64 `json:"server_rss_mib"`
	// ServerRSSEndMiB is the last sample, at the end of the hold: lower
	// than the largest once the runtime has collected the reconnection's
	// garbage (at the latest 2 minutes after its last collection) and
	// returned the pages.
	ServerRSSEndMiB  float64 `json:"server_rss_end_mib"`
	ServerRSSAnonMiB float64 `json:"server_rss_anon_mib"`
	ServerBaseRSSMiB float64 `json:"server_base_rss_mib"`
	HeapInuseMiB     float64 `json:"heap_inuse_mib"`
	StackInuseMiB    float64 `json:"stack_inuse_mib"`
	Goroutines       int     `json:"goroutines"`
	// PerAgentKiB is the resident set above the base, per connected
	// agent; GoroutinesPerAgent likewise.
	PerAgentKiB        float64 `json:"per_agent_kib"`
	PerAgentAnonKiB    float64 `json:"per_agent_anon_kib"`
	GoroutinesPerAgent float64 `json:"goroutines_per_agent"`
	// Restarts: the in-process server closed and restarted into a process
	// of its own, then that process killed and started again (a crash).
	Restarts []Restart `json:"restarts"`
	// FleetCPUSeconds and FleetPeakRSSMiB are the fleet child's: the
	// simulated devices and their agents.
	FleetCPUSeconds float64 `json:"fleet_cpu_seconds"`
	FleetPeakRSSMiB float64 `json:"fleet_peak_rss_mib"`
	// DescriptorLimit is the limit on open files of this process after
	// raising it; the children raise theirs alike.
	DescriptorLimit uint64 `json:"descriptor_limit"`
	// Maintenance says whether the server's maintenance schedules were on
	// (Config.IdleMaintenance).
	Maintenance bool `json:"maintenance"`
	// ServerMemoryLimit is the server process's GOMEMLIMIT, when set.
	ServerMemoryLimit string `json:"server_memory_limit,omitempty"`
	// LoadAverage is the machine's (/proc/loadavg) when the hold ended:
	// other work on it slows the reconnection.
	LoadAverage string `json:"load_average,omitempty"`
}

// Restart is one restart of the server and the fleet's return.
type Restart struct {
	Kind string `json:"kind"`
	// Seconds is from the restart (the old server stopped or killed)
	// until the last agent had its first event from the new server;
	// ServerStartSeconds until the new server listened.
	Seconds            float64 `json:"seconds"`
	ServerStartSeconds float64 `json:"server_start_seconds"`
	// Per agent, from the restart to its first event from the new server.
	P50Seconds float64 `json:"p50_seconds"`
	P95Seconds float64 `json:"p95_seconds"`
	Connected  int     `json:"connected"`
	// Refused counts the agents' connection attempts the closed port
	// refused; Failed every other failed attempt (reset, timed out,
	// refused by the server once up).
	Refused int64 `json:"refused"`
	Failed  int64 `json:"failed"`
	// Errors quotes the first few distinct errors of the failed attempts.
	Errors []string `json:"errors,omitempty"`
}

// runIdle is the idle-agent run: the fleet child's agents activate their
// devices on a server set up here and stay connected; the server then
// restarts into a process of its own (whose memory is the server's
// alone), the run waits for every agent to come back, holds them idle
// while it samples the server's memory, kills the server and starts it
// again, and waits once more.
func runIdle(ctx context.Context, cfg Config) (_ *Report, err error) {
	idle := &IdleReport{ServerMemoryLimit: cfg.ServerMemoryLimit, Maintenance: cfg.IdleMaintenance}
	if idle.DescriptorLimit, err = raiseNoFile(); err != nil {
		return nil, fmt.Errorf("bench: descriptor limit: %w", err)
	}
	dir, cleanup, err := workDir(cfg)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	n := cfg.IdleAgents
	rep := &Report{Mode: ModeStack, Path: cfg.Path, Version: cfg.Version.String(), Devices: n, Concurrency: cfg.Concurrency, IdleAgents: n, Idle: idle,
		LatencyMeasured: "agent start to its activation's final event at the agent (the first connection)"}
	vendor, err := rcsstack.NewVendor("amtrcs bench", Suffix, time.Now())
	if err != nil {
		return nil, err
	}
	ch, err := startChild(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer ch.stopInto(&err)
	if err := ch.enc.Encode(fleetSpec{Path: cfg.Path, Version: cfg.Version.String(), Devices: n, Concurrency: cfg.Concurrency,
		Latency: cfg.Latency, Suffix: Suffix, RootHash: vendor.RootHash().Hash, Idle: true}); err != nil {
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
	stack, err := rcsstack.Start(ctx, rcsstack.Options{Dir: dir, Suffix: Suffix, Vendor: vendor, DomainName: "bench", Profile: stackProfile(cfg.Path),
		NoSync: cfg.NoSync, IdentityRoots: []*x509.Certificate{idRoot}, Prepare: noMaintenance(cfg.IdleMaintenance)})
	if err != nil {
		return nil, err
	}
	closeStack := sync.OnceFunc(func() { _ = stack.Close() })
	defer closeStack()
	rep.Store = "bbolt, fsync on every commit: " + stack.Store.Path()
	spec := serverSpec{Dir: dir, API: stack.Server.Addr("api").String(), Gateway: stack.Server.Addr("agent_gateway").String(), Maintenance: cfg.IdleMaintenance}
	srvMsg := fleetServer{Gateway: stack.GatewayURL(), ServerCert: stack.Server.Certificate().Raw, Tokens: make([]string, n+1)}
	for i := range srvMsg.Tokens {
		if srvMsg.Tokens[i], _, _, err = stack.Server.NewEnrollToken("bench", 24*time.Hour); err != nil {
			return nil, fmt.Errorf("bench: enrollment token: %w", err)
		}
	}
	if err := ch.enc.Encode(srvMsg); err != nil {
		return nil, fmt.Errorf("bench: send the server to the fleet: %w", err)
	}

	// 1. Every agent connects and its device is activated.
	t0 := time.Now()
	var lat []time.Duration
	var fails []error
	for range n {
		m, err := ch.read(msgDevice)
		if err != nil {
			return nil, err
		}
		if d := m.Device; d.Error != "" {
			fails = append(fails, fmt.Errorf("device %d (%s): %s", d.Index+1, d.UUID, d.Error))
		} else {
			lat = append(lat, d.Latency)
		}
		if cfg.Progress != nil {
			cfg.Progress(len(lat)+len(fails), n)
		}
	}
	idle.ConnectSeconds = time.Since(t0).Seconds()
	rep.fill(cfg, 0, lat, fails, time.Since(t0), 0)

	// 2. The server restarts into a process of its own.
	var srv *serverChild
	r, err := idleRestart(ctx, ch, "in-process server closed, restarted in a process of its own", closeStack, func() (err error) {
		srv, err = startServer(ctx, cfg, spec)
		return err
	})
	idle.Restarts = append(idle.Restarts, r)
	if err != nil {
		return nil, err
	}
	defer func() {
		if srv != nil {
			_ = srv.stop()
		}
	}()
	base := srv.ready

	// 3. Idle: the server's memory sampled once a second.
	th := time.Now()
	var peak, last serverStats
	for {
		st, err := srv.ask(serverCmd{Cmd: "stats"})
		if err != nil {
			return nil, err
		}
		if st.RSS >= peak.RSS {
			peak = st
		}
		last = st
		if time.Since(th) >= cfg.IdleHold {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	idle.HoldSeconds = time.Since(th).Seconds()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		idle.LoadAverage = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if cfg.HeapProfile != "" {
		if _, err := srv.ask(serverCmd{Cmd: "heap", Path: cfg.HeapProfile}); err != nil {
			return nil, err
		}
	}
	idle.fillMemory(base, peak, n)
	idle.ServerRSSEndMiB = float64(last.RSS) / (1 << 20)
	rep.IdleServerRSSMiB = idle.ServerRSSMiB

	// 4. A crash: the server killed and started again.
	r, err = idleRestart(ctx, ch, "server process killed and started again", srv.kill, func() (err error) {
		srv, err = startServer(ctx, cfg, spec)
		return err
	})
	idle.Restarts = append(idle.Restarts, r)
	if err != nil {
		return nil, err
	}
	rep.ReconnectSeconds = r.Seconds
	for _, r := range idle.Restarts {
		if away := n - r.Connected; away > 0 {
			rep.Failed += away
			rep.Failures = append(rep.Failures, fmt.Sprintf("%s: %d of %d agents not back within %s", r.Kind, away, n, reconnectWait))
		}
	}
	if err := srv.stop(); err != nil {
		return nil, fmt.Errorf("bench: server process: %w%s", err, srv.stderr.suffix())
	}
	srv = nil
	if err := ch.stdin.Close(); err != nil {
		return nil, err
	}
	end, err := ch.read(msgEnd)
	if err != nil {
		return nil, err
	}
	idle.FleetCPUSeconds = end.End.CPU.Seconds()
	idle.FleetPeakRSSMiB = float64(end.End.PeakRSS) / (1 << 20)
	rep.FleetPeakRSSMiB = idle.FleetPeakRSSMiB
	return rep, nil
}

// idleRestart stops the server, starts the new one and waits for the
// fleet to come back.
func idleRestart(ctx context.Context, ch *child, kind string, stop func(), start func() error) (Restart, error) {
	r := Restart{Kind: kind}
	if err := ch.enc.Encode(fleetCmd{Cmd: "restart"}); err != nil {
		return r, fmt.Errorf("bench: restart: %w", err)
	}
	if _, err := ch.read(msgRestarting); err != nil {
		return r, err
	}
	t0 := time.Now()
	stop()
	if err := start(); err != nil {
		return r, err
	}
	r.ServerStartSeconds = time.Since(t0).Seconds()
	deadline := t0.Add(reconnectWait)
	for {
		m, err := ch.read(msgReconnect)
		if err != nil {
			return r, err
		}
		c := m.Reconnect
		r.Connected, r.Refused, r.Failed, r.Errors = c.Connected, c.Refused, c.Failed, c.Errors
		if c.Done {
			r.Seconds = time.Since(t0).Seconds()
			r.P50Seconds, r.P95Seconds = c.P50.Seconds(), c.P95.Seconds()
			return r, nil
		}
		if time.Now().After(deadline) {
			r.Seconds = time.Since(t0).Seconds()
			return r, nil
		}
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
	}
}

func (idle *IdleReport) fillMemory(base, peak serverStats, n int) {
	const mib, kib = 1 << 20, 1 << 10
	idle.ServerRSSMiB = float64(peak.RSS) / mib
	idle.ServerRSSAnonMiB = float64(peak.RSSAnon) / mib
	idle.ServerBaseRSSMiB = float64(base.RSS) / mib
	idle.HeapInuseMiB = float64(peak.HeapInuse) / mib
	idle.StackInuseMiB = float64(peak.StackInuse) / mib
	idle.Goroutines = peak.Goroutines
	idle.PerAgentKiB = float64(peak.RSS-base.RSS) / kib / float64(n)
	idle.PerAgentAnonKiB = float64(peak.RSSAnon-base.RSSAnon) / kib / float64(n)
	idle.GoroutinesPerAgent = float64(peak.Goroutines-base.Goroutines) / float64(n)
}
