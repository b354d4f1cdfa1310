package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is what a run measured. Durations are in milliseconds, CPU in
// seconds, memory in MiB.
type Report struct {
	Mode             Mode    `json:"mode"`
	Path             Path    `json:"path"`
	Version          string  `json:"amt_version"`
	Devices          int     `json:"devices"`
	Concurrency      int     `json:"concurrency"`
	LatencyPerCallMS float64 `json:"latency_per_call_ms"`
	Store            string  `json:"store"`

	Activated            int      `json:"activated"`
	Failed               int      `json:"failed"`
	Failures             []string `json:"failures,omitempty"`
	ElapsedSeconds       float64  `json:"elapsed_seconds"`
	ActivationsPerSecond float64  `json:"activations_per_second"`
	Latency              Latency  `json:"latency_ms"`
	// LatencyMeasured says from when to when one latency runs.
	LatencyMeasured string `json:"latency_measured"`

	CPU CPU `json:"cpu"`
	// PeakRSSMiB is the peak RSS of this process: the server alone in
	// ModeStack, server and simulator in ModeEngine. FleetPeakRSSMiB is
	// the fleet child's (ModeStack).
	PeakRSSMiB      float64 `json:"peak_rss_mib"`
	FleetPeakRSSMiB float64 `json:"fleet_peak_rss_mib,omitempty"`

	Floor                     Floor   `json:"floor"`
	Ops                       Ops     `json:"ops_per_activation"`
	FloorActivationsPerSecond float64 `json:"floor_activations_per_second"` // 0: no floor (ccm)
	// RatioToFloor is ActivationsPerSecond over the floor (0 without one).
	RatioToFloor float64 `json:"ratio_to_floor"`
	// CryptoCPUPerActivationMS is the single-core CPU time of the RSA
	// operations of one activation, and CPURatioToFloor that over the
	// process CPU per activation: the ratio the run would reach with every
	// core its own. It is steadier than RatioToFloor on a machine shared
	// with other work, where the run gets only part of the cores.
	CryptoCPUPerActivationMS float64 `json:"crypto_cpu_per_activation_ms"`
	CPURatioToFloor          float64 `json:"cpu_ratio_to_floor"`

	Calls Calls `json:"calls_per_activation"`
	// RelayRoundTrips is Calls.RelayRoundTrips, at the top level: on a WAN
	// link between the RCS and its agents, an activation costs this many
	// round-trip times.
	RelayRoundTrips int `json:"relay_round_trips_per_activation"`
	// ServerCPUMSPerActivation is CPU.ServerPerActivationMS at the top
	// level; ServerRSAMSPerActivation the CPU of the server's own RSA
	// operations in one activation (Ops.ServerSigns and ServerVerifies at
	// Floor.SignCPUMS and VerifyCPUMS, measured in the same process before
	// the activations) and ServerRSAShare the one over the other: how
	// close the server's work comes to its physical floor.
	ServerCPUMSPerActivation float64 `json:"server_cpu_ms_per_activation"`
	ServerRSAMSPerActivation float64 `json:"server_rsa_ms_per_activation"`
	ServerRSAShare           float64 `json:"server_rsa_share"`
	// DelayedCalls is how many calls the simulated firmware delayed by the
	// whole latency during the run (0 without latency): the proof that the
	// latency was applied, counted, not timed.
	DelayedCalls int64 `json:"delayed_calls"`

	// The idle-agent run (Config.IdleAgents): the agents connected at
	// once, the server process's resident set while they were idle, the
	// time from the server's crash until every agent was back, and the
	// details. Failed counts the agents not back.
	IdleAgents       int         `json:"idle_agents,omitempty"`
	IdleServerRSSMiB float64     `json:"idle_server_rss_mib,omitempty"`
	ReconnectSeconds float64     `json:"reconnect_seconds,omitempty"`
	Idle             *IdleReport `json:"idle,omitempty"`

	profile []byte
}

// CPUProfile is the pprof CPU profile of the activations (gzipped
// protobuf, labelled by side), for go tool pprof.
func (r *Report) CPUProfile() []byte { return r.profile }

