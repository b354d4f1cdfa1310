package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const exampleConfig = "../../examples/amtrcs.hcl"

func writeConfig(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "amtrcs.hcl")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigCheckExampleIsClean(t *testing.T) {
	t.Setenv("AMTRCS_API_TOKEN", "t")
	t.Setenv("AMTRCS_LAB_ADMIN_PASSWORD", "p")
	code, out, errOut := runCLI(t, "config", "check", exampleConfig)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	want := exampleConfig + `: ok
  listeners: api 0.0.0.0:8443, agent gateway 0.0.0.0:8444, hello 0.0.0.0:9971
  data dir:  /var/lib/amtrcs; kek: file /var/lib/amtrcs/kek; ca: external https://ca.corp.example.com:9000
  domains (2):
    corp: corp.example.com, branch.corp.example.com -> profile office
    lab: lab.example.net -> profile lab
  profiles (3): office (acm), lab (ccm), default (acm)
`
	if out != want {
		t.Errorf("summary\n%s\nwant\n%s", out, want)
	}
}

func TestConfigCheck(t *testing.T) {
	tests := map[string]struct {
		src      string
		args     []string // after "config check"; FILE is appended unless noFile
		noFile   bool
		code     int
		contains []string // in stdout
		errOut   string   // in stderr
	}{
		"empty file is the default config": {
			src: "", code: exitOK,
			contains: []string{": ok\n", "api 127.0.0.1:8443", "hello off", "domains (0)", "profiles (1): default (acm)"},
		},
		"error with snippet": {
			src:      "domain \"corp\" {\n  suffixes = [\"corp..example.com\"]\n}\n",
			code:     exitUsage,
			contains: []string{"Error: Invalid DNS suffix", "line 2:", `2:   suffixes = ["corp..example.com"]`, "label 2 is empty (two dots in a row)"},
			errOut:   "1 error(s), 0 warning(s)",
		},
		"warning still exits 0": {
			src:      "server {\n  hello = \":9972\"\n}\n",
			code:     exitOK,
			contains: []string{"Warning: Hello listener on an unusual port", "ok (1 warning(s) above)", "hello :9972"},
		},
		"missing file": {
			args: []string{"/nonexistent/amtrcs.hcl"}, noFile: true, code: exitUsage,
			contains: []string{"Cannot read configuration file", "/nonexistent/amtrcs.hcl"},
		},
		"no file at all": {noFile: true, code: exitUsage, errOut: "no file given"},
		"too many files": {args: []string{"a", "b"}, noFile: true, code: exitUsage},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"config", "check"}, tc.args...)
			if !tc.noFile {
				args = append(args, writeConfig(t, tc.src))
			}
			code, out, errOut := runCLI(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, c := range tc.contains {
				if !strings.Contains(out, c) {
					t.Errorf("stdout lacks %q:\n%s", c, out)
				}
			}
			if !strings.Contains(errOut, tc.errOut) {
				t.Errorf("stderr %q lacks %q", errOut, tc.errOut)
			}
		})
	}
}

func TestConfigCheckUsesConfigFlag(t *testing.T) {
	p := writeConfig(t, "data_dir = env.AMTRCS_TEST_DIR\n")
	t.Setenv("AMTRCS_TEST_DIR", "/srv/amtrcs")
	code, out, errOut := runCLI(t, "--config", p, "config", "check")
	if code != exitOK || !strings.Contains(out, "data dir:  /srv/amtrcs") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

func TestConfigCheckJSON(t *testing.T) {
	bad := writeConfig(t, "profile \"p\" {\n  mode = \"acmx\"\n}\n\nmaintenance {\n  clock_sync = \"14d\"\n}\n")
	code, out, errOut := runCLI(t, "config", "check", "--json", bad)
	if code != exitUsage {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	var r configCheckReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if r.Valid || r.Errors != 2 || r.Summary != nil || len(r.Diagnostics) != 2 {
		t.Fatalf("report %+v", r)
	}
	want := []struct {
		line, col int
		summary   string
	}{{2, 10, "Unknown value"}, {6, 16, "Invalid duration"}}
	for i, w := range want {
		d := r.Diagnostics[i]
		if d.File != bad || d.Line != w.line || d.Column != w.col || d.Severity != "error" || d.Summary != w.summary || d.Detail == "" {
			t.Errorf("diagnostic %d = %+v, want %s at %d:%d", i, d, w.summary, w.line, w.col)
		}
	}
	if !strings.Contains(r.Diagnostics[1].Detail, `"336h"`) {
		t.Errorf("duration fix does not propose 336h: %s", r.Diagnostics[1].Detail)
	}

	t.Setenv("AMTRCS_API_TOKEN", "t")
	t.Setenv("AMTRCS_LAB_ADMIN_PASSWORD", "p")
	code, out, _ = runCLI(t, "config", "check", "--json", exampleConfig)
	r = configCheckReport{}
	if code != exitOK || json.Unmarshal([]byte(out), &r) != nil || !r.Valid || r.Summary == nil {
		t.Fatalf("exit %d, report %s", code, out)
	}
	if len(r.Summary.Domains) != 2 || r.Summary.Domains[0].Name != "corp" || len(r.Diagnostics) != 0 || r.Summary.Listeners.Hello != "0.0.0.0:9971" {
		t.Errorf("summary %+v", r.Summary)
	}
}

// A KMS URI can hold a PIN: the summary names the KMS type only, and the
// refusal of a URI naming no key pair names the token, not the PIN.
func TestConfigCheckSummaryHidesKMSURI(t *testing.T) {
	p := writeConfig(t, "kek {\n  kms = \"pkcs11:token=amtrcs?pin-value=Sup3rSecret\"\n}\n")
	code, out, _ := runCLI(t, "config", "check", "--json", p)
	if code != exitUsage || strings.Contains(out, "Sup3rSecret") || !strings.Contains(out, `"kek": "kms pkcs11"`) || !strings.Contains(out, "names no key pair") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}
