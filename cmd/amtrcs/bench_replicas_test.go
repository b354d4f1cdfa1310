package main

import (
	"strings"
	"testing"
)

// The several-servers scenario's flags are checked before anything
// starts: each refusal names the flag and the fix.
func TestBenchReplicaFlagsRefused(t *testing.T) {
	cases := map[string]struct {
		args []string
		want string
	}{
		"several on bbolt":  {[]string{"--store", "bbolt", "--replicas", "3"}, "pass --store postgres"},
		"kill the only one": {[]string{"--store", "postgres", "--kill-replica"}, "pass --replicas 2 or more"},
		"unknown store":     {[]string{"--store", "mysql"}, "want bbolt or postgres"},
		"stack-only flag":   {[]string{"--store", "postgres", "--replicas", "3", "--mode", "engine"}, "--mode does not apply"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCLI(t, append([]string{"bench"}, c.args...)...)
			if code != exitUsage || !strings.Contains(errOut, c.want) {
				t.Errorf("bench %v: exit %d, %q; want %d saying %q", c.args, code, errOut, exitUsage, c.want)
			}
		})
	}
}
