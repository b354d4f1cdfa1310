package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/spf13/cobra"
)

func init() { register(newSimCmd) }

// simDevice is one line of the sim report: how to reach a device.
type simDevice struct {
	UUID          string `json:"uuid"`
	Version       string `json:"version"`
	HostPort      string `json:"host_port"`
	LegacyAddress string `json:"legacy_address,omitempty"`
	State         string `json:"state"`
	Mode          string `json:"mode"`
}

type simReport struct {
	HostPort     string      `json:"host_port"`
	Status       string      `json:"status_url"`
	IdentityRoot string      `json:"identity_root_pem,omitempty"`
	StateFile    string      `json:"state_file,omitempty"`
	Loaded       bool        `json:"loaded"`
	Devices      []simDevice `json:"devices"`
}

type simFlags struct {
	devices                           int
	version, suffix, mebxSuffix, prec string
	trust                             []string
	hello                             string
	helloInterval, latency, duration  time.Duration
	state, listen, hostPort, rootOut  string
	flashLimit                        int
	hostReplies, localTLS             string
	amtDisabled                       bool
	replay                            []string
}

func newSimCmd(a *app) *cobra.Command {
	var f simFlags
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a fleet of simulated AMT devices",
		Long: "Run virtual Intel AMT devices that enforce the firmware's provisioning rules, for demos,\n" +
			"CI and benchmarks. Each device is reached through the host port (one loopback TCP port for\n" +
			"the whole fleet: a client writes \"AMTSIM/1 <uuid> pthi|mng|lms:16992|lms:16993\" and then\n" +
			"speaks PTHI frames or the firmware port's bytes), and devices in legacy network setup\n" +
			"(--hello) listen on port 16993 of their own loopback address and send hellos.\n" +
			"A status endpoint (--listen) answers GET /status with each device's state, mode and last\n" +
			"error, and GET /identity-root.pem with the root the devices' TLS setup certificates chain to.\n" +
			"With --state the fleet is loaded from the file when it exists and saved to it on exit;\n" +
			"that file holds the simulator's own test secrets (mode 0600).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSim(cmd, a, &f) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.devices, "devices", 1, "number of devices")
	fl.StringVar(&f.version, "amt-version", "16.1.27", "AMT firmware version of every device, for example 11.8.70, 12, 16.1.27 or 19.0.5")
	fl.StringVar(&f.suffix, "suffix", "", "DHCP option 15 DNS suffix of the devices, for example corp.example.com")
	fl.StringVar(&f.mebxSuffix, "mebx-suffix", "", "MEBx PKI DNS suffix of the devices")
	fl.StringVar(&f.prec, "suffix-precedence", "mebx", "which suffix wins when both are set: mebx or dhcp (UNVERIFIED on real firmware)")
	fl.StringArrayVar(&f.trust, "trust-hash", nil, "custom trusted root hash in hex (SHA-256, SHA-384 or SHA-1 by length); repeat for up to 3")
	fl.StringVar(&f.hello, "hello", "", "put every device in legacy network setup, sending hellos to this host:port (TCP 9971 on a real network)")
	fl.DurationVar(&f.helloInterval, "hello-interval", amtsim.DefaultHelloInterval, "time between hellos (retries 0 to 14)")
	fl.DurationVar(&f.latency, "latency", 0, "firmware delay added to every WS-MAN and PTHI call, for example 200ms")
	fl.StringVar(&f.localTLS, "local-tls", "version", "WS-MAN on the local ports: enforced (16992 closed, 16993 only; ME 16.1+), open, or version (enforced from AMT 19 on)")
	fl.BoolVar(&f.amtDisabled, "amt-disabled", false, "start every device with AMT's operational state off (ME 16.1+), as some PCs ship; activation turns it on")
	fl.StringVar(&f.hostReplies, "host-replies", "exact", "shape of host-interface replies: exact, or padded (bytes after the fields, Unprovision with the status alone, as some firmware sends)")
	fl.IntVar(&f.flashLimit, "flash-write-limit", 0, "persistent writes a device takes before answering 6 / 38 (0: no limit)")
	fl.StringVar(&f.state, "state", "", "load the fleet from this file when it exists, and save it there on exit")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:16989", "loopback address of the status endpoint")
	fl.StringVar(&f.hostPort, "host-port", "127.0.0.1:16990", "loopback address of the host port")
	fl.StringVar(&f.rootOut, "identity-root", "", "also write the device-identity root certificate (PEM) to this file, for the RCS to trust")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (0: run until interrupted)")
	fl.StringArrayVar(&f.replay, "replay", nil, "serve the device recorded in this capture (`amtrcs agent --capture`) through the host port instead of a simulated fleet; repeat for several")
	return cmd
}

func loopbackAddr(flag, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--%s %q: %w; want a loopback host:port such as 127.0.0.1:16989", flag, addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--%s %q: the simulator listens on loopback only; want 127.0.0.1:PORT", flag, addr)
	}
	return nil
}

