package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// applyUsageRules gives every command group (a command with subcommands
// and nothing of its own to run) a run that refuses an unknown subcommand
// with cobra's "did you mean" suggestions. Without it cobra prints the
// group's help for `amtrcs cert lst` and exits 0, so a script with a typo
// reports success.
func applyUsageRules(cmd *cobra.Command) {
	if cmd.HasSubCommands() && !cmd.Runnable() {
		cmd.Args = unknownSubcommand
		cmd.SuggestionsMinimumDistance = 2
		cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	} else if cmd.HasSubCommands() && cmd.Args != nil {
		// A group that runs itself too (agent): an argument it refuses is
		// more likely a mistyped subcommand than a wrong argument.
		own := cmd.Args
		cmd.SuggestionsMinimumDistance = 2
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := own(c, args); err != nil {
				return unknownSubcommand(c, args)
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		applyUsageRules(sub)
	}
}

// unknownSubcommand refuses any argument of a command group: there it can
// only be a subcommand that does not exist.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	msg += fmt.Sprintf(" (its commands: %s; see %s --help)", strings.Join(names, ", "), cmd.CommandPath())
	return usageError(fmt.Errorf("%s", msg))
}

// flagError is the flag error of every command: exit 2, and for an
// unknown flag the nearest flag the command has.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	if name, ok := unknownFlagName(msg); ok {
		if s := nearestFlag(cmd.Flags(), name); s != "" {
			msg += "; did you mean --" + s + "?"
		}
		msg += " (see " + cmd.CommandPath() + " --help)"
	}
	return usageError(fmt.Errorf("%s", msg))
}

// unknownFlagName reads the flag name out of pflag's "unknown flag: --x"
// message; pflag has no typed error for it.
func unknownFlagName(msg string) (string, bool) {
	const long = "unknown flag: --"
	if i := strings.Index(msg, long); i >= 0 {
		name, _, _ := strings.Cut(msg[i+len(long):], "=")
		return strings.TrimSpace(name), true
	}
	return "", false
}

// nearestFlag is the visible flag of fs closest to name: within an edit
// distance of a third of its length (at least 2), or one name containing
// the other. "" when nothing is close enough to be a likely typo.
func nearestFlag(fs *pflag.FlagSet, name string) string {
	best, bestD := "", -1
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Deprecated != "" {
			return
		}
		d := levenshtein(name, f.Name)
		limit := max(2, len(name)/3)
		if d > limit && !(len(name) >= 3 && (strings.Contains(f.Name, name) || strings.Contains(name, f.Name))) {
			return
		}
		if bestD < 0 || d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}

// levenshtein is the edit distance between a and b (insert, delete,
// substitute one byte each).
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
