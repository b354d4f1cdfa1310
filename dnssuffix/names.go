package dnssuffix

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/amtrcs/amtrcs/amt"
	"golang.org/x/net/idna"
)

// DNS name limits of RFC 1035 section 2.3.4, counted without the trailing
// dot of the root.
const (
	maxLabelLen = 63
	maxNameLen  = 253
)

// RuleDNSName is the rule of a refused DNS name: the refusal (an
// *amt.RuleError, the one shape) sees the name as given with what is wrong
// with it, wants nameWant, and says how to write it instead, so that every
// caller (CLI, API, config, preflight) shows the same one-line message.
const RuleDNSName = "DNS name"

const nameWant = "a DNS name such as corp.example.com (ASCII letters, digits, inner hyphens; labels of 1 to 63, 253 in all)"

func nameRefusal(name, problem, fix string) *amt.RuleError {
	return &amt.RuleError{Rule: RuleDNSName, Seen: strconv.Quote(name) + ": " + problem, Want: nameWant, Fix: fix}
}

// NameProblem is what a refusal of ValidateName or ValidateCertName says
// is wrong with name, without the name, for callers that name it
// themselves ("domain corp suffix ...: it starts with a dot").
func NameProblem(err error, name string) (string, bool) {
	r, ok := amt.AsRefusal(err)
	if !ok || r.Rule != RuleDNSName {
		return "", false
	}
	return strings.TrimPrefix(r.Seen, strconv.Quote(name)+": "), true
}

// ValidateName checks a DNS name taken from a user (a device suffix, a host
// name, the part of a certificate name after "*.") and returns it in the form
// the suffix rule compares: lower case, without the trailing dot. It refuses
// what neither a public CA nor AMT firmware accepts: empty names and labels,
// labels over 63 or names over 253 characters, anything but letters, digits
// and inner hyphens (so no spaces, underscores or wildcards), non-ASCII
// (the firmware compares bytes, so an IDN must be given as its xn-- A-label),
// and IP addresses.
func ValidateName(s string) (string, error) {
	fail := func(problem, fix string) (string, error) {
		return "", nameRefusal(s, problem, fix)
	}
	if s == "" {
		return fail("the name is empty", "give a name such as corp.example.com")
	}
	if !utf8.ValidString(s) {
		return fail("the name is not valid UTF-8", "give a name such as corp.example.com in ASCII")
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			// The suggested A-label must itself pass, or the fix would
			// lead to the next refusal (U+200B maps to nothing, say).
			if a, err := idna.Lookup.ToASCII(s); err == nil && isASCII(a) {
				if an, err := ValidateName(a); err == nil {
					return fail("it contains non-ASCII characters, which AMT firmware does not compare as an IDN",
						fmt.Sprintf("use the punycode A-label form %s", an))
				}
			}
			return fail("it contains non-ASCII characters and has no valid punycode form",
				"give the name in ASCII letters, digits and hyphens, with any IDN label as its xn-- A-label")
		}
	}
	n := strings.ToLower(s)
	if strings.HasSuffix(n, "..") || n == "." {
		return fail("it ends in an empty label", "write at most one trailing dot, as in corp.example.com.")
	}
	n = strings.TrimSuffix(n, ".")
	if strings.HasPrefix(n, ".") {
		// Quote the name without the dot only when it is itself valid, so
		// the fix never leads to the next refusal.
		if rest, err := ValidateName(strings.TrimLeft(n, ".")); err == nil {
			return fail("it starts with a dot", "drop the leading dot: "+rest)
		}
		return fail("it starts with a dot", "drop the leading dot")
	}
	if len(n) > maxNameLen {
		return fail(fmt.Sprintf("it is %d characters long, over the DNS limit of %d", len(n), maxNameLen),
			"use a shorter name")
	}
	labels := strings.Split(n, ".")
	for i, l := range labels {
		if l == "" {
			return fail(fmt.Sprintf("label %d is empty (two dots in a row)", i+1),
				"separate labels with single dots, as in rcs.corp.example.com")
		}
		if len(l) > maxLabelLen {
			return fail(fmt.Sprintf("label %d is %d characters long, over the DNS limit of %d", i+1, len(l), maxLabelLen),
				"shorten that label")
		}
		for j := 0; j < len(l); j++ {
			c := l[j]
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
			case c == ' ' || c == '\t' || c == '\n' || c == '\r':
				return fail(fmt.Sprintf("label %q contains whitespace", l), "remove the spaces")
			case c == '_':
				return fail(fmt.Sprintf("label %q contains an underscore, which is not allowed in host names and which public CAs no longer issue", l),
					"use a hyphen instead of the underscore")
			case c == '*':
				return fail(fmt.Sprintf("label %q contains a wildcard", l),
					"a wildcard is allowed only as the whole leftmost label of a certificate name, as in *.corp.example.com; device suffixes never have one")
			default:
				return fail(fmt.Sprintf("label %q contains %q", l, c), "use only letters, digits and hyphens")
			}
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fail(fmt.Sprintf("label %q starts or ends with a hyphen", l), "put hyphens only inside a label")
		}
	}
	if allDigits(labels[len(labels)-1]) {
		return fail("it looks like an IP address (the last label is all digits), and the suffix rule compares DNS names",
			"give the DNS name, not the address")
	}
	return n, nil
}

