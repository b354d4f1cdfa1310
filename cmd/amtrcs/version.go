package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...". Without
// it, the module version the go command stamped into the binary is used.
var version = "dev"

func init() { register(newVersionCmd) }

// buildInfo is what `amtrcs version` reports: enough to tell which source a
// binary came from when a user files a problem.
type buildInfo struct {
	Version  string `json:"version"`
	Module   string `json:"module,omitempty"`
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// readBuildInfo turns the build information the go command embeds into the
// report. bi is nil when the binary carries none (a test binary may not).
func readBuildInfo(ldVersion string, bi *debug.BuildInfo) buildInfo {
	v := buildInfo{Version: ldVersion, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		return v
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	v.Module = bi.Main.Path
	// The module version is "(devel)" for a build from a work tree without
	// VCS stamping; the ldflags version, when set, says more.
	if (ldVersion == "" || ldVersion == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the one-line text form: version, revision and time, Go, platform.
func (v buildInfo) String() string {
	s := "amtrcs " + v.Version
	if v.Revision != "" {
		rev := v.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if v.Modified {
			rev += "-modified"
		}
		s += " (" + rev
		if v.Time != "" {
			s += " " + v.Time
		}
		s += ")"
	}
	return s + " " + v.Go + " " + v.Platform
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the amtrcs version and build information",
		Long:  "version prints the amtrcs version, the VCS revision and time it was built from, the Go version and the platform.\nWith --json it prints them as an object.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi, ok := debug.ReadBuildInfo()
			if !ok {
				bi = nil
			}
			v := readBuildInfo(version, bi)
			if a.json {
				return a.printJSON(v)
			}
			_, err := fmt.Fprintln(a.stdout, v)
			return err
		},
	}
}
