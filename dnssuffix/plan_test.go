package dnssuffix

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
)

func TestPlan(t *testing.T) {
	t.Parallel()
	v19 := amt.Version{Major: 19}
	type cert struct {
		name   string
		covers []string
	}
	tests := map[string]struct {
		suffixes  []string
		host      string
		v         amt.Version
		certs     []cert
		uncovered []string
		fixHas    string
	}{
		// Outside the TLD table nothing is cut: the certificate in the
		// deepest domain covers that domain and the ones above it.
		"outside the tld table, the deepest own domain": {
			suffixes: []string{"example.io", "lab.example.io", "eu.lab.example.io", "corp.example.app"}, v: v19,
			certs: []cert{{"rcs.corp.example.app", []string{"corp.example.app"}}, {"rcs.eu.lab.example.io", []string{"example.io", "lab.example.io", "eu.lab.example.io"}}},
		},
		"one domain, three suffixes": {
			suffixes: []string{"amt.vprodemo.com", "vprodemo.com", "eu.vprodemo.com"}, v: v19,
			certs: []cert{{"rcs.vprodemo.com", []string{"amt.vprodemo.com", "vprodemo.com", "eu.vprodemo.com"}}},
		},
		"two domains": {
			suffixes: []string{"a.example.com", "b.example.net"}, v: v19,
			certs: []cert{{"rcs.example.com", []string{"a.example.com"}}, {"rcs.example.net", []string{"b.example.net"}}},
		},
		"host label and normalization": {
			suffixes: []string{"Corp.Example.com.", "corp.example.com", "LAB.example.com"}, host: "AMT-Setup", v: v19,
			certs: []cert{{"amt-setup.example.com", []string{"corp.example.com", "lab.example.com"}}},
		},
		"uk keeps three labels": {
			suffixes: []string{"corp.example.co.uk", "example.co.uk", "other.co.uk"}, v: v19,
			certs: []cert{{"rcs.example.co.uk", []string{"corp.example.co.uk", "example.co.uk"}}, {"rcs.other.co.uk", []string{"other.co.uk"}}},
		},
		"second-level uk needs the bare name": {
			suffixes: []string{"example.uk", "pc.example.uk"}, v: v19,
			certs: []cert{{"example.uk", []string{"example.uk", "pc.example.uk"}}},
		},
		"local cannot be covered": {
			suffixes: []string{"corp.local", "vprodemo.com", "corp"}, v: v19,
			certs:     []cert{{"rcs.vprodemo.com", []string{"vprodemo.com"}}},
			uncovered: []string{"corp.local", "corp"},
			fixHas:    "set the MEBx PKI DNS suffix on these devices to vprodemo.com (covered by rcs.vprodemo.com)",
		},
		"only local": {
			suffixes: []string{"corp.local"}, v: v19,
			uncovered: []string{"corp.local"},
			fixHas:    "a public domain you own",
		},
		"label rule needs a name per branch": {
			suffixes: []string{"amt.vprodemo.com", "vprodemo.com", "eu.vprodemo.com"}, v: amt.Version{Major: 3},
			certs: []cert{{"rcs.amt.vprodemo.com", []string{"amt.vprodemo.com", "vprodemo.com"}}, {"rcs.eu.vprodemo.com", []string{"vprodemo.com", "eu.vprodemo.com"}}},
		},
		"label rule chain": {
			suffixes: []string{"example.com", "corp.example.com", "lab.corp.example.com"}, v: amt.Version{Major: 4},
			certs: []cert{{"rcs.lab.corp.example.com", []string{"example.com", "corp.example.com", "lab.corp.example.com"}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := Plan(tc.suffixes, tc.host, tc.v)
			if err != nil {
				t.Fatal(err)
			}
			var got []cert
			for _, c := range p.Certificates {
				got = append(got, cert{c.Name, c.Covers})
			}
			if !slices.EqualFunc(got, tc.certs, func(a, b cert) bool { return a.name == b.name && slices.Equal(a.covers, b.covers) }) {
				t.Errorf("certificates %v, want %v", got, tc.certs)
			}
			var uncovered []string
			for _, row := range p.Suffixes {
				if len(row.CoveredBy) == 0 {
					uncovered = append(uncovered, row.Suffix)
					if !strings.Contains(row.Fix, tc.fixHas) || row.Reason == "" {
						t.Errorf("uncovered %s: reason %q, fix %q; want fix ~%q", row.Suffix, row.Reason, row.Fix, tc.fixHas)
					}
				} else if row.Fix != "" || !strings.Contains(row.Reason, " can configure devices in "+row.Suffix) {
					t.Errorf("covered %s: reason %q, fix %q", row.Suffix, row.Reason, row.Fix)
				}
			}
			if !slices.Equal(uncovered, tc.uncovered) {
				t.Errorf("uncovered %v, want %v", uncovered, tc.uncovered)
			}
			if p.Complete() != (len(tc.uncovered) == 0) {
				t.Errorf("Complete() = %v with uncovered %v", p.Complete(), uncovered)
			}
			checkPlanClaims(t, p, tc.v)
			checkPlanMinimal(t, p, tc.v)
		})
	}
}

func TestPlanErrors(t *testing.T) {
	t.Parallel()
	v := amt.Version{Major: 19}
	tests := map[string]struct {
		suffixes []string
		host     string
		want     string
	}{
		"no suffix":       {want: "no device suffix given"},
		"bad suffix":      {suffixes: []string{"ok.example.com", "bad..example.com"}, want: `device suffix 2: DNS name: "bad..example.com": label 2 is empty`},
		"dotted host":     {suffixes: []string{"example.com"}, host: "rcs.corp", want: `host label "rcs.corp" has several labels; want one label such as rcs`},
		"underscore host": {suffixes: []string{"example.com"}, host: "rcs_1", want: "underscore"},
	}
	for name, tc := range tests {
		_, err := Plan(tc.suffixes, tc.host, v)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want ~%q", name, err, tc.want)
		}
	}
	if _, err := Plan([]string{"a b.com"}, "", v); !errors.As(err, new(*amt.RuleError)) {
		t.Errorf("a bad suffix should wrap the name's refusal, got %v", err)
	}
}

