package main

import (
	"encoding/json"
	"flag"
	"strings"
	"testing"
)

// update rewrites the golden files of testdata deliberately; a plain run
// only compares.
var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestHashesGolden(t *testing.T) {
	cases := map[string][]string{
		"hashes-all.golden":     {"hashes"},
		"hashes-10.golden":      {"hashes", "--amt-version", "10"},
		"hashes-11.8.65.golden": {"hashes", "--amt-version", "11.8.65"},
		"hashes-16.golden":      {"hashes", "--amt-version", "AMT 16"},
	}
	for file, args := range cases {
		t.Run(file, func(t *testing.T) {
			code, out, errOut := runCLI(t, args...)
			if code != exitOK || errOut != "" {
				t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
			}
			golden(t, file, out)
		})
	}
}

func TestHashesJSON(t *testing.T) {
	cases := []struct {
		args        []string
		version     string
		profile     string
		entries     int
		mustHave    string // a name+algorithm present
		mustNotHave string
	}{
		{[]string{"hashes", "--json"}, "", "", 37, "VeriSign Class 3 Public Primary CA (G1)/SHA-1", ""},
		{[]string{"hashes", "--json", "--amt-version", "12.0.31"}, "12.0.31", "AMT 12", 29, "VeriSign Class 3 Public Primary CA (G1)/SHA-256", "Go Daddy Class 2 CA/SHA-1"},
		{[]string{"hashes", "--json", "--amt-version", "12.0.32"}, "12.0.32", "AMT 12", 28, "DigiCert Global Root G2/SHA-256", "VeriSign Class 3 Public Primary CA (G1)/SHA-256"},
		{[]string{"hashes", "--amt-version", "7", "--json"}, "7.0", "AMT 7", 8, "Starfield Class 2 CA/SHA-1", "Starfield Class 2 CA/SHA-256"},
	}
	for _, c := range cases {
		code, out, errOut := runCLI(t, c.args...)
		if code != exitOK || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", c.args, code, errOut)
		}
		var rep struct {
			AMTVersion string `json:"amt_version"`
			Profile    string `json:"profile"`
			Entries    []struct {
				Name      string   `json:"name"`
				Algorithm string   `json:"algorithm"`
				Hash      string   `json:"hash"`
				Versions  []string `json:"versions"`
				Profiles  []string `json:"profiles"`
				InDebian  bool     `json:"in_debian"`
			} `json:"entries"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v: %v in %s", c.args, err, out)
		}
		if rep.AMTVersion != c.version || rep.Profile != c.profile || len(rep.Entries) != c.entries {
			t.Errorf("%v: version %q profile %q, %d entries; want %q %q %d", c.args, rep.AMTVersion, rep.Profile, len(rep.Entries), c.version, c.profile, c.entries)
		}
		seen := map[string]bool{}
		for _, e := range rep.Entries {
			seen[e.Name+"/"+e.Algorithm] = true
			if e.Hash != strings.ToUpper(e.Hash) || len(e.Versions) == 0 || e.Profiles == nil {
				t.Errorf("%v: entry %+v: want uppercase hash, versions and profiles", c.args, e)
			}
		}
		if !seen[c.mustHave] || (c.mustNotHave != "" && seen[c.mustNotHave]) {
			t.Errorf("%v: has %q = %v, has %q = %v", c.args, c.mustHave, seen[c.mustHave], c.mustNotHave, seen[c.mustNotHave])
		}
	}
}

func TestHashesBadVersion(t *testing.T) {
	cases := map[string]string{
		"6":       "7.0 or newer",
		"sixteen": "not a number",
		"":        "want MAJOR",
		"16.x":    "not a number",
	}
	for in, want := range cases {
		code, out, errOut := runCLI(t, "hashes", "--amt-version", in)
		if code != exitUsage || out != "" || !strings.Contains(errOut, want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("--amt-version %q: exit %d, stdout %q, stderr %q; want exit 2 and one line containing %q", in, code, out, errOut, want)
		}
	}
}