func (f *simFlags) fleetConfig() (amtsim.FleetConfig, error) {
	var cfg amtsim.FleetConfig
	v, _, err := amt.ParseProfileVersion(f.version)
	if err != nil {
		return cfg, fmt.Errorf("--amt-version: %w", err)
	}
	if f.devices < 1 || f.devices > amtsim.MaxFleet {
		return cfg, fmt.Errorf("--devices %d: want 1 to %d", f.devices, amtsim.MaxFleet)
	}
	prec, err := amtsim.ParseSuffixPrecedence(f.prec)
	if err != nil {
		return cfg, fmt.Errorf("--suffix-precedence: %w", err)
	}
	if len(f.trust) > amt.MaxCustomHashes {
		return cfg, fmt.Errorf("--trust-hash given %d times; want at most %d, as MEBx holds at most %d custom hashes; fix: trust only the roots of the provisioning chains you test", len(f.trust), amt.MaxCustomHashes, amt.MaxCustomHashes)
	}
	var hashes [][]byte
	for _, h := range f.trust {
		raw, err := hex.DecodeString(strings.NewReplacer(":", "", " ", "").Replace(h))
		if err != nil {
			return cfg, fmt.Errorf("--trust-hash %q: not hex; want the root certificate's SHA-256 as 64 hex digits", h)
		}
		if _, err := amt.HashAlgorithmBySize(len(raw)); err != nil {
			return cfg, fmt.Errorf("--trust-hash %q: %w", h, err)
		}
		hashes = append(hashes, raw)
	}
	if f.hello != "" {
		if _, _, err := net.SplitHostPort(f.hello); err != nil {
			return cfg, fmt.Errorf("--hello %q: %w; want host:port of the RCS hello listener", f.hello, err)
		}
	}
	switch {
	case f.latency < 0:
		return cfg, fmt.Errorf("--latency %v: want 0 or more", f.latency)
	case f.flashLimit < 0:
		return cfg, fmt.Errorf("--flash-write-limit %d: want 0 (no limit) or more", f.flashLimit)
	case f.helloInterval <= 0:
		return cfg, fmt.Errorf("--hello-interval %v: want a positive duration such as 10s", f.helloInterval)
	}
	replies, err := amtsim.ParseHostReplies(f.hostReplies)
	if err != nil {
		return cfg, fmt.Errorf("--host-replies: %w", err)
	}
	local, err := amtsim.ParseLocalTLS(f.localTLS)
	if err != nil {
		return cfg, fmt.Errorf("--local-tls: %w", err)
	}
	return amtsim.FleetConfig{
		HostReplies: replies, LocalTLS: local, AMTDisabled: f.amtDisabled,
		Devices: f.devices, Version: v, DHCPSuffix: f.suffix, MEBxSuffix: f.mebxSuffix, SuffixPrecedence: prec,
		TrustHashes: hashes, HelloServer: f.hello, HelloInterval: f.helloInterval, Latency: f.latency, FlashWriteLimit: f.flashLimit,
	}, nil
}

func runSim(cmd *cobra.Command, a *app, f *simFlags) error {
	if err := loopbackAddr("listen", f.listen); err != nil {
		return usageError(err)
	}
	if err := loopbackAddr("host-port", f.hostPort); err != nil {
		return usageError(err)
	}
	if len(f.replay) > 0 {
		return runReplay(cmd, a, f)
	}
	cfg, err := f.fleetConfig()
	if err != nil {
		return usageError(err)
	}
	var fleet *amtsim.Fleet
	loaded := false
	if f.state != "" {
		if _, err := os.Stat(f.state); err == nil {
			if fleet, err = amtsim.LoadFleet(f.state, nil); err != nil {
				return usageError(fmt.Errorf("--state: %w", err))
			}
			loaded = true
			for _, name := range []string{"devices", "amt-version", "suffix", "mebx-suffix", "trust-hash", "hello", "latency"} {
				if cmd.Flags().Changed(name) {
					fmt.Fprintf(a.stderr, "amtrcs sim: --%s ignored: the fleet comes from %s\n", name, f.state)
				}
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return usageError(fmt.Errorf("--state: %w", err))
		}
	}
	if fleet == nil {
		if fleet, err = amtsim.NewFleet(cfg); err != nil {
			return usageError(err)
		}
		if err := fleet.StartHello(); err != nil {
			fleet.Close()
			return verdictError(fmt.Errorf("legacy network setup: %w", err))
		}
	}
	defer fleet.Close()
	hp, err := fleet.ListenHostPort(f.hostPort)
	if err != nil {
		return usageError(err)
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return usageError(fmt.Errorf("--listen: %w", err))
	}
	rootPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fleet.Identity().Cert.Raw})
	if f.rootOut != "" {
		if err := os.WriteFile(f.rootOut, rootPEM, 0o644); err != nil {
			ln.Close()
			return usageError(fmt.Errorf("--identity-root: %w", err))
		}
	}
	srv := &http.Server{Handler: simStatusHandler(fleet, rootPEM), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	rep := simReport{HostPort: hp.Addr().String(), Status: "http://" + ln.Addr().String() + "/status", StateFile: f.state, Loaded: loaded, Devices: []simDevice{}}
	if f.rootOut != "" {
		rep.IdentityRoot = f.rootOut
	}
	for _, d := range fleet.Devices() {
		s := d.Status()
		rep.Devices = append(rep.Devices, simDevice{UUID: s.UUID.String(), Version: s.Version, HostPort: rep.HostPort, LegacyAddress: s.HelloAddress, State: s.State, Mode: s.Mode})
	}
	if a.json {
		if err := a.printJSON(rep); err != nil {
			return err
		}
	} else {
		printSim(a, rep)
	}

	waitSim(cmd, f.duration)
	if f.state != "" {
		if err := fleet.Save(f.state); err != nil {
			return verdictError(fmt.Errorf("save fleet: %w", err))
		}
		fmt.Fprintf(a.stderr, "amtrcs sim: fleet saved to %s\n", f.state)
	}
	return nil
}

