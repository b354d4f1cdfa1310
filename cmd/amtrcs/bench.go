package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/bench"
	"github.com/spf13/cobra"
)

func init() {
	register(newBenchCmd)
	register(newBenchFleetCmd)
	register(newBenchServerCmd)
}

type benchFlags struct {
	devices, concurrency int
	path, version, mode  string
	latency, floorTime   time.Duration
	cpuProfile           string
	progress, noSync     bool
	idleAgents           int
	idleHold             time.Duration
	heapProfile          string
	serverMemoryLimit    string
	idleMaintenance      bool
	replicas             replicaFlags
}

func newBenchCmd(a *app) *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Activate a simulated fleet and report throughput against the cryptographic floor",
		Long: "Run a server on embedded defaults (REST API, agent gateway and hello listener on loopback\n" +
			"ports, a durable bbolt store with fsync in a temporary directory, a throw-away provisioning\n" +
			"chain imported through the certificate workshop, a domain and a profile made through the\n" +
			"API), a fleet of --devices simulated AMT devices and their agents in a child process (legacy:\n" +
			"devices that send hellos from their own loopback addresses), activate the whole fleet, and\n" +
			"report activations per second, latency p50/p95/p99, the server's CPU per activation\n" +
			"(getrusage of the server process alone), its peak RSS, and the floor: RSA-2048 signatures and\n" +
			"verifications per second measured in the same run, the activations per second they alone\n" +
			"allow for the path, and the ratio of the two. With --latency each firmware call is delayed,\n" +
			"and the report compares an activation with the sum of its calls' latencies.\n" +
			"--mode engine calls the provisioning engine directly with the simulator in the same process\n" +
			"(no agents, relay or REST server; CPU split by pprof labels), for diagnosis.\n" +
			"--idle-agents N measures a connected fleet instead: N agents activate their devices and stay\n" +
			"connected, the server restarts into a process of its own, and the report gives the time until\n" +
			"all are back (reconnect), the server's RSS while they idle (per agent), a crash restart's\n" +
			"reconnection with the attempts refused and failed, and with --heapprofile the server's heap.\n" +
			"Exit status 1 when an activation failed or an agent did not come back.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd, a, &f) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.devices, "devices", 100, "number of simulated devices to activate")
	fl.StringVar(&f.path, "path", "acm", "activation path: acm (AdminSetup, AMT 7-18), acm-tls (AMT 19+), ccm, or legacy (hello, mutual TLS)")
	fl.StringVar(&f.version, "amt-version", "", "AMT version of the devices (default 16.1.27 for acm and ccm, 19.0.5 for acm-tls, 11.8.55 for legacy)")
	fl.IntVar(&f.concurrency, "concurrency", 0, "activations at once (default 32)")
	fl.DurationVar(&f.latency, "latency", 0, "simulated firmware latency per host-interface and WS-MAN call, for example 200ms")
	fl.DurationVar(&f.floorTime, "floor-time", time.Second, "how long each of the four RSA floor measurements runs")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "also write the CPU profile of the activations to this file (go tool pprof -top FILE): the server process's in stack mode")
	fl.StringVar(&f.mode, "mode", string(bench.ModeStack), "stack (server, agents and fleet, the figure to quote) or engine (the engine alone, for diagnosis)")
	fl.BoolVar(&f.progress, "progress", false, "show a progress bar on stderr")
	fl.IntVar(&f.idleAgents, "idle-agents", 0, "connect this many agents, hold them idle, restart the server and measure their reconnection (instead of an activation run)")
	fl.DurationVar(&f.idleHold, "idle-hold", 10*time.Second, "with --idle-agents: how long the agents stay idle while the server's memory is sampled")
	fl.StringVar(&f.heapProfile, "heapprofile", "", "with --idle-agents: write the server process's heap profile at the end of the hold to this file")
	fl.StringVar(&f.serverMemoryLimit, "server-memory-limit", "", "with --idle-agents: the server process's GOMEMLIMIT, for example 250MiB (the Go runtime's soft memory limit)")
	fl.BoolVar(&f.idleMaintenance, "idle-maintenance", false, "with --idle-agents: keep the server's maintenance schedules on (every task of the just-activated fleet is then due at once)")
	fl.BoolVar(&f.noSync, "no-fsync", false, "diagnostic: turn the store's fsync off to see what commits cost (not durable; never quote this figure)")
	f.replicas.add(cmd)
	return cmd
}

