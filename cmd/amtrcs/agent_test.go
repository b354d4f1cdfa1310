package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// On a PC without /dev/mei0 the agent cannot work however long it waits:
// it exits at once, non-zero, with the fix, and never contacts the RCS
// (nothing listens at the server address given).
func TestAgentWithoutMEIExitsWithTheFix(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "mei0")
	code, out, errOut := runCLI(t, "agent", "--once", "--mei-device", missing, "--server", "https://127.0.0.1:1",
		"--token", "amtrcs-enroll-0000000000000000.x", "--data-dir", dir)
	if code == 0 {
		t.Fatalf("exit 0 without an MEI device:\n%s\n%s", out, errOut)
	}
	for _, want := range []string{missing, "load the mei_me kernel module"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
	if n := strings.Count(errOut, "mei_me"); n != 1 {
		t.Errorf("the fix printed %d times, want once:\n%s", n, errOut)
	}
	if strings.Contains(errOut, "reconnecting") {
		t.Errorf("the agent retried a missing device:\n%s", errOut)
	}
}
