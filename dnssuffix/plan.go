package dnssuffix

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
)

// PlannedCertificate is one certificate name to buy and the fleet suffixes
// it configures.
type PlannedCertificate struct {
	Name string `json:"name"`
	// Registrable is what the extended TLD rule cuts Name to; empty before
	// AMT 4.1/5.1, where the whole name is compared.
	Registrable string   `json:"registrable,omitempty"`
	Covers      []string `json:"covers"`
}

// SuffixCoverage is one row of the coverage table: a device suffix and the
// planned certificates that configure it, or why none can and the fix.
type SuffixCoverage struct {
	Suffix    string   `json:"suffix"`
	CoveredBy []string `json:"covered_by"`
	Rule      string   `json:"rule"`
	Reason    string   `json:"reason"`
	Fix       string   `json:"fix,omitempty"`
}

// PlanResult is the proposal for a fleet: the fewest certificate names that
// configure every suffix a public certificate can, and a row per suffix.
type PlanResult struct {
	AMTVersion   string               `json:"amt_version"`
	Rule         string               `json:"rule"` // RuleExtendedTLD or RuleLabelSuffix
	Host         string               `json:"host"`
	Certificates []PlannedCertificate `json:"certificates"`
	Suffixes     []SuffixCoverage     `json:"suffixes"`
}

// Complete reports whether every suffix of the fleet is covered.
func (p PlanResult) Complete() bool {
	for _, s := range p.Suffixes {
		if len(s.CoveredBy) == 0 {
			return false
		}
	}
	return true
}

// Plan proposes certificate names for a fleet whose devices have the given
// DNS suffixes (DHCP option 15 or MEBx PKI DNS suffix) and run AMT version v
// (give the oldest version of the fleet: the rule only widens with newer
// firmware). host is the label in front of each proposed domain; empty
// means "rcs". Every proposal is checked with Match against every suffix,
// so the plan can never claim a coverage the rule denies.
//
// The proposal is minimal: each suffix d has one natural candidate (host
// in front of the domain the rule compares d by), the candidates' coverage
// sets are nested or disjoint, and keeping only the candidates no other
// candidate's coverage contains leaves each kept one covering a suffix
// that nothing else covers. A name with fewer labels than its TLD keeps
// (example.uk, uk keeping 3) is proposed only when it is itself a fleet
// suffix: without a public-suffix list, that is the only sign it is a
// registered domain and not a public suffix such as co.uk, which would
// "cover" all of co.uk but which no CA sells.
func Plan(suffixes []string, host string, v amt.Version) (PlanResult, error) {
	if host == "" {
		host = defaultHost
	}
	h, err := ValidateName(host)
	if err != nil {
		return PlanResult{}, fmt.Errorf("host label: %w", err)
	}
	if strings.Contains(h, ".") {
		return PlanResult{}, fmt.Errorf("host label %q has several labels; want one label such as rcs, which the plan puts in front of each domain", host)
	}
	if len(suffixes) == 0 {
		return PlanResult{}, errors.New("no device suffix given; want the fleet's DNS suffixes (DHCP option 15 or MEBx PKI DNS suffix), such as corp.example.com")
	}
	p := PlanResult{AMTVersion: v.String(), Rule: RuleLabelSuffix, Host: h, Certificates: []PlannedCertificate{}}
	if ExtendedTLD(v) {
		p.Rule = RuleExtendedTLD
	}

	var fleet []string
	seen := map[string]bool{}
	for i, s := range suffixes {
		d, err := ValidateName(s)
		if err != nil {
			return PlanResult{}, fmt.Errorf("device suffix %d: %w", i+1, err)
		}
		if !seen[d] {
			seen[d] = true
			fleet = append(fleet, d)
		}
	}

	// Suffixes no public certificate can match are set aside; the rest each
	// bring their candidate.
	var public []string
	var candidates []string
	for _, d := range fleet {
		if !publicSuffix(d) {
			continue
		}
		public = append(public, d)
		c := certificateFor(d, h, v)
		if r := Match(c, d, v); !r.Match {
			return PlanResult{}, fmt.Errorf("plan: candidate %s does not match %s under the rule (%s); this is a bug in the planner", c, d, r.Reason)
		}
		if !slices.Contains(candidates, c) {
			candidates = append(candidates, c)
		}
	}
	slices.Sort(candidates)
	cover := map[string][]string{}
	for _, c := range candidates {
		for _, d := range public {
			if Match(c, d, v).Match {
				cover[c] = append(cover[c], d)
			}
		}
	}
	for _, c := range candidates {
		dominated := false
		for _, o := range candidates {
			if o == c || !subset(cover[c], cover[o]) {
				continue
			}
			// Equal coverage keeps the first name in order only.
			if len(cover[c]) < len(cover[o]) || o < c {
				dominated = true
				break
			}
		}
		if !dominated {
			pc := PlannedCertificate{Name: c, Covers: cover[c]}
			if p.Rule == RuleExtendedTLD {
				pc.Registrable = registrable(c, true)
			}
			p.Certificates = append(p.Certificates, pc)
		}
	}

	// A fleet suffix the private-suffix fix can point at: one the plan
	// covers, so the advice is a name the devices' certificate matches.
	var target string
	if len(p.Certificates) > 0 {
		target = p.Certificates[0].Covers[0]
	}
	for _, d := range fleet {
		row := SuffixCoverage{Suffix: d, CoveredBy: []string{}}
		for _, c := range p.Certificates {
			if slices.Contains(c.Covers, d) {
				row.CoveredBy = append(row.CoveredBy, c.Name)
			}
		}
		if len(row.CoveredBy) > 0 {
			r := Match(row.CoveredBy[0], d, v)
			row.Rule, row.Reason = r.Rule, r.Reason
		} else {
			// Reuse the rule's own wording for why nothing matches, with a
			// stand-in public name; the fix is then the plan's own.
			r, why := match("CN", certificateFor("example.com", h, v), d, v)
			row.Rule = r.Rule
			row.Reason = fmt.Sprintf("no public certificate can configure devices in %s: %s", d, why)
			if target != "" {
				row.Fix = fmt.Sprintf("set the MEBx PKI DNS suffix on these devices to %s (covered by %s), or use a private CA whose root hash you add to every device", target, p.Certificates[0].Name)
			} else {
				row.Fix = "set the MEBx PKI DNS suffix on these devices to a public domain you own, such as corp.example.com, and plan again; or use a private CA whose root hash you add to every device"
			}
		}
		p.Suffixes = append(p.Suffixes, row)
	}
	return p, nil
}

// publicSuffix reports whether a certificate from a public CA can match the
// device suffix d at all.
func publicSuffix(d string) bool {
	if nameLabels(d) == 1 {
		return false
	}
	_, _, private := privateZone(d)
	return !private
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
