package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// installFlags are what `agent install` and `agent uninstall` add to the
// agent's own flags.
type installFlags struct {
	name   string // service or unit name
	root   string // Linux: write under this directory and run nothing (tests, images)
	binary string // the amtrcs executable the service runs
}

const defaultServiceName = "amtrcs-agent"

// notCarried are flags the service's command line does not get: the token
// is written apart from it where the platform allows, --once would end the
// service after one job, a capture belongs to one session, --data-dir is
// always written, and the rest are install's own or the terminal's.
var notCarried = map[string]bool{
	"token": true, "once": true, "capture": true, "data-dir": true,
	"name": true, "root": true, "binary": true, "json": true, "config": true, "help": true,
}

// pathFlags hold file names, made absolute because a service starts in
// another directory.
var pathFlags = map[string]bool{"ca": true, "state": true, "data-dir": true}

// addAgentServiceCmds adds `agent install` and `agent uninstall` to the agent
// command; install takes the agent's own flags, so that the service runs
// with the ones given.
func addAgentServiceCmds(a *app, f *agentFlags, agentCmd *cobra.Command) {
	var inf installFlags
	install := &cobra.Command{
		Use:   "install",
		Short: "Register the agent as a service: a Windows service, or a systemd unit on Linux",
		Long: "Register the agent to start at boot with the agent flags given here (--server, --ca, ...).\n" +
			"On Windows it creates the service " + defaultServiceName + " (automatic start, LocalSystem,\n" +
			"restart on failure) and starts it. On Linux it writes /etc/systemd/system/" + defaultServiceName + ".service\n" +
			"(and /etc/amtrcs/" + defaultServiceName + ".env, mode 0600, for --token), then runs\n" +
			"`systemctl daemon-reload` and `systemctl enable --now`; with --root it writes under that\n" +
			"directory and prints the commands instead of running them.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := serviceSpecFor(a, f, &inf, cmd)
			if err != nil {
				return err
			}
			return installAgentService(a, spec)
		},
	}
	install.Flags().AddFlagSet(agentCmd.Flags())
	uninstall := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and remove the agent's service (Windows) or systemd unit (Linux); the state file stays",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return uninstallAgentService(a, &inf)
		},
	}
	for _, c := range []*cobra.Command{install, uninstall} {
		c.Flags().StringVar(&inf.name, "name", defaultServiceName, "service (Windows) or unit (Linux) name")
		c.Flags().StringVar(&inf.root, "root", "", "Linux: write the files under this directory and run no systemctl (for images and tests)")
	}
	install.Flags().StringVar(&inf.binary, "binary", "", "the amtrcs executable the service runs (default: this one)")
	agentCmd.AddCommand(install, uninstall)
}

// serviceSpec is what a service runs: the same on every platform.
type serviceSpec struct {
	name    string
	root    string
	binary  string
	dataDir string
	args    []string // after the binary: --data-dir DIR agent --flag=value...
	token   string
}

// serviceDataDir is where a service keeps its state when --data-dir is not
// given: the default ./amtrcs-data means nothing to a service.
func serviceDataDir() string {
	if d := os.Getenv("ProgramData"); d != "" && filepath.Separator == '\\' {
		return filepath.Join(d, "amtrcs")
	}
	return "/var/lib/amtrcs"
}

func serviceSpecFor(a *app, f *agentFlags, inf *installFlags, cmd *cobra.Command) (serviceSpec, error) {
	s := serviceSpec{name: inf.name, root: inf.root, binary: inf.binary, token: f.token}
	if s.name == "" || strings.ContainsAny(s.name, `/\ `) {
		return s, usageError(fmt.Errorf("--name %q: a service name is one word without slashes; want for example %s", s.name, defaultServiceName))
	}
	if !cmd.Flags().Changed("server") {
		return s, usageError(fmt.Errorf("agent install: --server not given: the service would report to %s (the default, this PC itself); want the URL of your RCS's agent gateway, e.g. --server https://rcs.corp.example.com:8444", f.server))
	}
	if s.binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return s, usageError(fmt.Errorf("agent install: find this executable: %w: give --binary /path/to/amtrcs", err))
		}
		s.binary = exe
	}
	var err error
	if s.binary, err = filepath.Abs(s.binary); err != nil {
		return s, usageError(err)
	}
	s.dataDir = serviceDataDir()
	if df := cmd.Flag("data-dir"); df != nil && df.Changed {
		if s.dataDir, err = filepath.Abs(a.dataDir); err != nil {
			return s, usageError(err)
		}
	}
	s.args = []string{"--data-dir", s.dataDir, "agent"}
	var bad error
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if notCarried[fl.Name] {
			return
		}
		v := fl.Value.String()
		if pathFlags[fl.Name] && v != "" {
			abs, err := filepath.Abs(v)
			if err != nil {
				bad = err
			}
			v = abs
		}
		s.args = append(s.args, "--"+fl.Name+"="+v)
	})
	if bad != nil {
		return s, usageError(bad)
	}
	return s, nil
}
