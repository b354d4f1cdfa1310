package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDependencies holds the PC side (the agent) and the firmware side (the
// simulator) to the design: they use the facts and rules of amt, never the
// certificate workshop or the store behind it. Each is listed for every
// operating system the agent has its own files for, since a forbidden
// import in a Windows file would not show in a Linux build.
//
// It lives here because this test binary links both packages (the agent's
// tests run against the simulator), so go test's cache cannot keep a pass
// after either changes; the Stat calls add the agent's files of other
// operating systems to what the cached result depends on.
func TestDependencies(t *testing.T) {
	t.Parallel()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list dependencies with")
	}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Fatal(err)
		}
	}
	forbidden := []string{
		"github.com/amtrcs/amtrcs/csr",
		"github.com/amtrcs/amtrcs/store",
		"go.etcd.io/bbolt",
	}
	for _, pkg := range []string{"github.com/amtrcs/amtrcs/amtsim", "github.com/amtrcs/amtrcs/agent/..."} {
		for _, goos := range []string{"linux", "windows"} {
			t.Run(goos+" "+pkg, func(t *testing.T) {
				t.Parallel()
				cmd := exec.Command(goCmd, "list", "-deps", "-test=false", pkg)
				cmd.Env = append(os.Environ(), "GOOS="+goos)
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("go list -deps %s: %v", pkg, err)
				}
				for _, dep := range strings.Fields(string(out)) {
					if slices.ContainsFunc(forbidden, func(f string) bool { return dep == f || strings.HasPrefix(dep, f+"/") }) {
						t.Errorf("%s (GOOS=%s) depends on %s; want none of csr, store or bbolt (the firmware and PC sides use amt, never the workshop or its store): move the rule it needs into amt", pkg, goos, dep)
					}
				}
			})
		}
	}
}