// checkPlanClaims verifies a plan with Match alone: every proposal matches
// exactly the suffixes it claims and every public suffix is covered.
// checkPlanMinimal adds that the number of proposals is the minimum a
// brute-force search over all useful names finds.
func checkPlanClaims(t *testing.T, p PlanResult, v amt.Version) {
	t.Helper()
	var public []string
	for _, row := range p.Suffixes {
		if publicSuffix(row.Suffix) {
			public = append(public, row.Suffix)
		}
	}
	covered := map[string]bool{}
	for _, c := range p.Certificates {
		if _, err := ValidateCertName(c.Name); err != nil {
			t.Errorf("proposal %s is not a valid name: %v", c.Name, err)
		}
		var want []string
		for _, d := range public {
			if Match(c.Name, d, v).Match {
				want = append(want, d)
				covered[d] = true
			}
		}
		if len(c.Covers) == 0 || !slices.Equal(c.Covers, want) {
			t.Errorf("proposal %s claims %v, Match says %v", c.Name, c.Covers, want)
		}
		for _, row := range p.Suffixes {
			if Match(c.Name, row.Suffix, v).Match != slices.Contains(row.CoveredBy, c.Name) {
				t.Errorf("row %s: covered_by %v disagrees with Match for %s", row.Suffix, row.CoveredBy, c.Name)
			}
		}
	}
	for _, d := range public {
		if !covered[d] {
			t.Errorf("public suffix %s is covered by no proposal", d)
		}
	}
}

