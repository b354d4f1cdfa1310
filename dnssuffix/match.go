// Package dnssuffix decides whether an AMT provisioning certificate can
// configure a device, from the certificate's name and the device's DNS
// suffix (DHCP option 15, or the MEBx PKI DNS suffix), the way the firmware
// of each AMT version decides it; it plans which certificate names to buy
// for a fleet; and it checks DNS before deployment (preflight).
//
// The suffix rule (Match, MatchCertificate, Plan, ValidateName) is pure: it
// must never do I/O, and it is the only place in amtrcs that encodes the
// rule, so the RCS, the CLI and the simulator all call it rather than
// compare names themselves. Its expectations are pinned by
// testdata/match_cases.json, a table of documented cases that no code derives.
package dnssuffix

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
)

// Rule identifiers, stable for scripts reading JSON reports.
const (
	// RuleLabelSuffix: before AMT 4.1/5.1 the device suffix must end the
	// certificate name on a label boundary.
	RuleLabelSuffix = "label-suffix"
	// RuleWildcard: RuleLabelSuffix applied to a wildcard name after its
	// leading "*." is removed.
	RuleWildcard = "wildcard"
	// RuleExtendedTLD: from AMT 4.1/5.1 the certificate name is first cut to
	// its registrable domain by the TLD depth table; any suffix under that
	// domain matches.
	RuleExtendedTLD = "extended-tld"
	// RuleSingleLabel: the device suffix is one label (corp, local, or a
	// bare TLD such as com); no purchasable certificate matches it.
	RuleSingleLabel = "single-label-suffix"
	// RulePrivateSuffix: the device suffix is under a name that is not a
	// public top-level domain (.local and the like), so no public CA sells a
	// certificate that matches it.
	RulePrivateSuffix = "private-suffix"
	// RuleOutsideTLDTable: from AMT 4.1/5.1, for a certificate whose TLD
	// the firmware's depth table does not list (.io, .app, .local, .corp
	// and other new or private TLDs), where the firmware's cut is not
	// documented. A verdict must never say "match" where the firmware may
	// refuse, so only a label-aligned suffix of the certificate's own
	// domain (its name minus the host label, or a wildcard's domain) is
	// trusted: Intel's basic rule, that the device suffix ends the
	// certificate's identity, without any cut.
	RuleOutsideTLDTable = "outside-tld-table"
	// RuleInvalidName: the certificate name or the device suffix is not a
	// DNS name the rule can compare.
	RuleInvalidName = "invalid-name"
)

// defaultHost is the host label proposed in front of a domain when a fix or
// a plan needs a concrete certificate name.
const defaultHost = "rcs"

// Result is the verdict of the suffix rule for one certificate name and one
// device suffix. Reason and Fix are whole sentences for a person; the other
// fields are for programs.
type Result struct {
	Match  bool   `json:"match"`
	Reason string `json:"reason"`
	Fix    string `json:"fix"`
	Rule   string `json:"rule"`
	// Registrable is what the extended TLD rule cut the certificate name to.
	Registrable string `json:"registrable,omitempty"`
	// Name is the certificate name the verdict is about, normalized, with a
	// leading "*." kept; Source says where it came from ("CN" or "SAN").
	Name         string `json:"name,omitempty"`
	Source       string `json:"source,omitempty"`
	DeviceSuffix string `json:"device_suffix,omitempty"`
	AMTVersion   string `json:"amt_version,omitempty"`
	// SuggestedSuffix is a MEBx PKI DNS suffix this certificate name does
	// match; CertificateFor is a certificate name that would match the
	// device suffix. Both are set on a mismatch when they exist, and both
	// are verified by the rule itself in the tests.
	SuggestedSuffix string `json:"suggested_suffix,omitempty"`
	CertificateFor  string `json:"certificate_for,omitempty"`
}

