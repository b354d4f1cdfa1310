// Package bench measures fleet activation: it activates a whole simulated
// fleet against a provisioning engine on a durable store (bbolt, fsync on)
// and reports throughput, latency percentiles, CPU per activation, peak
// RSS, and the cryptographic floor measured on the same machine in the same
// run, so that a figure can be judged against what RSA-2048 alone allows.
//
// The server side and the simulator share one process. Their CPU is told
// apart by pprof labels: the harness's workers run under side=server, the
// simulator's WS-MAN server, host-interface calls and legacy listeners
// under side=sim; samples with no label (GC, runtime) are split in
// proportion. Report.CPUAttribution says so in every report.
//
// It must never run against real devices or a production store: it makes
// its own provisioning chain (throw-away keys, never written to disk), its
// own store in a temporary directory, and its own simulated devices, and it
// removes them when done.
package bench
