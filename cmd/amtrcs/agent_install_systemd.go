package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// tokenEnv is the variable the unit's environment file gives the one-time
// token in, so that it is readable by root only and not in the unit.
const tokenEnv = "AMTRCS_AGENT_TOKEN"

func systemdUnitPath(name string) string { return "/etc/systemd/system/" + name + ".service" }
func systemdEnvPath(name string) string  { return "/etc/amtrcs/" + name + ".env" }

// systemdUnit renders the unit file of spec.
func systemdUnit(s serviceSpec) string {
	words := []string{systemdQuote(s.binary)}
	for _, a := range s.args {
		words = append(words, systemdQuote(a))
	}
	var b strings.Builder
	b.WriteString("# Written by `amtrcs agent install`; remove it with `amtrcs agent uninstall`.\n")
	b.WriteString("[Unit]\n")
	b.WriteString("Description=amtrcs agent: reports this PC's Intel AMT host interface to the RCS and relays its streams\n")
	b.WriteString("Wants=network-online.target\n")
	// LMS, when installed, serves the firmware ports the agent dials.
	b.WriteString("After=network-online.target lms.service\n\n")
	b.WriteString("[Service]\n")
	b.WriteString("Type=simple\n")
	if s.token != "" {
		b.WriteString("EnvironmentFile=-" + systemdEnvPath(s.name) + "\n")
		// One word: an empty variable once the file is gone gives --token=.
		words = append(words, "--token=${"+tokenEnv+"}")
	}
	b.WriteString("ExecStart=" + strings.Join(words, " ") + "\n")
	// Lost connections are retried inside the agent; an exit is a failure
	// that may need a fix (a driver, a certificate), so wait before the next
	// try, and never retry bad flags (exit 2).
	b.WriteString("Restart=on-failure\n")
	b.WriteString("RestartSec=60\n")
	b.WriteString("RestartPreventExitStatus=2\n\n")
	b.WriteString("[Install]\n")
	b.WriteString("WantedBy=multi-user.target\n")
	return b.String()
}

// systemdQuote writes one ExecStart word: % and $ doubled so that systemd
// takes them literally, and quoted when it holds a space, a quote or a
// backslash.
func systemdQuote(w string) string {
	w = strings.ReplaceAll(w, "%", "%%")
	w = strings.ReplaceAll(w, "$", "$$")
	if w != "" && !strings.ContainsAny(w, " \t\"'\\;") {
		return w
	}
	w = strings.ReplaceAll(w, `\`, `\\`)
	w = strings.ReplaceAll(w, `"`, `\"`)
	return `"` + w + `"`
}

// installSystemd writes the unit (and the token's environment file), then
// enables and starts it, or with --root prints the commands to run.
func installSystemd(a *app, s serviceSpec) error {
	unit := filepath.Join(s.root, systemdUnitPath(s.name))
	if err := os.MkdirAll(filepath.Dir(unit), 0o755); err != nil {
		return usageError(fmt.Errorf("agent install: %w: run as root (sudo), or give --root DIR", err))
	}
	if err := os.WriteFile(unit, []byte(systemdUnit(s)), 0o644); err != nil {
		return usageError(fmt.Errorf("agent install: %w: run as root (sudo), or give --root DIR", err))
	}
	fmt.Fprintf(a.stdout, "wrote %s\n", unit)
	if s.token != "" {
		env := filepath.Join(s.root, systemdEnvPath(s.name))
		if err := os.MkdirAll(filepath.Dir(env), 0o755); err != nil {
			return usageError(fmt.Errorf("agent install: %w", err))
		}
		if err := os.WriteFile(env, []byte(tokenEnv+"="+s.token+"\n"), 0o600); err != nil {
			return usageError(fmt.Errorf("agent install: %w", err))
		}
		// A file that existed keeps its mode through WriteFile.
		if err := os.Chmod(env, 0o600); err != nil {
			return usageError(fmt.Errorf("agent install: %w", err))
		}
		fmt.Fprintf(a.stdout, "wrote %s (mode 0600: the one-time enrollment token)\n", env)
	}
	data := filepath.Join(s.root, s.dataDir)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return usageError(fmt.Errorf("agent install: data directory: %w", err))
	}
	return systemctl(a, s.root, []string{"daemon-reload"}, []string{"enable", "--now", s.name + ".service"})
}

func uninstallSystemd(a *app, inf *installFlags) error {
	unit := filepath.Join(inf.root, systemdUnitPath(inf.name))
	if _, err := os.Stat(unit); errors.Is(err, fs.ErrNotExist) {
		return usageError(fmt.Errorf("agent uninstall: %s does not exist: nothing is installed under the name %q; give --name as at install", unit, inf.name))
	}
	if err := systemctl(a, inf.root, []string{"disable", "--now", inf.name + ".service"}); err != nil {
		return err
	}
	for _, p := range []string{unit, filepath.Join(inf.root, systemdEnvPath(inf.name))} {
		err := os.Remove(p)
		if err == nil {
			fmt.Fprintf(a.stdout, "removed %s\n", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return usageError(fmt.Errorf("agent uninstall: %w: run as root (sudo)", err))
		}
	}
	if err := systemctl(a, inf.root, []string{"daemon-reload"}); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "the data directory and the agent's state file stay; `amtrcs agents revoke` on the RCS retires the credential")
	return nil
}

// systemctl runs each command, or prints it when the files went under --root.
func systemctl(a *app, root string, cmds ...[]string) error {
	for _, args := range cmds {
		line := "systemctl " + strings.Join(args, " ")
		if root != "" {
			fmt.Fprintf(a.stdout, "not run (--root): %s\n", line)
			continue
		}
		out, err := exec.Command("systemctl", args...).CombinedOutput()
		if err != nil {
			return verdictError(fmt.Errorf("%s: %w: %s", line, err, strings.TrimSpace(string(out))))
		}
		fmt.Fprintf(a.stdout, "ran %s\n", line)
	}
	return nil
}
