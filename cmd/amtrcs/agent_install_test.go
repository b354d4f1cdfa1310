package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAgentInstallSystemdGolden(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	code, out, errOut := runCLI(t, "agent", "install", "--root", root,
		"--binary", "/usr/local/bin/amtrcs",
		"--server", "https://rcs.corp.example.com:8444",
		"--ca", "/etc/amtrcs/rcs ca.pem",
		"--profile", "acm-corp",
		"--hostname", "pc-0042",
		"--token", "one-time-token",
		"--debug")
	if code != 0 {
		t.Fatalf("agent install: exit %d: %s", code, errOut)
	}
	golden(t, "agent-install-stdout.golden", strings.ReplaceAll(out, root, "$ROOT"))
	unit, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/amtrcs-agent.service"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "agent-install-systemd.golden", string(unit))

	env := filepath.Join(root, "etc/amtrcs/amtrcs-agent.env")
	st, err := os.Stat(env)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %o, want 0600 (it holds the token)", env, st.Mode().Perm())
	}
	if b, _ := os.ReadFile(env); string(b) != "AMTRCS_AGENT_TOKEN=one-time-token\n" {
		t.Errorf("%s holds %q", env, b)
	}
	if strings.Contains(string(unit), "one-time-token") {
		t.Error("the unit file, readable by every user, holds the token")
	}
	if st, err := os.Stat(filepath.Join(root, "var/lib/amtrcs")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v, %v; want mode 0700", st, err)
	}

	code, out, errOut = runCLI(t, "agent", "uninstall", "--root", root)
	if code != 0 {
		t.Fatalf("agent uninstall: exit %d: %s", code, errOut)
	}
	golden(t, "agent-uninstall-stdout.golden", strings.ReplaceAll(out, root, "$ROOT"))
	for _, p := range []string{"etc/systemd/system/amtrcs-agent.service", "etc/amtrcs/amtrcs-agent.env"} {
		if _, err := os.Stat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("%s after uninstall: %v", p, err)
		}
	}
}

func TestAgentInstallRefusals(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	tests := map[string]struct {
		args []string
		want string
	}{
		"no server": {
			args: []string{"agent", "install", "--root", root},
			want: "--server not given: the service would report to https://127.0.0.1:8444 (the default, this PC itself); want the URL of your RCS's agent gateway",
		},
		"bad name": {
			args: []string{"agent", "install", "--root", root, "--server", "https://rcs:8444", "--name", "a/b"},
			want: `--name "a/b": a service name is one word without slashes`,
		},
		"uninstall what is not there": {
			args: []string{"agent", "uninstall", "--root", root, "--name", "other"},
			want: `does not exist: nothing is installed under the name "other"; give --name as at install`,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != exitUsage || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 and %q", code, errOut, tt.want)
			}
		})
	}
}

func TestAgentInstallCarriesFlags(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	code, _, errOut := runCLI(t, "--data-dir", "/srv/amtrcs data", "agent", "install", "--root", root,
		"--binary", "/opt/amtrcs/amtrcs", "--server", "https://rcs:8444", "--mei-device", "/dev/mei1", "--once", "--name", "amt")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	unit, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/amt.service"))
	if err != nil {
		t.Fatal(err)
	}
	want := `ExecStart=/opt/amtrcs/amtrcs --data-dir "/srv/amtrcs data" agent --mei-device=/dev/mei1 --server=https://rcs:8444` + "\n"
	if !strings.Contains(string(unit), want) {
		t.Errorf("unit:\n%s\nwant the line %q (no --once, no token file)", unit, want)
	}
	if strings.Contains(string(unit), "EnvironmentFile") {
		t.Error("an environment file without a token")
	}
}

func TestSystemdQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/usr/bin/amtrcs":  "/usr/bin/amtrcs",
		"a b":              `"a b"`,
		"100%":             "100%%",
		"$HOME":            "$$HOME",
		`C:\x "y"`:         `"C:\\x \"y\""`,
		"":                 `""`,
		"--server=https:x": "--server=https:x",
	} {
		if got := systemdQuote(in); got != want {
			t.Errorf("systemdQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
