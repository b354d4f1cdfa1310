// Package bench measures fleet activation: it activates a whole simulated
// fleet and reports throughput, latency percentiles, CPU per activation,
// peak RSS, and the cryptographic floor measured on the same machine in the
// same run, so that a figure can be judged against what RSA-2048 alone
// allows.
//
// Two modes. ModeStack, the default and the figure to quote, runs the
// server as `amtrcs serve` does (rcsstack.Start: REST API, agent gateway, job
// runner, hello listener, a durable bbolt store with fsync on), and the
// simulated fleet with its agents in a child process (ServeFleet), so that
// getrusage of this process is the server alone. ModeEngine calls the
// provisioning engine directly with the simulator in the same process, a
// diagnostic whose CPU is split by pprof labels: side=server on the
// workers, side=sim on the simulator's WS-MAN server, host-interface calls
// and legacy listeners; unlabelled samples (GC, runtime) are split in
// proportion. Each report says which (Report.Mode, CPU.Attribution).
//
// The server's set-up (provisioning chain, store, profile, domain) is
// rcs/rcsstack's, which the demo shares; this package only measures.
//
// It must never run against real devices or a production store: it makes
// its own provisioning chain (throw-away keys, never written to disk), its
// own store in a temporary directory, and its own simulated devices, and it
// removes them when done.
package bench
