package dnssuffix

import (
	"strconv"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
)

func TestValidateName(t *testing.T) {
	t.Parallel()
	long63 := strings.Repeat("a", 63)
	tests := []struct {
		in      string
		want    string // normalized, when valid
		problem string // substring of the problem, when refused
		fix     string // substring of the fix, when refused
	}{
		{in: "corp.example.com", want: "corp.example.com"},
		{in: "Corp.Example.COM.", want: "corp.example.com"},
		{in: "local", want: "local"},
		{in: "xn--bcher-kva.de", want: "xn--bcher-kva.de"},
		{in: "a-b.c--d.com", want: "a-b.c--d.com"},
		{in: "3com.com", want: "3com.com"},
		{in: long63 + ".com", want: long63 + ".com"},
		{in: "", problem: "empty", fix: "corp.example.com"},
		{in: ".", problem: "empty label"},
		{in: "example.com..", problem: "empty label", fix: "at most one trailing dot"},
		{in: ".local", problem: "starts with a dot", fix: "drop the leading dot: local"},
		{in: "a..b.com", problem: "label 2 is empty", fix: "single dots"},
		{in: long63 + "a.com", problem: "label 1 is 64 characters long, over the DNS limit of 63", fix: "shorten"},
		{in: strings.Repeat("abcdefghi.", 25) + "comx", problem: "254 characters long, over the DNS limit of 253", fix: "shorter"},
		{in: strings.Repeat("abcdefghi.", 25) + "com.", want: strings.Repeat("abcdefghi.", 25) + "com"},
		{in: "corp example.com", problem: `label "corp example" contains whitespace`, fix: "remove the spaces"},
		{in: " corp.example.com", problem: "whitespace"},
		{in: "corp.example.com\n", problem: "whitespace"},
		{in: "_amt.example.com", problem: "underscore", fix: "hyphen"},
		{in: "*.example.com", problem: "wildcard", fix: "leftmost label of a certificate name"},
		{in: "-rcs.example.com", problem: "starts or ends with a hyphen"},
		{in: "rcs-.example.com", problem: "starts or ends with a hyphen"},
		{in: "rcs@example.com", problem: `contains '@'`},
		{in: "bücher.de", problem: "non-ASCII", fix: "xn--bcher-kva.de"},
		{in: "ÄMT.Bücher.DE", problem: "non-ASCII", fix: "xn--mt-uia.xn--bcher-kva.de"},
		{in: "\u200b.com", problem: "no valid punycode form", fix: "A-label"},
		{in: "a\xffb.com", problem: "not valid UTF-8"},
		{in: "192.168.1.10", problem: "IP address", fix: "DNS name"},
		{in: "10.0.0.1.", problem: "IP address"},
	}
	for _, tc := range tests {
		got, err := ValidateName(tc.in)
		if tc.problem == "" {
			if err != nil || got != tc.want {
				t.Errorf("ValidateName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		problem, fix, ok := nameRefused(err, tc.in)
		if !ok {
			t.Errorf("ValidateName(%q) = %q, %v; want a name refusal about %q", tc.in, got, err, tc.problem)
			continue
		}
		if !strings.Contains(problem, tc.problem) || !strings.Contains(fix, tc.fix) {
			t.Errorf("ValidateName(%q): %v; want problem ~%q, fix ~%q", tc.in, err, tc.problem, tc.fix)
		}
		if strings.Contains(err.Error(), "\n") && !strings.Contains(tc.in, "\n") {
			t.Errorf("ValidateName(%q): error spans lines: %q", tc.in, err)
		}
	}
}

func TestValidateCertName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, problem, fix string
	}{
		{in: "*.Corp.Example.com.", want: "*.corp.example.com"},
		{in: "RCS.example.com", want: "rcs.example.com"},
		{in: "com", problem: "bare top-level domain", fix: "such as rcs.example.com"},
		{in: "UK.", problem: "bare top-level domain", fix: "such as rcs.example.uk"},
		{in: "corp", problem: "bare top-level domain", fix: "such as rcs.example.com"},
		{in: "*.com", problem: "wildcard over a bare top-level domain"},
		{in: "*.*.example.com", problem: "wildcard"},
		{in: "*", problem: "wildcard"},
		{in: "*.", problem: "empty"},
		{in: "rcs.*.example.com", problem: "wildcard"},
	}
	for _, tc := range tests {
		got, err := ValidateCertName(tc.in)
		if tc.problem == "" {
			if err != nil || got != tc.want {
				t.Errorf("ValidateCertName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		problem, fix, ok := nameRefused(err, tc.in)
		if !ok || !strings.Contains(problem, tc.problem) || !strings.Contains(fix, tc.fix) {
			t.Errorf("ValidateCertName(%q) = %q, %v; want a refusal about %q naming the input", tc.in, got, err, tc.problem)
		}
	}
}

// FuzzValidateName: never panics; what it accepts is normalized (idempotent,
// lower case, no trailing dot, within the DNS limits, letters digits
// hyphens and dots only) and independent of case and one trailing dot;
// what it refuses is a name refusal naming the input with a fix.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{
		"corp.example.com", "Corp.Example.COM.", "local", "", ".", "..", "a..b", ".local",
		"bücher.de", "xn--bcher-kva.de", "_amt.example.com", "*.example.com", "192.168.1.1",
		"-a.com", "a-.com", "a b.com", strings.Repeat("a", 64) + ".com", strings.Repeat("a.", 127) + "a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ValidateName(s)
		if err != nil {
			if problem, fix, ok := nameRefused(err, s); !ok || problem == "" || fix == "" {
				t.Fatalf("ValidateName(%q): %v is not a complete name refusal", s, err)
			}
			return
		}
		if len(n) == 0 || len(n) > maxNameLen || strings.HasSuffix(n, ".") || n != strings.ToLower(n) || !isLDHName(n) {
			t.Fatalf("ValidateName(%q) = %q, not a normalized name", s, n)
		}
		for _, l := range strings.Split(n, ".") {
			if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
				t.Fatalf("ValidateName(%q) = %q has a bad label %q", s, n, l)
			}
		}
		for _, alt := range []string{n, n + ".", asciiUpper(s), addDot(s)} {
			if m, err := ValidateName(alt); err != nil || m != n {
				t.Fatalf("ValidateName(%q) = %q, %v; want %q as for %q", alt, m, err, n, s)
			}
		}
	})
}

// nameRefused is what a refusal of name says is wrong and how to fix it,
// when err is a complete refusal in the one shape that names name.
func nameRefused(err error, name string) (problem, fix string, ok bool) {
	r, isRefusal := amt.AsRefusal(err)
	if !isRefusal || r.Rule != RuleDNSName || r.Want == "" || !strings.HasPrefix(r.Seen, strconv.Quote(name)+": ") {
		return "", "", false
	}
	problem, _ = NameProblem(err, name)
	return problem, r.Fix, true
}
