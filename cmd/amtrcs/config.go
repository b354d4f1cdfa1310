package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/store"
	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
)

func init() { register(newConfigCmd) }

// loadConfig loads --config, or the defaults when none is given, with the
// data directory of dataDirFor in DataDir. The
// diagnostics of a broken file go to stderr, file:line:col first, so the
// error only has to say where to look and how to check the fix.
func (a *app) loadConfig() (*config.Config, error) {
	cfg := config.Default()
	if a.configPath != "" {
		var diags hcl.Diagnostics
		var files map[string]*hcl.File
		cfg, diags, files = config.LoadFile(a.configPath, config.Environ())
		if diags.HasErrors() {
			_ = config.WriteDiagnostics(a.stderr, files, diags, 0, false)
			return nil, usageError(fmt.Errorf("configuration %s has errors (above); want a file that amtrcs config check %s passes; fix the lines it names", a.configPath, a.configPath))
		}
	}
	cfg.DataDir = a.dataDirFor(cfg)
	a.resolvedDataDir = cfg.DataDir
	return cfg, nil
}

// workDir is the data directory of a command that reads files from it
// but opens no store (the API clients: token and server certificate; the
// agent: its state and the server certificate): the one loadConfig
// resolves, without reading --config when none is given.
func (a *app) workDir() (string, error) {
	if a.configPath == "" {
		return a.dataDir, nil
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return "", err
	}
	return cfg.DataDir, nil
}

func newConfigCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with the HCL configuration",
	}
	cmd.AddCommand(newConfigCheckCmd(a))
	return cmd
}

// configCheckReport is the --json form of config check.
type configCheckReport struct {
	File        string              `json:"file"`
	Valid       bool                `json:"valid"`
	Errors      int                 `json:"errors"`
	Warnings    int                 `json:"warnings"`
	Diagnostics []config.Diagnostic `json:"diagnostics"`
	Summary     *configSummary      `json:"summary,omitempty"`
}

// configSummary is what a clean config amounts to. It names secret sources,
// never secrets.
type configSummary struct {
	DataDir   string `json:"data_dir"`
	KEK       string `json:"kek"`
	KEKKeyID  string `json:"kek_key_id,omitempty"` // the KMS key pair config check found
	CA        string `json:"ca"`
	Listeners struct {
		API          string `json:"api"`
		AgentGateway string `json:"agent_gateway"`
		Hello        string `json:"hello,omitempty"`
	} `json:"listeners"`
	Domains  []summaryDomain  `json:"domains"`
	Profiles []summaryProfile `json:"profiles"`
}

type summaryDomain struct {
	Name     string   `json:"name"`
	Suffixes []string `json:"suffixes"`
	Profile  string   `json:"profile"`
}

type summaryProfile struct {
	Name string `json:"name"`
	Mode string `json:"mode"`
}

func summarize(c *config.Config, kekKeyID string) *configSummary {
	s := &configSummary{DataDir: c.DataDir, CA: string(c.CA.Mode), KEKKeyID: kekKeyID}
	switch c.KEK.Source {
	case config.KEKFile:
		s.KEK = "file " + c.KEKPath()
	case config.KEKEnv:
		s.KEK = "env " + c.KEK.Env
	case config.KEKKMS:
		// The URI may carry a PIN; its type is enough to say where the key is.
		typ, _, _ := strings.Cut(c.KEK.KMS, ":")
		s.KEK = "kms " + typ
	}
	if c.CA.Mode == config.CAExternal {
		s.CA += " " + c.CA.URL
	}
	s.Listeners.API, s.Listeners.AgentGateway, s.Listeners.Hello = c.Server.API, c.Server.AgentGateway, c.Server.Hello
	s.Domains = []summaryDomain{}
	for _, d := range c.Domains {
		s.Domains = append(s.Domains, summaryDomain{Name: d.Name, Suffixes: d.Suffixes, Profile: d.Profile})
	}
	for _, p := range c.Profiles {
		s.Profiles = append(s.Profiles, summaryProfile{Name: p.Name, Mode: string(p.Mode)})
	}
	return s
}

func newConfigCheckCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "check [FILE]",
		Short: "Check a configuration file and summarise it",
		Long: "check loads FILE (default: the --config file) as amtrcs would, with env.NAME read from\n" +
			"the environment, and prints every problem with its file:line:col and source lines.\n" +
			"With kek.kms it also runs the check serve runs at start: it loads the PKCS#11 module,\n" +
			"logs in to the token and finds the key pair (a KEK file or variable is read by serve).\n" +
			"Exit status 0 when the file is usable (warnings allowed), 2 on any error.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := a.configPath
			if len(args) == 1 {
				path = args[0]
			}
			if path == "" {
				return usageError(errors.New("config check: no file given: want a FILE argument or --config FILE; fix: amtrcs config check /etc/amtrcs/amtrcs.hcl"))
			}
			cfg, diags, files := config.LoadFile(path, config.Environ())
			var keyID string
			if !diags.HasErrors() {
				var kd hcl.Diagnostics
				keyID, kd = checkKEK(cmd.Context(), cfg)
				diags = append(diags, kd...)
			}
			nerr, nwarn := count(diags)
			if a.json {
				r := configCheckReport{File: path, Valid: !diags.HasErrors(), Errors: nerr, Warnings: nwarn, Diagnostics: config.JSONDiagnostics(diags)}
				if cfg != nil {
					r.Summary = summarize(cfg, keyID)
				}
				if err := a.printJSON(r); err != nil {
					return err
				}
				if diags.HasErrors() {
					return usageError(nil)
				}
				return nil
			}
			if len(diags) > 0 {
				if err := config.WriteDiagnostics(a.stdout, files, diags, 0, false); err != nil {
					return err
				}
			}
			if diags.HasErrors() {
				return usageError(fmt.Errorf("%s: %d error(s), %d warning(s): fix the errors above and run config check again", path, nerr, nwarn))
			}
			printSummary(a, path, nwarn, summarize(cfg, keyID))
			return nil
		},
	}
}

// checkKEK runs on the configured KEK the check that every command opening
// the store runs first (store.CheckKEK on kekSource): with kek.kms it loads
// the module, logs in to the token and finds the key pair. A refusal becomes
// an error at the kek line; a pair found gives its key id.
func checkKEK(ctx context.Context, cfg *config.Config) (keyID string, diags hcl.Diagnostics) {
	keyID, err := store.CheckKEK(ctx, kekSource(cfg))
	if err == nil {
		return keyID, nil
	}
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "KEK unavailable", Detail: err.Error()}
	if r, ok := amt.AsRefusal(err); ok {
		d.Summary = "KEK unavailable: " + r.Rule
	}
	if cfg.KEK.Range.Filename != "" {
		rng := cfg.KEK.Range
		d.Subject = &rng
	}
	return "", hcl.Diagnostics{d}
}

func count(diags hcl.Diagnostics) (errs, warns int) {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs++
		} else {
			warns++
		}
	}
	return errs, warns
}

func printSummary(a *app, path string, warnings int, s *configSummary) {
	w := a.stdout
	fmt.Fprintf(w, "%s: ok", path)
	if warnings > 0 {
		fmt.Fprintf(w, " (%d warning(s) above)", warnings)
	}
	fmt.Fprintln(w)
	hello := s.Listeners.Hello
	if hello == "" {
		hello = "off"
	}
	fmt.Fprintf(w, "  listeners: api %s, agent gateway %s, hello %s\n", s.Listeners.API, s.Listeners.AgentGateway, hello)
	kek := s.KEK
	if s.KEKKeyID != "" {
		kek += " (token reached, key pair " + s.KEKKeyID + ")"
	}
	fmt.Fprintf(w, "  data dir:  %s; kek: %s; ca: %s\n", s.DataDir, kek, s.CA)
	fmt.Fprintf(w, "  domains (%d):\n", len(s.Domains))
	for _, d := range s.Domains {
		fmt.Fprintf(w, "    %s: %s -> profile %s\n", d.Name, strings.Join(d.Suffixes, ", "), d.Profile)
	}
	fmt.Fprintf(w, "  profiles (%d):", len(s.Profiles))
	for i, p := range s.Profiles {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(w, "%s %s (%s)", sep, p.Name, p.Mode)
	}
	fmt.Fprintln(w)
}
