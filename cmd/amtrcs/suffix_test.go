package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
)

// TestSuffixGolden pins the text reports users read; -update rewrites them.
func TestSuffixGolden(t *testing.T) {
	cases := map[string]struct {
		args []string
		code int
	}{
		"suffix-check-match.golden": {
			args: []string{"suffix", "check", "--cert-name", "rcs01.vprodemo.com", "--device-suffix", "amt.vprodemo.com"},
			code: exitOK,
		},
		"suffix-check-mismatch.golden": {
			args: []string{"suffix", "check", "--cert-name", "rcs.corp.example.com", "--device-suffix", "branch.example.net", "--amt-version", "16.1"},
			code: exitVerdict,
		},
		"suffix-check-local.golden": {
			args: []string{"suffix", "check", "--cert-name", "RCS.vprodemo.com.", "--device-suffix", "corp.local"},
			code: exitVerdict,
		},
		"suffix-check-label.golden": {
			args: []string{"suffix", "check", "--cert-name", "*.corp.example.com", "--device-suffix", "a.corp.example.com", "--amt-version", "4.0"},
			code: exitVerdict,
		},
		"suffix-plan-one.golden": {
			args: []string{"suffix", "plan", "--device-suffix", "amt.vprodemo.com", "--device-suffix", "vprodemo.com", "--device-suffix", "eu.vprodemo.com"},
			code: exitOK,
		},
		"suffix-plan-mixed.golden": {
			args: []string{"suffix", "plan", "--device-suffix", "a.example.com,b.example.net,corp.example.co.uk", "--device-suffix", "corp.local", "--device-suffix", "corp", "--host", "amt"},
			code: exitVerdict,
		},
		"suffix-plan-label.golden": {
			args: []string{"suffix", "plan", "--device-suffix", "amt.vprodemo.com,vprodemo.com,eu.vprodemo.com", "--amt-version", "3"},
			code: exitOK,
		},
	}
	for file, tc := range cases {
		t.Run(file, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != tc.code || errOut != "" {
				t.Fatalf("%v: exit %d (want %d), stderr %q", tc.args, code, tc.code, errOut)
			}
			golden(t, file, out)
		})
	}
}

