package main

import (
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/spf13/cobra"
)

func TestUnknownSubcommandExits2WithSuggestion(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"cert typo":   {[]string{"cert", "lst"}, "did you mean list?"},
		"report typo": {[]string{"report", "helth"}, "did you mean health?"},
		"csr typo":    {[]string{"csr", "shw"}, "show"},
		"no match":    {[]string{"cert", "zzzzzz"}, "its commands: check, export, import, list, renew"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != exitUsage {
				t.Fatalf("%v: exit %d, want %d; stdout %q", tc.args, code, exitUsage, out)
			}
			if !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "unknown command") {
				t.Errorf("%v: stderr %q, want %q", tc.args, errOut, tc.want)
			}
		})
	}
}

// Every command group refuses an unknown subcommand, and still shows its
// help when called bare.
func TestEveryCommandGroupRefusesUnknownSubcommand(t *testing.T) {
	a := &app{}
	root := newRootCmd(a)
	var groups []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasSubCommands() && c != root {
			groups = append(groups, c)
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	if len(groups) < 5 {
		t.Fatalf("found %d command groups, want the cert, csr, report, dns... groups", len(groups))
	}
	for _, g := range groups {
		path := strings.Fields(g.CommandPath())[1:]
		code, _, errOut := runCLI(t, append(path, "no-such-subcommand")...)
		if code != exitUsage || !strings.Contains(errOut, "unknown command") {
			t.Errorf("%v no-such-subcommand: exit %d, stderr %q; want exit 2 and unknown command", path, code, errOut)
		}
		if g.Name() == "agent" {
			continue // agent runs the agent when bare
		}
		code, out, _ := runCLI(t, path...)
		if code != exitOK || !strings.Contains(out, "Usage:") {
			t.Errorf("%v bare: exit %d, want 0 and its help", path, code)
		}
	}
}

func TestUnknownFlagSuggestsNearest(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string // "" means no suggestion
	}{
		"global flag":   {[]string{"version", "--jsn"}, "did you mean --json?"},
		"inherited":     {[]string{"cert", "list", "--data-dr", "x"}, "did you mean --data-dir?"},
		"local flag":    {[]string{"cert", "check", "--pasword-file", "p", "x.pfx"}, "did you mean --password-file?"},
		"contained":     {[]string{"csr", "new", "--suffix", "a"}, "did you mean --device-suffix?"},
		"nothing close": {[]string{"version", "--zzzzzzzz"}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tc.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d", code, exitUsage)
			}
			if tc.want == "" {
				if strings.Contains(errOut, "did you mean") {
					t.Errorf("stderr %q suggests a flag for a name close to none", errOut)
				}
				return
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q, want %q", errOut, tc.want)
			}
		})
	}
}

func TestLevenshtein(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"json", "jsn", 1}, {"kitten", "sitting", 3}, {"data-dir", "data-dr", 1}} {
		if got := levenshtein(tc.a, tc.b); got != tc.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestOneDefaultAMTVersion: the commands that judge a rule for a firmware
// version they are not told agree on one default, amt.DefaultVersion.
func TestOneDefaultAMTVersion(t *testing.T) {
	root := newRootCmd(&app{})
	for _, path := range [][]string{{"dns", "check"}, {"suffix", "check"}, {"suffix", "plan"}} {
		c, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		f := c.Flags().Lookup("amt-version")
		if f == nil || f.DefValue != amt.DefaultVersion.String() {
			t.Errorf("%v --amt-version default %v, want %s", path, f, amt.DefaultVersion)
		}
	}
	code, out, _ := runCLI(t, "suffix", "plan", "--json", "--device-suffix", "corp.example.com")
	if code != exitOK || !strings.Contains(out, `"amt_version": "`+amt.DefaultVersion.String()+`"`) {
		t.Errorf("suffix plan: exit %d, want AMT %s in %s", code, amt.DefaultVersion, out)
	}
}