// tldDepth is the extended TLD table of AMT 4.1/5.1 and later (reference
// amt-firmware.md section 4): how many labels of a certificate name the
// firmware keeps for each top-level domain. It is data, not derived from a
// public-suffix list: the firmware carries its own table, and "uk 3" means
// rcs.example.uk is kept whole, unlike what the public-suffix list says.
var tldDepth = map[string]int{
	"net": 2, "com": 2, "org": 2, "gov": 2, "edu": 2, "de": 2, "ch": 2,
	"dk": 2, "cz": 2, "cl": 2, "ua": 2,
	"arpa": 3, "fr": 3, "cn": 3, "nl": 3, "br": 3, "mx": 3, "uk": 3,
	"pl": 3, "tw": 3, "ca": 3, "fi": 3, "be": 3, "ru": 3, "se": 3,
	"ar": 3, "es": 3, "no": 3, "at": 3, "in": 3, "tr": 3, "ro": 3,
	"hu": 3, "nz": 3, "pt": 3, "il": 3, "gr": 3, "co": 3, "ie": 3,
	"za": 3, "th": 3, "sg": 3, "hk": 3, "lt": 3, "id": 3, "hr": 3,
	"ee": 3, "bg": 3,
}

// DefaultTLDDepth is what TLDDepth returns for a TLD the table does not
// list (io, dev, eu, local...). The firmware's cut there is not
// documented, so the suffix rule does not cut by it: it trusts only the
// certificate's own domain (RuleOutsideTLDTable).
const DefaultTLDDepth = 2

// ownDomain is the domain a certificate name is in: the name minus its
// host label, or a wildcard's domain (name already without "*."); a name
// of two labels is its own domain.
func ownDomain(name string, wildcard bool) string {
	if wildcard || nameLabels(name) <= 2 {
		return name
	}
	return parentName(name)
}

// TLDDepth returns the number of labels the extended TLD rule keeps for a
// top-level domain, and whether the table lists it.
func TLDDepth(tld string) (depth int, listed bool) {
	d, ok := tldDepth[strings.ToLower(tld)]
	if !ok {
		return DefaultTLDDepth, false
	}
	return d, true
}

// ExtendedTLD reports whether firmware of version v applies the extended
// TLD rule, which came with AMT 4.1 and 5.1 (the two lines of that time);
// older firmware applies the label-aligned suffix rule only.
func ExtendedTLD(v amt.Version) bool {
	switch {
	case v.Major >= 6:
		return true
	case v.Major == 4 || v.Major == 5:
		return v.Minor >= 1
	}
	return false
}

// privateZones are names under which no public CA issues certificates
// (CA/Browser Forum baseline requirements forbid internal names since
// 2015), so a device whose suffix is under one can be matched only by a
// certificate from a private CA whose root hash is added to the device.
var privateZones = map[string]string{
	"local":       "reserved for multicast DNS (RFC 6762)",
	"localhost":   "reserved for loopback (RFC 6761)",
	"localdomain": "a private default domain, not delegated in the public DNS",
	"test":        "reserved for testing (RFC 6761)",
	"example":     "reserved for documentation (RFC 6761)",
	"invalid":     "reserved as never valid (RFC 6761)",
	"alt":         "reserved for non-DNS names (RFC 9476)",
	"internal":    "reserved by ICANN for private use",
	"home.arpa":   "reserved for home networks (RFC 8375)",
	"corp":        "not delegated in the public DNS (ICANN name-collision list)",
	"home":        "not delegated in the public DNS (ICANN name-collision list)",
	"lan":         "a private name, not delegated in the public DNS",
	"intranet":    "a private name, not delegated in the public DNS",
	"private":     "a private name, not delegated in the public DNS",
}

// PrivateZone says whether name (lower case, no trailing dot) is under a
// zone no public CA issues certificates in, which zone, and why.
func PrivateZone(name string) (zone, why string, ok bool) {
	return privateZone(strings.TrimSuffix(strings.ToLower(name), "."))
}

// privateZone returns the private zone n is in, if any.
func privateZone(n string) (zone, why string, ok bool) {
	for _, k := range []int{2, 1} {
		z := lastLabels(n, k)
		if nameLabels(z) != k {
			continue
		}
		if w, found := privateZones[z]; found {
			return z, w, true
		}
	}
	return "", "", false
}

