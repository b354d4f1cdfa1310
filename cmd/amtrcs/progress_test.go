package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProgressNotATerminal: where stderr is a file or a buffer, progress
// is plain lines at each tenth, never carriage-return frames of a bar.
func TestProgressNotATerminal(t *testing.T) {
	logFile, err := os.Create(filepath.Join(t.TempDir(), "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	var buf bytes.Buffer
	for name, w := range map[string]interface {
		Write([]byte) (int, error)
	}{"buffer": &buf, "log file": logFile} {
		t.Run(name, func(t *testing.T) {
			if isTerminal(w) {
				t.Fatal("a buffer or a regular file taken for a terminal")
			}
			p := newProgress(w, 20, "activating")
			for i := 1; i <= 20; i++ {
				p.Set(i)
			}
		})
	}
	logged, err := os.ReadFile(logFile.Name())
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"buffer": buf.String(), "log file": string(logged)} {
		if strings.Contains(out, "\r") {
			t.Errorf("%s: carriage returns in %q", name, out)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 10 || lines[0] != "activating: 2/20 (10%)" || lines[9] != "activating: 20/20 (100%)" {
			t.Errorf("%s: %d lines %q; want one per tenth, the last at 100%%", name, len(lines), lines)
		}
	}
}
