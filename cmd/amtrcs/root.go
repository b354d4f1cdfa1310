package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// Exit statuses shared by every command.
const (
	exitOK      = 0
	exitVerdict = 1 // a check ran and its verdict is negative
	exitUsage   = 2 // bad flags, unreadable input, broken config
)

// app holds what every command shares: the global flags and the output
// streams. Commands take it explicitly so tests can run them in-process.
type app struct {
	dataDir    string
	configPath string
	// dataDirSet: --data-dir was given on the command line, so it wins
	// over the config's data_dir.
	dataDirSet bool
	// resolvedDataDir is the data directory loadConfig settled on.
	resolvedDataDir string
	json            bool
	logFormat       string

	stdout io.Writer
	stderr io.Writer
}

// commands lists the constructors of the top-level commands. Each command
// file adds its own in an init function, so that command files do not edit a
// shared list.
var commands []func(*app) *cobra.Command

func register(f func(*app) *cobra.Command) { commands = append(commands, f) }

// exitError carries the exit status a command wants. A command whose check
// fails returns verdictError so that main exits 1 after the report is printed.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// verdictError ends a command with status 1. A nil err means the report has
// already said everything and nothing more is printed.
func verdictError(err error) error { return &exitError{code: exitVerdict, err: err} }

// usageError ends a command with status 2: bad flags or unreadable input.
func usageError(err error) error { return &exitError{code: exitUsage, err: err} }

func defaultDataDir() string {
	if d := os.Getenv("AMTRCS_DATA_DIR"); d != "" {
		return d
	}
	return "./amtrcs-data"
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "amtrcs",
		Short:         "Remote configuration server for Intel AMT",
		Long:          "amtrcs plans and prepares the AMT provisioning certificate, validates domain suffixes,\nand activates and maintains Intel AMT devices in Admin Control Mode.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.dataDir, "data-dir", defaultDataDir(), "data directory (store, KEK, CA); default $AMTRCS_DATA_DIR, else ./amtrcs-data")
	pf.StringVar(&a.configPath, "config", "", "HCL configuration file")
	pf.BoolVar(&a.json, "json", false, "print reports as JSON")
	pf.StringVar(&a.logFormat, "log-format", logText, "log format of serve and agent: text or json (one object a line)")
	// An unknown log format is refused before any command starts work.
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		a.dataDirSet = cmd.Flags().Changed("data-dir")
		_, err := a.newLogger(slog.LevelInfo)
		return err
	}
	root.SetFlagErrorFunc(flagError)
	for _, f := range commands {
		root.AddCommand(f(a))
	}
	applyUsageRules(root)
	return root
}

// run executes the command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "amtrcs:", ee.err)
		}
		return ee.code
	}
	// Errors cobra produces itself (unknown command, bad args) are usage errors.
	fmt.Fprintln(stderr, "amtrcs:", err)
	return exitUsage
}

// printJSON writes v as indented JSON: the --json form of every report.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