// Match applies the suffix rule of AMT version v to a certificate name (a
// CN or a SAN DNS name, possibly "*."-prefixed) and a device DNS suffix.
// Names compare case-insensitively and without a trailing dot. Invalid
// names give a Result with Rule RuleInvalidName rather than an error, so
// that a table of verdicts never has holes; use ValidateName or
// ValidateCertName first where an error is wanted.
func Match(certName, deviceSuffix string, v amt.Version) Result {
	r, _ := match("CN", certName, deviceSuffix, v)
	return r
}

// MatchCertificate applies Match to the certificate's subject CN and to each
// of its SAN DNS names, in that order, and returns the first verdict that
// matches; its Source and Name say which name it was. When none matches,
// the Reason lists why for each name.
func MatchCertificate(cert *x509.Certificate, deviceSuffix string, v amt.Version) Result {
	base := Result{Rule: RuleInvalidName, AMTVersion: v.String()}
	d, err := ValidateName(deviceSuffix)
	if err != nil {
		return invalidResult(base, "device suffix", deviceSuffix, err)
	}
	base.DeviceSuffix = d
	if cert == nil {
		base.Reason = "no certificate was given, so no name can match " + d
		base.Fix = "give the provisioning certificate (the leaf)"
		return base
	}
	type named struct{ source, name string }
	var names []named
	if cn := cert.Subject.CommonName; cn != "" {
		names = append(names, named{"CN", cn})
	}
	for _, n := range cert.DNSNames {
		names = append(names, named{"SAN", n})
	}
	if len(names) == 0 {
		base.Reason = fmt.Sprintf("the certificate has no CN and no SAN DNS name, so nothing can match %s", d)
		base.Fix = fmt.Sprintf("use a certificate whose CN is the RCS name, such as %s", certificateFor(d, defaultHost, v))
		return base
	}
	var whys []string
	var first *Result
	for _, n := range names {
		r, why := match(n.source, n.name, d, v)
		if r.Match {
			return r
		}
		whys = append(whys, fmt.Sprintf("%s %s: %s", n.source, r.displayName(n.name), why))
		if first == nil || first.Rule == RuleInvalidName && r.Rule != RuleInvalidName {
			first = &r
		}
	}
	out := *first
	out.Reason = fmt.Sprintf("no name of the certificate can configure devices in %s: %s", d, strings.Join(whys, "; "))
	return out
}

// Refusal is the verdict's refusal part in the one shape every refusal
// of amtrcs takes (rule "domain suffix", what the rule saw, the name it
// wants, the fix), or nil on a match. Reason and Fix stay on the verdict
// for the reports that show a match and a mismatch alike.
func (r Result) Refusal() *amt.RuleError {
	if r.Match {
		return nil
	}
	want := "a certificate name that covers the device suffix"
	if r.DeviceSuffix != "" {
		want += " " + r.DeviceSuffix
	}
	return &amt.RuleError{Rule: amt.RuleSuffix, Seen: r.Reason, Want: want, Fix: r.Fix}
}

func (r Result) displayName(raw string) string {
	if r.Name != "" {
		return r.Name
	}
	return fmt.Sprintf("%q", raw)
}

func invalidResult(r Result, what, name string, err error) Result {
	r.Rule = RuleInvalidName
	r.Match = false
	if problem, ok := NameProblem(err, name); ok {
		re, _ := amt.AsRefusal(err)
		r.Reason = fmt.Sprintf("%s %q is not a DNS name the suffix rule can compare: %s", what, name, problem)
		r.Fix = re.Fix
		return r
	}
	r.Reason = fmt.Sprintf("%s: %v", what, err)
	r.Fix = "give a DNS name such as corp.example.com"
	return r
}