func TestSuffixCheckJSON(t *testing.T) {
	tests := []struct {
		args                []string
		code                int
		match               bool
		reasonHas, fixHas   string
		rule, suggestSuffix string
	}{
		{
			args: []string{"--cert-name", "csa.ftl.intel.com", "--device-suffix", "dev.intel.com"},
			code: exitOK, match: true, reasonHas: "cuts it to intel.com", rule: "extended-tld",
		},
		{
			args: []string{"--cert-name", "rcs.corp.example.co.uk", "--device-suffix", "other.co.uk", "--amt-version", "11.8.65"},
			code: exitVerdict, reasonHas: "(.uk keeps 3 labels)", fixHas: "buy a certificate for a name under other.co.uk", rule: "extended-tld", suggestSuffix: "corp.example.co.uk",
		},
		{
			args: []string{"--cert-name", "rcs.vprodemo.com", "--device-suffix", "local"},
			code: exitVerdict, reasonHas: "single-label", fixHas: "set the MEBx PKI DNS suffix to vprodemo.com", rule: "single-label-suffix", suggestSuffix: "vprodemo.com",
		},
	}
	for _, tc := range tests {
		args := append([]string{"suffix", "check", "--json"}, tc.args...)
		code, out, errOut := runCLI(t, args...)
		if code != tc.code || errOut != "" {
			t.Fatalf("%v: exit %d (want %d), stderr %q", args, code, tc.code, errOut)
		}
		// The documented contract: match, reason and fix are always there.
		var raw map[string]any
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		for _, k := range []string{"match", "reason", "fix"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("%v: JSON lacks %q: %s", args, k, out)
			}
		}
		var r struct {
			Match           bool   `json:"match"`
			Reason          string `json:"reason"`
			Fix             string `json:"fix"`
			Rule            string `json:"rule"`
			SuggestedSuffix string `json:"suggested_suffix"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if r.Match != tc.match || r.Rule != tc.rule || !strings.Contains(r.Reason, tc.reasonHas) || !strings.Contains(r.Fix, tc.fixHas) || r.SuggestedSuffix != tc.suggestSuffix {
			t.Errorf("%v: got %+v", args, r)
		}
		if r.Match != (r.Fix == "") {
			t.Errorf("%v: match %v with fix %q", args, r.Match, r.Fix)
		}
	}
}

func TestSuffixPlanJSON(t *testing.T) {
	code, out, errOut := runCLI(t, "suffix", "plan", "--json", "--device-suffix", "a.example.com", "--device-suffix", "b.example.net", "--device-suffix", "A.Example.com.")
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var p struct {
		AMTVersion   string `json:"amt_version"`
		Certificates []struct {
			Name   string   `json:"name"`
			Covers []string `json:"covers"`
		} `json:"certificates"`
		Suffixes []struct {
			Suffix    string   `json:"suffix"`
			CoveredBy []string `json:"covered_by"`
		} `json:"suffixes"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if p.AMTVersion != amt.DefaultVersion.String() || len(p.Certificates) != 2 || p.Certificates[0].Name != "rcs.example.com" || p.Certificates[1].Name != "rcs.example.net" {
		t.Errorf("plan: %s", out)
	}
	if len(p.Suffixes) != 2 || p.Suffixes[0].Suffix != "a.example.com" || p.Suffixes[0].CoveredBy[0] != "rcs.example.com" {
		t.Errorf("coverage rows (duplicates folded by case and trailing dot): %s", out)
	}
}

// TestSuffixUsageErrors: bad input exits 2 with one line that names the
// flag, the value and the fix, and prints no report.
func TestSuffixUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"suffix", "check", "--device-suffix", "vprodemo.com"}, []string{"--cert-name is required", "rcs.corp.example.com"}},
		{[]string{"suffix", "check", "--cert-name", "rcs.vprodemo.com"}, []string{"--device-suffix is required"}},
		{[]string{"suffix", "check", "--cert-name", "rcs..vprodemo.com", "--device-suffix", "vprodemo.com"}, []string{"--cert-name", `"rcs..vprodemo.com"`, "label 2 is empty", "single dots"}},
		{[]string{"suffix", "check", "--cert-name", "com", "--device-suffix", "vprodemo.com"}, []string{"bare top-level domain", "rcs.example.com"}},
		{[]string{"suffix", "check", "--cert-name", "rcs.vprodemo.com", "--device-suffix", "bücher.de"}, []string{"--device-suffix", "non-ASCII", "xn--bcher-kva.de"}},
		{[]string{"suffix", "check", "--cert-name", "rcs.vprodemo.com", "--device-suffix", "vpro_demo.com", "--json"}, []string{"underscore", "hyphen"}},
		{[]string{"suffix", "check", "--cert-name", "rcs.vprodemo.com", "--device-suffix", "vprodemo.com", "--amt-version", "sixteen"}, []string{"--amt-version", `"sixteen"`, "for example 16"}},
		{[]string{"suffix", "check", "--cert-name", "rcs.vprodemo.com", "--device-suffix", "vprodemo.com", "extra"}, []string{"unknown command"}},
		{[]string{"suffix", "plan"}, []string{"no device suffix given"}},
		{[]string{"suffix", "plan", "--device-suffix", "vprodemo.com,.local"}, []string{"device suffix 2", "starts with a dot", "drop the leading dot: local"}},
		{[]string{"suffix", "plan", "--device-suffix", "vprodemo.com", "--host", "rcs.corp"}, []string{"host label", "one label"}},
		{[]string{"suffix", "plan", "--device-suffix", "vprodemo.com", "--amt-version", "1.2.3.4"}, []string{"--amt-version"}},
	}
	for _, tc := range tests {
		code, out, errOut := runCLI(t, tc.args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d", tc.args, code, exitUsage)
		}
		if out != "" {
			t.Errorf("%v: printed a report on bad input: %q", tc.args, out)
		}
		if strings.Count(strings.TrimSuffix(errOut, "\n"), "\n") != 0 {
			t.Errorf("%v: error is not one line: %q", tc.args, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: stderr %q lacks %q", tc.args, errOut, w)
			}
		}
	}
}
