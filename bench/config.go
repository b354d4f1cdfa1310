package bench

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/provisioning"
)

// Path is an activation path as the bench names it.
type Path string

const (
	PathACM    Path = "acm"     // host-based setup, AdminSetup (AMT 7 to 18)
	PathACMTLS Path = "acm-tls" // TLS-based setup (AMT 19+)
	PathCCM    Path = "ccm"     // client control mode (Setup)
	PathLegacy Path = "legacy"  // legacy network setup after a hello
)

// Paths lists the paths in the order the help text gives them.
var Paths = []Path{PathACM, PathACMTLS, PathCCM, PathLegacy}

// paths maps each bench path to the engine's path and a default version.
var paths = map[Path]struct {
	engine  provisioning.Path
	version string
	allowed func(amt.Version) bool
	want    string
}{
	PathACM:    {provisioning.PathHostBased, "16.1.27", func(v amt.Version) bool { return v.Major >= 7 && v.Major <= 18 }, "AMT 7 to 18"},
	PathACMTLS: {provisioning.PathTLS, "19.0.5", func(v amt.Version) bool { return v.Major >= 19 }, "AMT 19 or newer"},
	PathCCM:    {provisioning.PathCCM, "16.1.27", func(v amt.Version) bool { return v.Major >= 7 }, "AMT 7 or newer"},
	PathLegacy: {provisioning.PathLegacy, "11.8.55", func(v amt.Version) bool { return v.Major >= 6 && v.Major <= 18 }, "AMT 6 to 18"},
}

// Mode is what a run puts between the fleet and the store.
type Mode string

const (
	// ModeStack runs the server as `amtrcs serve` does (REST API, agent
	// gateway, job runner, hello listener) on a durable store, and the
	// simulated fleet with its agents in a child process.
	ModeStack Mode = "stack"
	// ModeEngine calls the provisioning engine directly, with the
	// simulator in the same process: a diagnostic that leaves out the
	// agents, the relay and the server around the engine.
	ModeEngine Mode = "engine"
)

// Modes lists the modes, the default first.
var Modes = []Mode{ModeStack, ModeEngine}

// MaxDevices bounds a run: legacy devices need one loopback address each
// (127.3.0.1 onwards), and 100,000 devices already take hours.
const MaxDevices = 100_000

// Config is one benchmark run.
type Config struct {
	Devices int
	Path    Path
	// Version is the devices' AMT version (zero: 16.1.27 for acm and ccm,
	// 19.0.5 for acm-tls, 11.8.55 for legacy).
	Version amt.Version
	// Concurrency is how many activations run at once (0: 32, at most
	// Devices).
	Concurrency int
	// Latency is the simulated firmware latency per host-interface and
	// per WS-MAN call.
	Latency time.Duration
	// FloorTime is how long each of the four floor measurements runs
	// (0: 1 s).
	FloorTime time.Duration
	// Dir holds the store; "" makes a temporary directory removed after
	// the run.
	Dir string
	// NoSync turns fsync off: a diagnostic that shows what the store's
	// commits cost, never the figure to quote (a crash could then lose a
	// password already set in firmware).
	NoSync bool
	// Progress, when set, is called after each activation.
	Progress func(done, total int)
	// Mode is ModeStack (the default) or ModeEngine.
	Mode Mode
	// FleetCommand starts the fleet child of ModeStack (nil: this
	// executable's hidden `bench-fleet` command, with FleetEnv=1 in its
	// environment). The command's stdin and stdout carry the protocol.
	FleetCommand func(ctx context.Context) (*exec.Cmd, error)
	// CPUProfile profiles the server's CPU during the activations
	// (Report.CPUProfile). ModeEngine always profiles: its CPU split needs
	// it.
	CPUProfile bool

	// IdleAgents, when set, runs the idle-agent measurement instead of an
	// activation run: that many agents connect and stay connected (their
	// devices activated first, as a fleet's are), the server restarts
	// into a process of its own, and the run measures how fast they all
	// come back and what the server holds per idle agent. Devices is set
	// to it.
	IdleAgents int
	// IdleHold is how long the agents stay connected and idle after they
	// came back, the server's memory sampled meanwhile (0: 10 s).
	IdleHold time.Duration
	// HeapProfile, when set, is where the server process writes its heap
	// profile at the end of the hold (go tool pprof -top FILE).
	HeapProfile string
	// IdleMaintenance keeps the server's maintenance schedules on in the
	// idle-agent run. Off by default: a fleet just activated has every
	// maintenance task due at once (clock, network, password), and the
	// run would measure that sweep rather than idle connections.
	IdleMaintenance bool
	// ServerMemoryLimit, when set, is the server process's GOMEMLIMIT in
	// the idle-agent run (for example "250MiB"): the Go runtime's soft
	// limit, which an operator sets in the server's environment.
	ServerMemoryLimit string
	// ServerCommand starts the server child of the idle-agent run (nil:
	// this executable's hidden `bench-server` command, with ServerEnv=1).
	ServerCommand func(ctx context.Context) (*exec.Cmd, error)
}

