package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/agent/capture"
	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
)

func init() { register(newAgentCmd) }

type agentFlags struct {
	server, token, profile, ca string
	insecure                   bool
	backend, sim, device       string
	meiDevice, capture         string
	state                      string
	hostname, fqdn             string
	once, debug                bool
	noLMS                      bool
}

func newAgentCmd(a *app) *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the PC-side agent: report the host interface to the RCS and relay its streams",
		Long: "Run the agent on an AMT PC (or against a simulated device). It enrolls once with a one-time\n" +
			"token (POST /api/v1/agents/tokens on the RCS), keeps the credential it gets in its state\n" +
			"file (mode 0600), reports what the host interface reads, relays the PTHI and LMS streams\n" +
			"the RCS opens, prints the progress the RCS sends, and reconnects with back-off.\n" +
			"It holds no device password and no provisioning key.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runAgentService(ctx, a, &f)
		},
	}
	// The backend flags are shared with `agent info`.
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.backend, "backend", "mei", "host interface: mei (/dev/mei0 and LMS on this PC) or sim (a simulator's host port)")
	pf.StringVar(&f.meiDevice, "mei-device", "/dev/mei0", "MEI character device (backend mei)")
	pf.StringVar(&f.sim, "sim", "", "simulator host port host:port (backend sim)")
	pf.StringVar(&f.device, "device", "", "simulated device UUID (backend sim)")
	pf.BoolVar(&f.noLMS, "no-lms", false, "play a PC without LMS: reach the firmware ports with APF over the device's LME client (backend sim; backend mei does this by itself when LMS refuses)")
	pf.StringVar(&f.capture, "capture", "", "record every exchange with the firmware to this file (JSON lines, mode 0600, secrets blanked)")
	cmd.AddCommand(newAgentInfoCmd(a, &f))
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "https://127.0.0.1:8444", "RCS agent gateway (or API) base URL; several servers sharing one store: comma-separated, tried in turn when a connection fails")
	fl.StringVar(&f.token, "token", "", "one-time enrollment token (needed until the state file holds a credential)")
	fl.StringVar(&f.profile, "profile", "", "profile to ask for (default: the RCS picks by domain)")
	fl.StringVar(&f.ca, "ca", "", "PEM file of the RCS certificate or its CA (default: <data-dir>/rcs-server.crt when present, plus the system roots)")
	fl.BoolVar(&f.insecure, "insecure-skip-verify", false, "do not verify the RCS certificate (only for a first try against the self-signed default)")
	fl.StringVar(&f.state, "state", "", "state file for the agent credential (default <data-dir>/agent-state.json, or agent-<uuid>.json with --backend sim)")
	fl.StringVar(&f.hostname, "hostname", "", "host name to report (default the OS's)")
	fl.StringVar(&f.fqdn, "fqdn", "", "FQDN to report (default the host name when it has a dot)")
	fl.BoolVar(&f.once, "once", false, "exit after the first job ends (exit 1 when it failed)")
	fl.BoolVar(&f.debug, "debug", false, "log relay details")
	addAgentServiceCmds(a, &f, cmd)
	return cmd
}

// openBackend is the backend the flags name, recording to the capture file
// when one is given, and the default state file for it; done closes the
// capture.
func (f *agentFlags) openBackend(a *app) (backend agent.Backend, state string, done func() error, err error) {
	state = f.state
	dataDir, err := a.workDir()
	if err != nil {
		return nil, "", nil, err
	}
	switch f.backend {
	case "mei":
		if f.noLMS {
			return nil, "", nil, usageError(fmt.Errorf("--no-lms is for --backend sim: backend mei uses LMS on localhost when it answers and APF over the MEI LME client when it refuses"))
		}
		backend = &agent.MEI{Device: f.meiDevice}
		if state == "" {
			state = filepath.Join(dataDir, "agent-state.json")
		}
	case "sim":
		if f.sim == "" || f.device == "" {
			return nil, "", nil, usageError(fmt.Errorf("--backend sim needs --sim HOST:PORT (the simulator's host port) and --device UUID"))
		}
		u, err := amt.ParseUUID(f.device)
		if err != nil {
			return nil, "", nil, usageError(err)
		}
		backend = &agent.SimHostPort{Addr: f.sim, Device: u.String(), NoLMS: f.noLMS}
		if state == "" {
			state = filepath.Join(dataDir, "agent-"+u.String()+".json")
		}
	default:
		return nil, "", nil, usageError(fmt.Errorf("--backend %q: want mei or sim", f.backend))
	}
	if f.capture == "" {
		return backend, state, func() error { return nil }, nil
	}
	file, err := os.OpenFile(f.capture, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		// A file that existed keeps its mode through O_TRUNC.
		err = file.Chmod(0o600)
	}
	if err != nil {
		return nil, "", nil, usageError(fmt.Errorf("--capture: %w", err))
	}
	c, err := agent.Capture(backend, file, capture.Header{Version: version, Time: time.Now().UTC()})
	if err != nil {
		file.Close()
		return nil, "", nil, usageError(fmt.Errorf("--capture: %w", err))
	}
	done = func() error {
		werr := c.Wait()
		if cerr := file.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return verdictError(fmt.Errorf("--capture %s: %w", f.capture, werr))
		}
		fmt.Fprintf(a.stderr, "capture written to %s (secrets blanked)\n", f.capture)
		return nil
	}
	return c, state, done, nil
}

func runAgent(ctx context.Context, a *app, f *agentFlags) (err error) {
	backend, state, done, err := f.openBackend(a)
	if err != nil {
		return err
	}
	defer func() {
		if derr := done(); err == nil {
			err = derr
		}
	}()
	dataDir, err := a.workDir()
	if err != nil {
		return err
	}
	tlsCfg, err := tlsConfigFor(dataDir, f.ca, f.insecure)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if f.debug {
		level = slog.LevelDebug
	}
	log, err := a.newLogger(level)
	if err != nil {
		return err
	}
	ag, err := agent.New(agent.Options{
		Server: f.server, EnrollToken: f.token, StateFile: state, Profile: f.profile,
		Hostname: f.hostname, FQDN: f.fqdn, Backend: backend, TLS: tlsCfg, Once: f.once,
		Logger: log,
		Events: func(ev wire.Event) { printEvent(a, ev) },
	})
	if err != nil {
		return usageError(err)
	}
	fmt.Fprintf(a.stderr, "agent: %s, reporting to %s (state %s)\n", backend.Name(), f.server, state)
	err = ag.Run(ctx)
	var refused *agent.RefusalError
	var failed *agent.JobError
	switch {
	case err == nil, ctx.Err() != nil:
		return nil
	case errors.As(err, &refused):
		// The event printed above carried the rule and the fix: once.
		return verdictError(errors.New("agent stopped: the RCS refused this device (reason and fix above)"))
	case errors.As(err, &failed):
		return verdictError(errors.New("the job failed (reason and fix above)"))
	default:
		return verdictError(err)
	}
}

func printEvent(a *app, ev wire.Event) {
	if a.json {
		_ = a.printJSON(ev)
		return
	}
	t := ev.Time
	if t.IsZero() {
		t = time.Now()
	}
	line := ev.Message
	if ev.Step != "" && line == "" {
		line = "step " + ev.Step
	}
	if ev.Kind == wire.EventFailed {
		line = "FAILED: " + ev.Error
		if ev.Fix != "" {
			line += "; fix: " + ev.Fix
		}
	}
	fmt.Fprintf(a.stdout, "%s %-8s %s\n", t.Local().Format("15:04:05.000"), ev.Kind, line)
}
