package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/bench"
)

// replicaFlags select bench's several-servers scenario.
type replicaFlags struct {
	store    string
	replicas int
	kill     bool
	leaseTTL time.Duration
	logs     bool
}

func (r *replicaFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&r.store, "store", "", "run the several-servers scenario on this store: bbolt (one server) or postgres (the database of $"+bench.DatabaseURLEnv+", else a throw-away cluster from the PostgreSQL programs on this machine); the servers are amtrcs serve processes")
	fl.IntVar(&r.replicas, "replicas", 0, "servers sharing the store in the several-servers scenario (default 1)")
	fl.BoolVar(&r.kill, "kill-replica", false, "kill one server with SIGKILL once a third of the fleet is provisioned (several-servers scenario)")
	fl.DurationVar(&r.leaseTTL, "lease-ttl", 0, "server.lease_ttl of the scenario's servers (default 15s)")
	fl.BoolVar(&r.logs, "server-logs", false, "copy the scenario's server logs to stderr")
}

// asked says whether a flag of the scenario was given.
func (r *replicaFlags) asked(cmd *cobra.Command) bool {
	for _, n := range []string{"store", "replicas", "kill-replica", "lease-ttl", "server-logs"} {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

func runReplicaBench(cmd *cobra.Command, a *app, f *benchFlags) error {
	r := f.replicas
	cfg := bench.ReplicaConfig{Devices: f.devices, Replicas: r.replicas, Store: r.store, KillReplica: r.kill, Latency: f.latency, LeaseTTL: r.leaseTTL}
	if cfg.Store == "" {
		cfg.Store = bench.StorePostgres
	}
	if f.version != "" {
		v, err := amt.ParseVersion(f.version)
		if err != nil {
			return usageError(fmt.Errorf("--amt-version: %w", err))
		}
		cfg.Version = v
	}
	for _, n := range []string{"mode", "path", "concurrency", "cpuprofile", "no-fsync"} {
		if cmd.Flags().Changed(n) {
			return usageError(fmt.Errorf("--%s does not apply to the several-servers scenario (--store, --replicas, --kill-replica): drop it", n))
		}
	}
	if err := cfg.CheckReplicas(); err != nil {
		return usageError(err)
	}
	if r.logs {
		cfg.Logs = a.stderr
	}
	if f.progress {
		bar := progressbar.NewOptions(f.devices, progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription("provisioned"),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
		cfg.Progress = func(done, _ int) { _ = bar.Set(done) }
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	rep, err := bench.RunReplicas(ctx, cfg)
	if err != nil {
		return err
	}
	if a.json {
		if err := a.printJSON(rep); err != nil {
			return err
		}
	} else if err := rep.WriteText(a.stdout); err != nil {
		return err
	}
	if !rep.OK() {
		return verdictError(errors.New("the fleet did not end as it must: failed, lost, unended or twice-run jobs above"))
	}
	return nil
}