// normalize fills defaults and checks every field; the error names the
// field, the value seen, the value wanted and the fix.
func (c *Config) normalize() error {
	switch c.Mode {
	case "":
		c.Mode = ModeStack
	case ModeStack, ModeEngine:
	default:
		return fmt.Errorf("mode %q: want one of %v; pass --mode stack (the default) or --mode engine", c.Mode, Modes)
	}
	if c.IdleAgents != 0 {
		if err := c.normalizeIdle(); err != nil {
			return err
		}
	}
	p, ok := paths[c.Path]
	if !ok {
		return fmt.Errorf("path %q: want one of %v", c.Path, Paths)
	}
	if c.Devices < 1 || c.Devices > MaxDevices {
		return fmt.Errorf("devices %d: want 1 to %d; pass --devices within that range", c.Devices, MaxDevices)
	}
	if c.Version == (amt.Version{}) {
		c.Version, _ = amt.ParseVersion(p.version)
	}
	if _, err := amt.LookupProfile(c.Version); err != nil {
		return fmt.Errorf("AMT version %s: %w", c.Version, err)
	}
	if !p.allowed(c.Version) {
		return fmt.Errorf("path %s on AMT %s: the path needs %s; pass --amt-version accordingly or pick another --path", c.Path, c.Version, p.want)
	}
	if c.Concurrency < 0 {
		return fmt.Errorf("concurrency %d: want 1 or more (0 for the default, 32)", c.Concurrency)
	}
	if c.Concurrency == 0 {
		c.Concurrency = 32
	}
	c.Concurrency = min(c.Concurrency, c.Devices)
	if c.Latency < 0 || c.Latency > time.Minute {
		return fmt.Errorf("latency %s: want 0 to 1m per call", c.Latency)
	}
	if c.FloorTime < 0 {
		return fmt.Errorf("floor time %s: want 0 (1 s) or more", c.FloorTime)
	}
	if c.FloorTime == 0 {
		c.FloorTime = time.Second
	}
	return nil
}

// normalizeIdle checks an idle-agent run: agents on an agent path, through
// the whole stack.
func (c *Config) normalizeIdle() error {
	if c.IdleAgents < 1 || c.IdleAgents > MaxDevices {
		return fmt.Errorf("idle agents %d: want 1 to %d; pass --idle-agents within that range", c.IdleAgents, MaxDevices)
	}
	if c.Mode != ModeStack {
		return fmt.Errorf("mode %s with idle agents: idle agents connect to a server, want mode stack; drop --mode", c.Mode)
	}
	if c.Path == PathLegacy {
		return fmt.Errorf("path legacy with idle agents: legacy devices have no agent, want acm, acm-tls or ccm; pick another --path")
	}
	if c.IdleHold < 0 {
		return fmt.Errorf("idle hold %s: want 0 (10 s) or more", c.IdleHold)
	}
	if c.IdleHold == 0 {
		c.IdleHold = 10 * time.Second
	}
	c.Devices = c.IdleAgents
	return nil
}

// Check reports what Run would refuse in cfg, without running.
func (c Config) Check() error { return c.normalize() }