// match is Match with the name's source for the messages; it also returns
// the bare explanation (the part of Reason after the colon) so that
// MatchCertificate can list several.
func match(source, certName, deviceSuffix string, v amt.Version) (Result, string) {
	r := Result{Source: source, AMTVersion: v.String()}
	name, wildcard, err := parseCertName(certName)
	if err != nil {
		r = invalidResult(r, "certificate name", certName, err)
		return r, r.Reason
	}
	r.Name = name
	if wildcard {
		r.Name = "*." + name
	}
	d, err := ValidateName(deviceSuffix)
	if err != nil {
		r = invalidResult(r, "device suffix", deviceSuffix, err)
		return r, r.Reason
	}
	r.DeviceSuffix = d
	extended := ExtendedTLD(v)
	subject := source + " " + r.Name
	if wildcard {
		subject += " (read as " + name + ")"
	}
	verdict := func(ok bool, why string) (Result, string) {
		r.Match = ok
		can := "cannot"
		if ok {
			can = "can"
		}
		r.Reason = fmt.Sprintf("%s %s configure devices in %s: %s", subject, can, d, why)
		if !ok && r.Fix == "" {
			r.SuggestedSuffix = suggestedSuffix(name, wildcard, r.Registrable, extended)
			r.CertificateFor = certificateFor(d, defaultHost, v)
			r.Fix = fmt.Sprintf("%s, or set the MEBx PKI DNS suffix to %s", buyAdvice(d, v), r.SuggestedSuffix)
		}
		return r, why
	}

	if nameLabels(d) == 1 {
		r.Rule = RuleSingleLabel
		r.SuggestedSuffix = suggestedSuffix(name, wildcard, registrable(name, extended), extended)
		if depth, listed := TLDDepth(d); listed {
			r.Fix = fmt.Sprintf("set the device's DNS suffix (DHCP option 15, or the MEBx PKI DNS suffix) to the domain it is in, such as %s", r.SuggestedSuffix)
			return verdict(false, fmt.Sprintf("%s is a top-level domain (the TLD table keeps %d labels for it), not a domain devices live in, so no certificate name matches it", d, depth))
		}
		r.Fix = fmt.Sprintf("set the MEBx PKI DNS suffix to %s on these devices (Intel advises this when DHCP option 15 is a single label such as .corp or .local)", r.SuggestedSuffix)
		return verdict(false, fmt.Sprintf("%s is a single-label suffix; no public CA issues certificates under a single-label name, and a certificate name needs at least two labels, so no purchased certificate can match it", d))
	}
	if zone, why, ok := privateZone(d); ok && !underOrEqual(name, zone) {
		r.Rule = RulePrivateSuffix
		r.SuggestedSuffix = suggestedSuffix(name, wildcard, registrable(name, extended), extended)
		r.CertificateFor = certificateFor(d, defaultHost, v)
		r.Fix = fmt.Sprintf("set the MEBx PKI DNS suffix to %s on these devices (Intel advises this when DHCP option 15 is .local or .corp), or issue %s from a private CA whose root hash you add to every device", r.SuggestedSuffix, r.CertificateFor)
		return verdict(false, fmt.Sprintf(".%s is %s, not a public top-level domain, so no public CA sells a certificate under it and a purchased certificate can never match it", zone, why))
	}
	var note string
	if zone, _, ok := privateZone(name); ok {
		note = fmt.Sprintf("; note that no public CA issues certificates under .%s, so this one must come from a private CA whose root hash is added to every device", zone)
	}

	if !extended {
		r.Rule = RuleLabelSuffix
		if wildcard {
			r.Rule = RuleWildcard
		}
		base := fmt.Sprintf("AMT %s predates extended TLD support (AMT 4.1/5.1), so the device suffix must end the certificate name on a label boundary", v)
		if underOrEqual(name, d) {
			return verdict(true, fmt.Sprintf("%s, and %s does%s", base, d, note))
		}
		return verdict(false, fmt.Sprintf("%s, and %s does not end %s", base, d, name))
	}

	tld := lastLabels(name, 1)
	depth, listed := TLDDepth(tld)
	if !listed {
		r.Rule = RuleOutsideTLDTable
		own := ownDomain(name, wildcard)
		r.Registrable = own
		base := fmt.Sprintf(".%s is not in AMT's TLD depth table and the firmware's cut for it is not documented, so only the certificate's own domain %s and the domains above it are trusted to match", tld, own)
		if underOrEqual(own, d) {
			rel := "is that domain"
			if d != own {
				rel = "ends it on a label boundary"
			}
			return verdict(true, fmt.Sprintf("%s, and %s %s%s", base, d, rel, note))
		}
		r.SuggestedSuffix = own
		r.CertificateFor = certificateFor(d, defaultHost, v)
		r.Fix = fmt.Sprintf("%s, or set the MEBx PKI DNS suffix to %s", buyAdvice(d, v), own)
		return verdict(false, fmt.Sprintf("%s; %s does not end %s (some firmware may accept it, none is documented to)", base, d, own))
	}
	r.Rule = RuleExtendedTLD
	r.Registrable = lastLabels(name, depth)
	how := fmt.Sprintf(".%s keeps %d labels", tld, depth)
	if nameLabels(name) < depth {
		how += fmt.Sprintf("; the name has only %d, so it is kept whole", nameLabels(name))
	}
	cut := fmt.Sprintf("AMT %s cuts it to %s (%s)", v, r.Registrable, how)
	if underOrEqual(d, r.Registrable) {
		rel := "is under it"
		if d == r.Registrable {
			rel = "is that domain"
		}
		return verdict(true, fmt.Sprintf("%s, and %s %s%s", cut, d, rel, note))
	}
	return verdict(false, fmt.Sprintf("%s, and %s is not under %s", cut, d, r.Registrable))
}