// waitSim returns on Ctrl-C, SIGTERM or after d (0: no limit).
func waitSim(cmd *cobra.Command, d time.Duration) {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	<-ctx.Done()
}

// replayReport is what `amtrcs sim --replay` serves.
type replayReport struct {
	HostPort string         `json:"host_port"`
	Devices  []replayDevice `json:"devices"`
}

type replayDevice struct {
	UUID     string    `json:"uuid"`
	Capture  string    `json:"capture"`
	Backend  string    `json:"captured_from"`
	Captured time.Time `json:"captured_at"`
	Notes    []string  `json:"notes"`
}

// runReplay serves captured devices through the host port, where agents
// reach them as they reach simulated ones.
func runReplay(cmd *cobra.Command, a *app, f *simFlags) error {
	for _, name := range []string{"devices", "amt-version", "suffix", "mebx-suffix", "trust-hash", "hello", "latency", "state", "host-replies", "local-tls", "amt-disabled", "flash-write-limit"} {
		if cmd.Flags().Changed(name) {
			return usageError(fmt.Errorf("--%s with --replay: a replayed device answers as captured, so it takes no simulator setting; drop --%s", name, name))
		}
	}
	var rs []*amtsim.Replay
	rep := replayReport{}
	for _, path := range f.replay {
		r, err := amtsim.LoadReplay(path)
		if err != nil {
			return usageError(fmt.Errorf("--replay: %w", err))
		}
		rs = append(rs, r)
		h := r.Header()
		rep.Devices = append(rep.Devices, replayDevice{UUID: r.ID().String(), Capture: path, Backend: h.Backend, Captured: h.Time, Notes: r.Notes()})
	}
	fleet, err := amtsim.NewReplayFleet(rs...)
	if err != nil {
		return usageError(fmt.Errorf("--replay: %w", err))
	}
	defer fleet.Close()
	hp, err := fleet.ListenHostPort(f.hostPort)
	if err != nil {
		return usageError(err)
	}
	rep.HostPort = hp.Addr().String()
	if a.json {
		if err := a.printJSON(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "%s replayed\n", plural(len(rep.Devices), "AMT device", "AMT devices"))
		fmt.Fprintf(a.stdout, "host port  %s  (write \"AMTSIM/1 <uuid> pthi|mng|lms:16992\\n\")\n\n", rep.HostPort)
		for _, d := range rep.Devices {
			fmt.Fprintf(a.stdout, "%s  from %s (%s, captured %s)\n", d.UUID, d.Capture, d.Backend, d.Captured.Format(time.RFC3339))
			for _, n := range d.Notes {
				fmt.Fprintf(a.stdout, "  %s\n", n)
			}
		}
	}
	waitSim(cmd, f.duration)
	return nil
}

func printSim(a *app, rep simReport) {
	origin := "created"
	if rep.Loaded {
		origin = "loaded from " + rep.StateFile
	}
	fmt.Fprintf(a.stdout, "%s (%s)\n", plural(len(rep.Devices), "simulated AMT device", "simulated AMT devices"), origin)
	fmt.Fprintf(a.stdout, "host port  %s  (write \"AMTSIM/1 <uuid> pthi|mng|lms:16992|lms:16993\\n\")\n", rep.HostPort)
	fmt.Fprintf(a.stdout, "status     %s\n", rep.Status)
	if rep.IdentityRoot != "" {
		fmt.Fprintf(a.stdout, "identity root written to %s\n", rep.IdentityRoot)
	}
	fmt.Fprintln(a.stdout)
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "UUID\tAMT\tSTATE\tMODE\tHOST PORT\tLEGACY ADDRESS")
	for _, d := range rep.Devices {
		legacy := d.LegacyAddress
		if legacy == "" {
			legacy = "-"
		} else {
			legacy += ":16993"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.UUID, d.Version, d.State, d.Mode, d.HostPort, legacy)
	}
	tw.Flush()
}

// simStatusHandler serves GET /status (JSON of every device) and GET
// /identity-root.pem. It shows states and last errors, never a secret.
func simStatusHandler(fleet *amtsim.Fleet, rootPEM []byte) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			Devices []amtsim.Status `json:"devices"`
		}{fleet.Statuses()})
	})
	mux.HandleFunc("GET /identity-root.pem", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(rootPEM)
	})
	return mux
}

// plural counts n things with the singular or plural noun.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
