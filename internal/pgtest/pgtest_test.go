package pgtest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// verdict records what missing did to a test.
type verdict struct {
	testing.TB
	fatal, skip string
}

func (v *verdict) Helper()                         {}
func (v *verdict) Fatalf(format string, a ...any)  { v.fatal = format }
func (v *verdict) Skipf(format string, a ...any)   { v.skip = format }
func (v *verdict) Errorf(format string, a ...any)  { v.fatal = format }
func (v *verdict) Logf(format string, args ...any) {}

func TestMissingFailsUnderCIAndSkipsElsewhere(t *testing.T) {
	ci := &verdict{}
	missing(ci, "no initdb", true)
	if ci.fatal == "" || ci.skip != "" {
		t.Errorf("under CI=true: fatal %q, skip %q; want a failure", ci.fatal, ci.skip)
	}
	dev := &verdict{}
	missing(dev, "no initdb", false)
	if dev.skip == "" || dev.fatal != "" {
		t.Errorf("elsewhere: fatal %q, skip %q; want a skip", dev.fatal, dev.skip)
	}
	if !strings.Contains(Install, "apt-get install -y postgresql") {
		t.Errorf("Install = %q, want the apt-get command", Install)
	}
}

// TestFindBin: the newest Debian version directory wins; none found is an
// error naming where it looked.
func TestFindBin(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("executable bits")
	}
	root := t.TempDir()
	for _, v := range []string{"13", "15", "9"} {
		d := filepath.Join(root, v, "bin")
		os.MkdirAll(d, 0o755)
		for _, tool := range []string{"initdb", "pg_ctl"} {
			os.WriteFile(filepath.Join(d, tool), []byte("#!/bin/sh\n"), 0o755)
		}
	}
	old := debianBins
	t.Cleanup(func() { debianBins = old })
	debianBins = filepath.Join(root, "*", "bin")
	got, err := findBin()
	if err != nil || got != filepath.Join(root, "15", "bin") {
		t.Errorf("findBin = %q, %v; want version 15's", got, err)
	}
	debianBins = filepath.Join(t.TempDir(), "*", "bin")
	t.Setenv("PATH", t.TempDir())
	if _, err := findBin(); err == nil || !strings.Contains(err.Error(), "initdb") {
		t.Errorf("findBin with none installed = %v, want an error naming initdb", err)
	}
}