func runBench(cmd *cobra.Command, a *app, f *benchFlags) error {
	if f.replicas.asked(cmd) {
		return runReplicaBench(cmd, a, f)
	}
	cfg := bench.Config{Devices: f.devices, Path: bench.Path(f.path), Concurrency: f.concurrency, Latency: f.latency, FloorTime: f.floorTime, NoSync: f.noSync,
		Mode: bench.Mode(f.mode), CPUProfile: f.cpuProfile != "", IdleAgents: f.idleAgents, IdleHold: f.idleHold, HeapProfile: f.heapProfile,
		ServerMemoryLimit: f.serverMemoryLimit, IdleMaintenance: f.idleMaintenance}
	if f.heapProfile != "" && f.idleAgents == 0 {
		return usageError(errors.New("--heapprofile needs --idle-agents: the heap profiled is the idle server's"))
	}
	if f.version != "" {
		v, err := amt.ParseVersion(f.version)
		if err != nil {
			return usageError(fmt.Errorf("--amt-version: %w", err))
		}
		cfg.Version = v
	}
	if f.floorTime <= 0 {
		return usageError(fmt.Errorf("--floor-time %s: want a positive duration such as 1s", f.floorTime))
	}
	if err := cfg.Check(); err != nil {
		return usageError(err)
	}
	if f.progress {
		bar := newProgress(a.stderr, cmp.Or(f.idleAgents, f.devices), "activating")
		cfg.Progress = func(done, _ int) { bar.Set(done) }
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if f.cpuProfile != "" {
		if err := os.WriteFile(f.cpuProfile, rep.CPUProfile(), 0o644); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
	}
	if a.json {
		if err := a.printJSON(rep); err != nil {
			return err
		}
	} else if err := rep.WriteText(a.stdout); err != nil {
		return err
	}
	if rep.Failed > 0 && f.idleAgents > 0 {
		return verdictError(fmt.Errorf("%d of %d agents failed or did not come back; the report lists the first", rep.Failed, rep.Devices))
	}
	if rep.Failed > 0 {
		return verdictError(fmt.Errorf("%d of %d activations failed; the report lists the first", rep.Failed, rep.Devices))
	}
	if ctx.Err() != nil {
		return verdictError(errors.New("interrupted before the whole fleet was activated"))
	}
	return nil
}

// newBenchFleetCmd is the fleet child of `amtrcs bench` (stack mode): it
// speaks the bench's protocol on stdin and stdout, so it is hidden.
func newBenchFleetCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:    "bench-fleet",
		Short:  "The simulated fleet and agents of amtrcs bench (started by it; not for direct use)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv(bench.FleetEnv) != "1" {
				return usageError(fmt.Errorf("bench-fleet: %s is not set: this command is started by amtrcs bench, run that instead", bench.FleetEnv))
			}
			return bench.ServeFleet(cmd.Context(), os.Stdin, a.stdout)
		},
	}
}

// newBenchServerCmd is the server process of `amtrcs bench --idle-agents`:
// it reopens the bench's data directory and speaks the bench's protocol
// on stdin and stdout, so it is hidden.
func newBenchServerCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:    "bench-server",
		Short:  "The restarted server of amtrcs bench --idle-agents (started by it; not for direct use)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv(bench.ServerEnv) != "1" {
				return usageError(fmt.Errorf("bench-server: %s is not set: this command is started by amtrcs bench --idle-agents, run that instead", bench.ServerEnv))
			}
			return bench.ServeServer(cmd.Context(), os.Stdin, a.stdout)
		},
	}
}
