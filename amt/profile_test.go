package amt

import (
	"errors"
	"strings"
	"testing"
)

func TestProfiles(t *testing.T) {
	t.Parallel()
	want := []Profile{
		{Version: Version{Major: 7}, Name: "AMT 7", AdminSetup: true, MinRSABits: 1024},
		{Version: Version{Major: 11}, Name: "AMT 11", AdminSetup: true, MinRSABits: 1024},
		{Version: Version{Major: 12}, Name: "AMT 12", AdminSetup: true, MinRSABits: 1024},
		{Version: Version{Major: 16}, Name: "AMT 16", AdminSetup: true, RefuseSHA1: true, MinRSABits: 2048},
		{Version: Version{Major: 19}, Name: "AMT 19", TLSSetup: true, RefuseSHA1: true, MinRSABits: 2048},
	}
	for i := range want {
		want[i].MaxChainLength = 4
		want[i].ExtendedTLD = true
		want[i].MaxCustomHashes = 3
		want[i].MaxHashEntries = 33
	}
	got := Profiles()
	if len(got) != len(want) {
		t.Fatalf("%d profiles; want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("profile %d = %+v; want %+v", i, got[i], want[i])
		}
	}
	if strings.Join(ProfileNames(), ",") != "AMT 7,AMT 11,AMT 12,AMT 16,AMT 19" {
		t.Errorf("ProfileNames() = %v", ProfileNames())
	}
	got[0].AdminSetup = false
	if !Profiles()[0].AdminSetup {
		t.Error("changing Profiles()'s result changed the profiles")
	}
}

func TestLookupProfile(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"7":        "AMT 7",
		"10.0.55":  "AMT 7",
		"11":       "AMT 11",
		"11.8.65":  "AMT 11",
		"12.0.32":  "AMT 12",
		"15.0.40":  "AMT 12",
		"16":       "AMT 16",
		"16.1.27":  "AMT 16",
		"18.9.999": "AMT 16",
		"19":       "AMT 19",
		"42.1":     "AMT 19", // an unknown future major gets the newest, strictest rules
	}
	for in, want := range cases {
		p, err := LookupProfile(v3(in))
		if err != nil || p.Name != want {
			t.Errorf("LookupProfile(%s) = %q, %v; want %q", in, p.Name, err, want)
		}
	}
	for _, in := range []string{"0", "6", "6.2.99"} {
		_, err := LookupProfile(v3(in))
		var re *RuleError
		if !errors.As(err, &re) || re.Rule != RuleAMTVersion || !strings.Contains(err.Error(), "AMT version: "+v3(in).String()+";") || !strings.Contains(err.Error(), "7.0 or newer") {
			t.Errorf("LookupProfile(%s) error %v; want an AMT version refusal naming %s and 7.0", in, err, in)
		}
	}
}

func TestParseProfileVersion(t *testing.T) {
	t.Parallel()
	good := map[string]string{"16": "AMT 16", "AMT 16": "AMT 16", "amt19": "AMT 19", " 11.8.65 ": "AMT 11"}
	for in, want := range good {
		if _, p, err := ParseProfileVersion(in); err != nil || p.Name != want {
			t.Errorf("ParseProfileVersion(%q) = %q, %v; want %q", in, p.Name, err, want)
		}
	}
	bad := map[string]string{"": "profiles: AMT 7", "sixteen": "profiles: AMT 7", "amt": "want MAJOR", "5": "7.0 or newer"}
	for in, want := range bad {
		if _, _, err := ParseProfileVersion(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseProfileVersion(%q) error %v; want one containing %q", in, err, want)
		}
	}
}

func TestDefaultHashTableSizes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		version    string
		sha1, s256 int
		hasG1      bool
	}{
		{"6.2", 0, 0, false},
		{"7", 8, 0, true},
		{"10.0.55", 8, 0, true},
		{"11", 0, 29, true},
		{"11.8.64", 0, 29, true},
		{"11.8.65", 0, 28, false},
		{"12", 0, 29, true},
		{"12.0.32", 0, 28, false},
		{"16", 0, 28, false},
		{"19", 0, 28, false},
	}
	for _, c := range cases {
		tab := DefaultHashTable(v3(c.version))
		var n1, n256 int
		g1 := false
		for _, e := range tab.Entries {
			if !e.Default || !e.Active {
				t.Errorf("%s: %q should be an active default", c.version, e.Name)
			}
			switch e.Algorithm {
			case HashSHA1:
				n1++
			case HashSHA256:
				n256++
			}
			if e.Name == "VeriSign Class 3 Public Primary CA (G1)" {
				g1 = true
			}
		}
		if n1 != c.sha1 || n256 != c.s256 || g1 != c.hasG1 {
			t.Errorf("DefaultHashTable(%s): %d SHA-1, %d SHA-256, G1 %v; want %d, %d, %v", c.version, n1, n256, g1, c.sha1, c.s256, c.hasG1)
		}
		if tab.Version != v3(c.version) {
			t.Errorf("DefaultHashTable(%s).Version = %s", c.version, tab.Version)
		}
	}
	p, _ := LookupProfile(v3("16"))
	if got := len(p.DefaultHashes().Entries); got != 28 {
		t.Errorf("AMT 16 profile default hashes: %d; want 28", got)
	}
}