// registrable is what the firmware compares a certificate name by: the
// extended TLD cut, or the whole name before AMT 4.1/5.1.
func registrable(name string, extended bool) string {
	if !extended {
		return name
	}
	depth, listed := TLDDepth(lastLabels(name, 1))
	if !listed {
		return ownDomain(name, false)
	}
	return lastLabels(name, depth)
}

// suggestedSuffix is a MEBx PKI DNS suffix the certificate name matches:
// the name's own domain (the name minus its host label) when the rule
// allows it, as an admin would expect, else the registrable part.
func suggestedSuffix(name string, wildcard bool, reg string, extended bool) string {
	if wildcard {
		return name
	}
	p := parentName(name)
	if nameLabels(p) >= 2 && (!extended || underOrEqual(p, reg)) {
		return p
	}
	if extended {
		return reg
	}
	return name
}

// certificateFor is a certificate name that the rule of version v matches
// against the (valid, multi-label) device suffix d: host in front of the
// domain the rule compares by, or the bare domain when the TLD table keeps
// more labels than d has (any longer name would be cut below d).
func certificateFor(d, host string, v amt.Version) string {
	dom := d
	if ExtendedTLD(v) {
		depth, listed := TLDDepth(lastLabels(d, 1))
		if listed && nameLabels(d) < depth {
			return d
		}
		if listed {
			dom = lastLabels(d, depth)
		}
	}
	c := host + "." + dom
	if len(c) > maxNameLen {
		return dom
	}
	return c
}

// buyAdvice says which certificate names would configure devices in d.
func buyAdvice(d string, v amt.Version) string {
	if !ExtendedTLD(v) {
		return fmt.Sprintf("buy a certificate for a name under %s", d)
	}
	tld := lastLabels(d, 1)
	depth, listed := TLDDepth(tld)
	if !listed {
		return fmt.Sprintf("buy a certificate for a host directly in %s, such as %s.%s (.%s is not in AMT's TLD depth table, so no wider name is sure to match)", d, defaultHost, d, tld)
	}
	if nameLabels(d) < depth {
		return fmt.Sprintf("buy a certificate for exactly %s (.%s keeps %d labels, so a longer name would be cut below %s)", d, tld, depth, d)
	}
	return fmt.Sprintf("buy a certificate for a name under %s", lastLabels(d, depth))
}
