// Package fuzzmin bounds how long the Go fuzzer minimizes a new input, for
// the TestMain of packages whose fuzz inputs are files of kilobytes
// (certificates, archives, databases). It is for tests only.
//
// Minimization tries dropping every span of an input's bytes, which is
// quadratic in its length, and the fuzzer reports no executions while it
// runs: at the default -test.fuzzminimizetime of 60 s, one certificate-sized
// input stalled a target for a minute, over and over.
package fuzzmin

import (
	"flag"
	"os"
	"testing"
)

// Limit is the minimization budget Main sets: runs, not time, so that it
// does not depend on the machine's speed.
const Limit = "10000x"

// Main runs the tests with -test.fuzzminimizetime set to Limit unless the
// command line gives it, runs each of after (a package's clean-up of what
// its tests started), and exits with the tests' status.
func Main(m *testing.M, after ...func()) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.fuzzminimizetime" })
	if !given {
		flag.Set("test.fuzzminimizetime", Limit)
	}
	code := m.Run()
	for _, f := range after {
		f()
	}
	os.Exit(code)
}
