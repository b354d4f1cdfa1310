package main

import (
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadBuildInfo(t *testing.T) {
	t.Parallel()
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "github.com/amtrcs/amtrcs", Version: "v0.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2025-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := map[string]struct {
		ld       string
		bi       *debug.BuildInfo
		want     buildInfo
		wantText string
	}{
		"no build info": {
			ld:       "dev",
			want:     buildInfo{Version: "dev"},
			wantText: "amtrcs dev ",
		},
		"module version stamped": {
			ld: "dev", bi: stamped,
			want: buildInfo{Version: "v0.4.0", Module: "github.com/amtrcs/amtrcs", Revision: "0123456789abcdef0123456789abcdef01234567",
				Time: "2025-01-02T03:04:05Z", Modified: true, Go: "go1.26.0"},
			wantText: "amtrcs v0.4.0 (0123456789ab-modified 2025-01-02T03:04:05Z) go1.26.0 ",
		},
		"ldflags version wins": {
			ld: "1.2.3", bi: stamped,
			want: buildInfo{Version: "1.2.3", Module: "github.com/amtrcs/amtrcs", Revision: "0123456789abcdef0123456789abcdef01234567",
				Time: "2025-01-02T03:04:05Z", Modified: true, Go: "go1.26.0"},
			wantText: "amtrcs 1.2.3 (",
		},
		"devel build keeps the ldflags version": {
			ld: "dev", bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/amtrcs/amtrcs", Version: "(devel)"}},
			want:     buildInfo{Version: "dev", Module: "github.com/amtrcs/amtrcs", Go: "go1.26.0"},
			wantText: "amtrcs dev go1.26.0 ",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := readBuildInfo(tc.ld, tc.bi)
			if got.Platform == "" {
				t.Errorf("platform empty")
			}
			got.Platform = ""
			if tc.bi == nil {
				got.Go = ""
			}
			if got != tc.want {
				t.Errorf("readBuildInfo = %+v, want %+v", got, tc.want)
			}
			if s := readBuildInfo(tc.ld, tc.bi).String(); !strings.HasPrefix(s, tc.wantText) {
				t.Errorf("text %q, want prefix %q", s, tc.wantText)
			}
		})
	}
}

func TestVersionJSONFields(t *testing.T) {
	code, out, errOut := runCLI(t, "version", "--json")
	if code != 0 {
		t.Fatalf("version --json: exit %d, stderr %q", code, errOut)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("version --json: %v in %q", err, out)
	}
	for _, k := range []string{"version", "go", "platform"} {
		if s, _ := v[k].(string); s == "" {
			t.Errorf("version --json: %q missing in %s", k, out)
		}
	}
	// A test binary carries the main module's path in its build information.
	if m, _ := v["module"].(string); m != "" && m != "github.com/amtrcs/amtrcs" {
		t.Errorf("module %q", m)
	}
}