// ValidateCertName checks a certificate name (CN or SAN DNS name) the way
// the suffix rule reads it: an optional leading "*." (the whole leftmost
// label), then a DNS name of at least two labels, because a certificate for
// a bare top-level domain is never issued and would match no device. It
// returns the name normalized, with "*." kept.
func ValidateCertName(s string) (string, error) {
	name, wildcard, err := parseCertName(s)
	if err != nil {
		return "", err
	}
	if wildcard {
		return "*." + name, nil
	}
	return name, nil
}

// parseCertName is ValidateCertName with the wildcard reported apart.
func parseCertName(s string) (name string, wildcard bool, err error) {
	rest, wildcard := strings.CutPrefix(s, "*.")
	n, err := ValidateName(rest)
	if err != nil {
		if r, ok := err.(*amt.RuleError); ok {
			r.Seen = strconv.Quote(s) + strings.TrimPrefix(r.Seen, strconv.Quote(rest))
		}
		return "", false, err
	}
	if strings.Count(n, ".") == 0 {
		what := "a bare top-level domain"
		if wildcard {
			what = "a wildcard over a bare top-level domain"
		}
		return "", false, nameRefusal(s, "it is "+what+", which no CA issues and which the suffix rule cannot cut to a domain",
			"give the certificate's full name, such as "+exampleUnder(n))
	}
	return n, wildcard, nil
}

// exampleUnder keeps the fix of a bare-TLD refusal sensible: under a known
// TLD it shows a name in that TLD, else a generic one.
func exampleUnder(tld string) string {
	if _, ok := tldDepth[tld]; ok {
		return "rcs.example." + tld
	}
	return "rcs.example.com"
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func isLDHName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return s != ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// nameLabels counts the labels of a normalized name.
func nameLabels(n string) int { return strings.Count(n, ".") + 1 }

// lastLabels returns the last k labels of a normalized name (all of it when
// it has fewer).
func lastLabels(n string, k int) string {
	i := len(n)
	for ; k > 0; k-- {
		j := strings.LastIndexByte(n[:i], '.')
		if j < 0 {
			return n
		}
		i = j
	}
	return n[i+1:]
}

// underOrEqual reports whether name is domain itself or a name under it, on
// a label boundary ("xexample.com" is not under "example.com").
func underOrEqual(name, domain string) bool {
	return name == domain || strings.HasSuffix(name, "."+domain)
}

// parentName drops the leftmost label; "" for a single label.
func parentName(n string) string {
	if i := strings.IndexByte(n, '.'); i >= 0 {
		return n[i+1:]
	}
	return ""
}