// Latency percentiles of the successful activations.
type Latency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// CPU is the process's CPU during the activations and the server's part.
// In ModeStack the process is the server and the fleet's CPU is the
// child's.
type CPU struct {
	ProcessSeconds float64 `json:"process_seconds"`
	ServerSeconds  float64 `json:"server_seconds"`
	FleetSeconds   float64 `json:"fleet_seconds,omitempty"`
	// ServerShare, SimShare and UnlabelledShare are the profile's split.
	ServerShare     float64 `json:"server_share"`
	SimShare        float64 `json:"sim_share"`
	UnlabelledShare float64 `json:"unlabelled_share"`
	// ServerPerActivationMS and ProcessPerActivationMS: CPU milliseconds
	// per activation.
	ServerPerActivationMS  float64 `json:"server_per_activation_ms"`
	ProcessPerActivationMS float64 `json:"process_per_activation_ms"`
	FleetPerActivationMS   float64 `json:"fleet_per_activation_ms,omitempty"`
	Attribution            string  `json:"attribution"`
}

// Calls per activation, counted on one calibration activation, and with a
// latency set the sum of their latencies against the measured mean.
type Calls struct {
	PTHI           int `json:"pthi"`
	WSMAN          int `json:"wsman"`
	Total          int `json:"total"`
	TLSConnections int `json:"tls_connections"`
	// RelayRoundTrips is what crossed the relay between the RCS and the
	// agent (0 on the legacy path, which has none): streams opened, PTHI
	// and manageability frames, WS-MAN requests with their digest
	// challenges. The agent's own reads for its report are not among
	// them; TLS handshakes add their own round trips inside the streams.
	RelayRoundTrips int `json:"relay_round_trips"`
	// LatencySumMS is Total times the latency per call; MeanOverSum the
	// mean activation time over it (0 without latency).
	LatencySumMS float64 `json:"latency_sum_ms"`
	MeanOverSum  float64 `json:"mean_over_sum"`
	P50OverSum   float64 `json:"p50_over_sum"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fill computes the figures of a run from its latencies, failures, wall
// time, this process's CPU and the TLS connections to port 16993.
func (r *Report) fill(cfg Config, tlsDials int64, lat []time.Duration, fails []error, elapsed, cpu time.Duration) {
	r.Activated, r.Failed = len(lat), len(fails)
	for i, err := range fails {
		if i == maxFailures {
			r.Failures = append(r.Failures, fmt.Sprintf("... and %d more", len(fails)-maxFailures))
			break
		}
		r.Failures = append(r.Failures, err.Error())
	}
	r.ElapsedSeconds = elapsed.Seconds()
	if elapsed > 0 {
		r.ActivationsPerSecond = float64(len(lat)) / elapsed.Seconds()
	}
	sortDurations(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	if len(lat) > 0 {
		r.Latency = Latency{P50: ms(percentile(lat, 50)), P95: ms(percentile(lat, 95)), P99: ms(percentile(lat, 99)),
			Max: ms(lat[len(lat)-1]), Mean: ms(sum / time.Duration(len(lat)))}
	}
	r.CPU.ProcessSeconds = cpu.Seconds()
	r.PeakRSSMiB = float64(peakRSS()) / (1 << 20)

	handshakes := float64(r.Calls.TLSConnections)
	if len(lat) > 0 {
		handshakes = float64(tlsDials) / float64(len(lat))
	}
	r.Ops = OpsFor(r.Path, handshakes)
	r.FloorActivationsPerSecond = r.Floor.Allows(r.Ops)
	r.CryptoCPUPerActivationMS = 1000 * r.Floor.CPUPerActivation(r.Ops).Seconds()
	if r.FloorActivationsPerSecond > 0 {
		r.RatioToFloor = r.ActivationsPerSecond / r.FloorActivationsPerSecond
	}
	if cfg.Latency > 0 && r.Calls.Total > 0 {
		r.Calls.LatencySumMS = float64(r.Calls.Total) * ms(cfg.Latency)
		r.Calls.MeanOverSum = r.Latency.Mean / r.Calls.LatencySumMS
		r.Calls.P50OverSum = r.Latency.P50 / r.Calls.LatencySumMS
	}
}

func (r *Report) attribute(s CPUSplit, cpu time.Duration) {
	r.CPU.Attribution = CPUAttribution
	total := s.Server + s.Sim + s.Unlabelled
	if total > 0 {
		r.CPU.ServerShare = float64(s.Server) / float64(total)
		r.CPU.SimShare = float64(s.Sim) / float64(total)
		r.CPU.UnlabelledShare = float64(s.Unlabelled) / float64(total)
	}
	r.CPU.ServerSeconds = cpu.Seconds() * s.ServerShare()
	if r.Activated > 0 && r.CPU.ProcessSeconds > 0 && r.CryptoCPUPerActivationMS > 0 {
		r.CPURatioToFloor = r.CryptoCPUPerActivationMS * float64(r.Activated) / (r.CPU.ProcessSeconds * 1000)
	}
	if r.Activated > 0 {
		r.CPU.ServerPerActivationMS = r.CPU.ServerSeconds * 1000 / float64(r.Activated)
		r.CPU.ProcessPerActivationMS = r.CPU.ProcessSeconds * 1000 / float64(r.Activated)
	}
	r.serverRSA()
}

// serverRSA fills the top-level figures of the server's CPU and its RSA
// share, once CPU.ServerPerActivationMS is known.
func (r *Report) serverRSA() {
	r.ServerCPUMSPerActivation = r.CPU.ServerPerActivationMS
	r.ServerRSAMSPerActivation = r.Floor.ServerCPUPerActivation(r.Ops)
	r.ServerRSAShare = 0
	if r.ServerCPUMSPerActivation > 0 {
		r.ServerRSAShare = r.ServerRSAMSPerActivation / r.ServerCPUMSPerActivation
	}
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	if r.Idle != nil {
		return r.writeIdle(w)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "amtrcs bench: %d devices, path %s, AMT %s, concurrency %d, latency %s per call, mode %s\n",
		r.Devices, r.Path, r.Version, r.Concurrency, time.Duration(r.LatencyPerCallMS*float64(time.Millisecond)), r.Mode)
	fmt.Fprintf(&b, "store: %s\n\n", r.Store)
	fmt.Fprintf(&b, "activated       %d of %d, %d failed, in %.2f s\n", r.Activated, r.Devices, r.Failed, r.ElapsedSeconds)
	fmt.Fprintf(&b, "throughput      %.2f activations/s\n", r.ActivationsPerSecond)
	fmt.Fprintf(&b, "latency         p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms (%s)\n", r.Latency.P50, r.Latency.P95, r.Latency.P99, r.Latency.Max, r.LatencyMeasured)
	if r.Mode == ModeStack {
		fmt.Fprintf(&b, "CPU             server %.2f s (%.2f ms/activation, getrusage of the server process); fleet and agents %.2f s (%.2f ms/activation, child process)\n",
			r.CPU.ServerSeconds, r.CPU.ServerPerActivationMS, r.CPU.FleetSeconds, r.CPU.FleetPerActivationMS)
		fmt.Fprintf(&b, "peak RSS        server %.0f MiB; fleet and agents %.0f MiB\n", r.PeakRSSMiB, r.FleetPeakRSSMiB)
		fmt.Fprintf(&b, "server RSA      %.2f ms of the server's %.2f ms CPU per activation = %.3f\n\n", r.ServerRSAMSPerActivation, r.ServerCPUMSPerActivation, r.ServerRSAShare)
	} else {
		fmt.Fprintf(&b, "CPU             process %.2f s (%.2f ms/activation); server %.2f s (%.2f ms/activation)\n",
			r.CPU.ProcessSeconds, r.CPU.ProcessPerActivationMS, r.CPU.ServerSeconds, r.CPU.ServerPerActivationMS)
		fmt.Fprintf(&b, "CPU split       server %.0f%%, simulator %.0f%%, unlabelled %.0f%% (%s)\n",
			100*r.CPU.ServerShare, 100*r.CPU.SimShare, 100*r.CPU.UnlabelledShare, "pprof labels")
		fmt.Fprintf(&b, "peak RSS        %.0f MiB (whole process: server and simulator)\n\n", r.PeakRSSMiB)
	}
	fmt.Fprintf(&b, "floor           RSA-2048 PKCS#1 v1.5 SHA-256: %.0f signs/s and %.0f verifies/s per core; %.0f and %.0f on %d cores\n",
		r.Floor.SignsPerCore, r.Floor.VerifiesPerCore, r.Floor.Signs, r.Floor.Verifies, r.Floor.Cores)
	s, v := r.Ops.Total()
	fmt.Fprintf(&b, "ops/activation  %.2f signatures, %.2f verifications (server %.2f+%.2f, simulator %.2f+%.2f), %.2f TLS handshakes\n",
		s, v, r.Ops.ServerSigns, r.Ops.ServerVerifies, r.Ops.SimSigns, r.Ops.SimVerifies, r.Ops.Handshakes)
	for _, c := range r.Ops.Counted {
		fmt.Fprintf(&b, "                  %s\n", c)
	}
	if r.FloorActivationsPerSecond > 0 {
		fmt.Fprintf(&b, "floor allows    %.2f activations/s; measured/floor = %.2f\n", r.FloorActivationsPerSecond, r.RatioToFloor)
		fmt.Fprintf(&b, "CPU ratio       RSA %.2f ms of %.2f ms CPU per activation (both sides) = %.2f\n", r.CryptoCPUPerActivationMS, r.CPU.ProcessPerActivationMS+r.CPU.FleetPerActivationMS, r.CPURatioToFloor)
	} else {
		fmt.Fprintf(&b, "floor allows    n/a (no RSA operation on this path)\n")
	}
	fmt.Fprintf(&b, "calls           %d per activation (%d host interface, %d WS-MAN), %d TLS connections\n",
		r.Calls.Total, r.Calls.PTHI, r.Calls.WSMAN, r.Calls.TLSConnections)
	if r.Path != PathLegacy {
		fmt.Fprintf(&b, "relay           %d round trips per activation between the RCS and the agent (streams, host-interface frames, WS-MAN requests)\n", r.RelayRoundTrips)
	}
	if r.Calls.LatencySumMS > 0 {
		fmt.Fprintf(&b, "latency budget  sum of call latencies %.0f ms; mean/sum = %.3f, p50/sum = %.3f; %d calls delayed by the firmware\n",
			r.Calls.LatencySumMS, r.Calls.MeanOverSum, r.Calls.P50OverSum, r.DelayedCalls)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "failure: %s\n", f)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeIdle writes an idle-agent run's report.
func (r *Report) writeIdle(w io.Writer) error {
	var b strings.Builder
	i := r.Idle
	fmt.Fprintf(&b, "amtrcs bench: %d idle agents, path %s, AMT %s, concurrency %d while they activate\n", r.IdleAgents, r.Path, r.Version, r.Concurrency)
	fmt.Fprintf(&b, "store: %s\n\n", r.Store)
	fmt.Fprintf(&b, "connected       %d of %d (%d failed) in %.1f s, each device activated on the way\n", r.Activated, r.IdleAgents, r.Failed, i.ConnectSeconds)
	fmt.Fprintf(&b, "server RSS      %.0f MiB while idle (anonymous %.0f MiB; %.0f MiB when it started; %.0f MiB at the end of the hold): %.1f KiB per agent (anonymous %.1f)\n",
		i.ServerRSSMiB, i.ServerRSSAnonMiB, i.ServerBaseRSSMiB, i.ServerRSSEndMiB, i.PerAgentKiB, i.PerAgentAnonKiB)
	fmt.Fprintf(&b, "server Go       heap in use %.0f MiB, stacks %.0f MiB, %d goroutines (%.2f per agent)\n", i.HeapInuseMiB, i.StackInuseMiB, i.Goroutines, i.GoroutinesPerAgent)
	if i.Maintenance {
		fmt.Fprintf(&b, "                maintenance schedules on: the fleet's first maintenance sweep ran meanwhile\n")
	}
	if i.ServerMemoryLimit != "" {
		fmt.Fprintf(&b, "                GOMEMLIMIT=%s in the server process\n", i.ServerMemoryLimit)
	}
	for _, x := range i.Restarts {
		fmt.Fprintf(&b, "restart         %s: %d back in %.1f s (server listening after %.1f s; per agent p50 %.1f s, p95 %.1f s); %d attempts refused, %d failed\n",
			x.Kind, x.Connected, x.Seconds, x.ServerStartSeconds, x.P50Seconds, x.P95Seconds, x.Refused, x.Failed)
		for _, e := range x.Errors {
			fmt.Fprintf(&b, "                  failed: %s\n", e)
		}
	}
	fmt.Fprintf(&b, "fleet           %.1f s CPU, peak RSS %.0f MiB (child process); load average %s\n", i.FleetCPUSeconds, i.FleetPeakRSSMiB, i.LoadAverage)
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "failure: %s\n", f)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
