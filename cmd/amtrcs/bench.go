package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/bench"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

func init() { register(newBenchCmd) }

type benchFlags struct {
	devices, concurrency int
	path, version        string
	latency, floorTime   time.Duration
	cpuProfile           string
	progress, noSync     bool
}

func newBenchCmd(a *app) *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Activate a simulated fleet and report throughput against the cryptographic floor",
		Long: "Activate --devices simulated AMT devices on one path against a provisioning engine on a\n" +
			"durable store (bbolt with fsync, in a temporary directory), and report activations per\n" +
			"second, latency p50/p95/p99, CPU per activation (the server's part by pprof labels: the\n" +
			"simulator runs in the same process), peak RSS, and the floor: RSA-2048 signatures and\n" +
			"verifications per second measured in the same run, the activations per second they alone\n" +
			"allow for the path, and the ratio of the two. With --latency each firmware call is delayed,\n" +
			"and the report compares an activation with the sum of its calls' latencies.\n" +
			"Exit status 1 when an activation failed.",
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
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "also write the CPU profile of the activations to this file (go tool pprof -top FILE)")
	fl.BoolVar(&f.progress, "progress", false, "show a progress bar on stderr")
	fl.BoolVar(&f.noSync, "no-fsync", false, "diagnostic: turn the store's fsync off to see what commits cost (not durable; never quote this figure)")
	return cmd
}

func runBench(cmd *cobra.Command, a *app, f *benchFlags) error {
	cfg := bench.Config{Devices: f.devices, Path: bench.Path(f.path), Concurrency: f.concurrency, Latency: f.latency, FloorTime: f.floorTime, NoSync: f.noSync}
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
		bar := progressbar.NewOptions(f.devices, progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription("activating"),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
		cfg.Progress = func(done, _ int) { _ = bar.Set(done) }
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
	if rep.Failed > 0 {
		return verdictError(fmt.Errorf("%d of %d activations failed; the report lists the first", rep.Failed, rep.Devices))
	}
	if ctx.Err() != nil {
		return verdictError(errors.New("interrupted before the whole fleet was activated"))
	}
	return nil
}