func checkPlanMinimal(t *testing.T, p PlanResult, v amt.Version) {
	t.Helper()
	var public []string
	for _, row := range p.Suffixes {
		if publicSuffix(row.Suffix) {
			public = append(public, row.Suffix)
		}
	}
	if min := bruteForceMin(public, v); len(p.Certificates) != min {
		t.Errorf("plan for %v proposes %d certificates, brute force needs %d", public, len(p.Certificates), min)
	}
}

// bruteForceMin finds the fewest certificate names covering all of public,
// trying every combination of the names that can matter: each suffix's
// ancestors, bare and with a host label in front (any other name covers
// the same set as one of these). Under the extended rule a name shorter than
// its TLD's depth counts only when it is a fleet suffix: otherwise it may be
// a public suffix such as co.uk, which no CA sells.
func bruteForceMin(public []string, v amt.Version) int {
	if len(public) == 0 {
		return 0
	}
	var universe []string
	for _, d := range public {
		for a := d; strings.Contains(a, "."); a = parentName(a) {
			for _, c := range []string{a, "rcs." + a} {
				depth, _ := TLDDepth(lastLabels(c, 1))
				if ExtendedTLD(v) && nameLabels(c) < depth && !slices.Contains(public, c) {
					continue
				}
				if len(c) <= maxNameLen && !slices.Contains(universe, c) {
					universe = append(universe, c)
				}
			}
		}
	}
	cover := make([]uint64, len(universe))
	for i, c := range universe {
		for j, d := range public {
			if Match(c, d, v).Match {
				cover[i] |= 1 << j
			}
		}
	}
	all := uint64(1)<<len(public) - 1
	var try func(start, k int, acc uint64) bool
	try = func(start, k int, acc uint64) bool {
		if acc == all {
			return true
		}
		if k == 0 {
			return false
		}
		for i := start; i < len(universe); i++ {
			if try(i+1, k-1, acc|cover[i]) {
				return true
			}
		}
		return false
	}
	for k := 1; ; k++ {
		if try(0, k, 0) {
			return k
		}
	}
}

// TestPlanOverTable: for every version in the case table, plans for each
// valid suffix alone, for all of them together, and for random subsets
// propose only names Match accepts, and as few as brute force finds.
func TestPlanOverTable(t *testing.T) {
	t.Parallel()
	cases := loadCases(t)
	versions := map[string]amt.Version{}
	var suffixes []string
	for _, c := range cases {
		versions[c.Version] = mustVersion(t, c.Version)
		if d, err := ValidateName(c.Suffix); err == nil && !slices.Contains(suffixes, d) {
			suffixes = append(suffixes, d)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for vs, v := range versions {
		fleets := [][]string{suffixes}
		for _, d := range suffixes {
			fleets = append(fleets, []string{d})
		}
		for range 40 {
			n := 2 + rng.IntN(5)
			f := make([]string, n)
			for i := range f {
				f[i] = suffixes[rng.IntN(len(suffixes))]
			}
			fleets = append(fleets, f)
		}
		for _, f := range fleets {
			p, err := Plan(f, "", v)
			if err != nil {
				t.Fatalf("AMT %s, fleet %v: %v", vs, f, err)
			}
			// The whole table is too big to brute-force the minimum.
			checkPlanClaims(t, p, v)
			if len(f) <= 12 {
				checkPlanMinimal(t, p, v)
			}
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	v := amt.Version{Major: 19}
	for b.Loop() {
		Match("rcs.corp.example.co.uk", "branch.example.co.uk", v)
	}
}

func BenchmarkPlan(b *testing.B) {
	v := amt.Version{Major: 19}
	var fleet []string
	for _, s := range []string{"example.com", "example.net", "example.co.uk", "example.fr", "example.io"} {
		for _, h := range []string{"", "a.", "b.", "c.", "lab.a.", "eu.", "us."} {
			fleet = append(fleet, h+s)
		}
	}
	fleet = append(fleet, "corp.local", "corp")
	b.ResetTimer()
	for b.Loop() {
		if _, err := Plan(fleet, "", v); err != nil {
			b.Fatal(err)
		}
	}
}
