package dnssuffix

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/miekg/dns"
)

// update rewrites the golden files deliberately; a plain run only compares.
var update = flag.Bool("update", false, "rewrite golden files")

var allZones = []string{
	"corp.example.com.zone", "branch.example.net.zone", "lab.example.org.zone",
	"2.0.192.in-addr.arpa.zone", "100.51.198.in-addr.arpa.zone",
}

var v16 = amt.Version{Major: 16, Minor: 1}

// want is a finding the test expects: severity, subject, check, and a
// fragment of the message (and of the fix, when set).
type want struct {
	sev              Severity
	subject, check   string
	message, fixPart string
}

func (w want) String() string { return fmt.Sprintf("%s %s [%s]", w.sev, w.subject, w.check) }

func TestPreflight(t *testing.T) {
	t.Parallel()
	rcs := []string{"192.0.2.10", "2001:db8::10"}
	tests := map[string]struct {
		servers func(t *testing.T) []string // resolver addresses
		in      PreflightInput
		// timeout per query: short where a resolver never answers, else
		// generous so a loaded machine does not turn answers into timeouts.
		timeout time.Duration
		// problems lists every finding that is not ok, exactly; oks lists
		// ok findings that must be present.
		problems []want
		oks      []want
	}{
		"correct setup": {
			servers: func(t *testing.T) []string { return []string{startDNS(t, loadZones(t, allZones...))} },
			in: PreflightInput{
				Suffixes: []string{"corp.example.com"}, CertNames: []string{"rcs.corp.example.com"}, RCSAddresses: rcs,
				Devices: []DeviceName{{Name: "pc1.corp.example.com", IP: "192.0.2.41", AMTFQDN: "PC1.corp.example.com.", OSFQDN: "pc1.corp.example.com"}},
			},
			oks: []want{
				{SeverityOK, "corp.example.com", CheckSuffixCoverage, "covered by certificate rcs.corp.example.com", ""},
				{SeverityOK, "ProvisionServer.corp.example.com", CheckProvisionServer, "192.0.2.10, 2001:db8::10 (this RCS)", ""},
				{SeverityOK, "rcs.corp.example.com", CheckCertName, "(this RCS)", ""},
				{SeverityOK, "pc1.corp.example.com", CheckDeviceForward, "resolves to 192.0.2.41", ""},
				{SeverityOK, "192.0.2.41", CheckDeviceReverse, "leads back to pc1.corp.example.com", ""},
				{SeverityOK, "pc1.corp.example.com", CheckDeviceRename, "both report pc1.corp.example.com", ""},
				{SeverityOK, "resolver ", CheckResolver, "answered all 7 queries", ""},
			},
		},
		"missing ProvisionServer": {
			servers: func(t *testing.T) []string { return []string{startDNS(t, loadZones(t, allZones...))} },
			in:      PreflightInput{Suffixes: []string{"lab.example.org"}, CertNames: []string{"*.lab.example.org"}, RCSAddresses: rcs},
			problems: []want{
				{SeverityWarning, "ProvisionServer.lab.example.org", CheckProvisionServer, "does not exist (NXDOMAIN)", "ProvisionServer.lab.example.org. IN A 192.0.2.10 and ProvisionServer.lab.example.org. IN AAAA 2001:db8::10"},
				{SeverityInfo, "*.lab.example.org", CheckCertName, "wildcard", "lab.example.org"},
			},
			oks: []want{{SeverityOK, "lab.example.org", CheckSuffixCoverage, "covered", ""}},
		},
		"ProvisionServer elsewhere and suffix not covered": {
			servers: func(t *testing.T) []string { return []string{startDNS(t, loadZones(t, allZones...))} },
			in:      PreflightInput{Suffixes: []string{"branch.example.net"}, CertNames: []string{"rcs.corp.example.com"}, RCSAddresses: rcs},
			problems: []want{
				{SeverityError, "ProvisionServer.branch.example.net", CheckProvisionServer, "resolves to 198.51.100.99, not to this RCS (192.0.2.10, 2001:db8::10)", "replace the records"},
				{SeverityError, "branch.example.net", CheckSuffixCoverage, "not covered by any provisioning certificate", ""},
			},
			oks: []want{{SeverityOK, "rcs.corp.example.com", CheckCertName, "this RCS", ""}},
		},
		"no RCS address to compare": {
			servers: func(t *testing.T) []string { return []string{startDNS(t, loadZones(t, allZones...))} },
			in:      PreflightInput{Suffixes: []string{"branch.example.net"}},
			problems: []want{
				{SeverityInfo, "ProvisionServer.branch.example.net", CheckProvisionServer, "resolves to 198.51.100.99; not compared", "--rcs-address"},
				{SeverityWarning, "branch.example.net", CheckSuffixCoverage, "no provisioning certificate name", "--cert-name"},
			},
		},
		"CN unresolvable, CN through a CNAME": {
			servers: func(t *testing.T) []string { return []string{startDNS(t, loadZones(t, allZones...))} },
			in:      PreflightInput{CertNames: []string{"rcs-old.corp.example.com", "provisioning.corp.example.com"}, RCSAddresses: rcs},
			problems: []want{
				{SeverityError, "rcs-old.corp.example.com", CheckCertName, "rcs-old.corp.example.com does not exist (NXDOMAIN)", "rcs-old.corp.example.com. IN A 192.0.2.10"},
			},
			oks: []want{{SeverityOK, "provisioning.corp.example.com", CheckCertName, "resolves to 192.0.2.10, 2001:db8::10 (this RCS)", ""}},
		},
		"forward and reverse mismatch": {
			servers: func(t *testing.T) []string { return []string{startDNS(t, loadZones(t, allZones...))} },
			in: PreflightInput{Devices: []DeviceName{
				{Name: "pc2.corp.example.com", IP: "192.0.2.42"},
				{Name: "pc1.corp.example.com", IP: "192.0.2.99"},
				{Name: "pc7.branch.example.net", IP: "198.51.100.47"},
				{Name: "pc404.corp.example.com", IP: "192.0.2.44"},
			}},
			problems: []want{
				{SeverityError, "192.0.2.42", CheckDeviceReverse, "leads back to kiosk9.corp.example.com, want pc2.corp.example.com", "42.2.0.192.in-addr.arpa. IN PTR pc2.corp.example.com."},
				{SeverityError, "pc1.corp.example.com", CheckDeviceForward, "resolves to 192.0.2.41, want 192.0.2.99", "change the record of pc1.corp.example.com to 192.0.2.99"},
				{SeverityWarning, "192.0.2.99", CheckDeviceReverse, "no PTR record", "99.2.0.192.in-addr.arpa. IN PTR pc1.corp.example.com."},
				{SeverityWarning, "198.51.100.47", CheckDeviceReverse, "no PTR record", ""},
				{SeverityError, "pc404.corp.example.com", CheckDeviceForward, "does not exist (NXDOMAIN), want 192.0.2.44", "pc404.corp.example.com. IN A 192.0.2.44"},
				{SeverityWarning, "192.0.2.44", CheckDeviceReverse, "no PTR record", ""},
			},
			oks: []want{
				{SeverityOK, "pc2.corp.example.com", CheckDeviceForward, "resolves to 192.0.2.42", ""},
				{SeverityOK, "pc7.branch.example.net", CheckDeviceForward, "resolves to 198.51.100.47", ""},
			},
		},
		"renamed device": {
			servers: func(t *testing.T) []string { return []string{startDNS(t, loadZones(t, allZones...))} },
			in: PreflightInput{Devices: []DeviceName{
				{ID: "dev-3", Name: "pc3.corp.example.com", IP: "192.0.2.43", AMTFQDN: "old-pc3.corp.example.com", OSFQDN: "pc3.corp.example.com"},
			}},
			problems: []want{
				{SeverityError, "pc3.corp.example.com", CheckDeviceRename, "AMT reports FQDN old-pc3.corp.example.com, the OS reports pc3.corp.example.com", "amtrcs device maintain dev-3 --task network-sync"},
			},
			oks: []want{
				{SeverityOK, "pc3.corp.example.com", CheckDeviceForward, "192.0.2.43", ""},
				{SeverityOK, "192.0.2.43", CheckDeviceReverse, "pc3.corp.example.com", ""},
			},
		},
		"truncated UDP answer completed over TCP": {
			servers: func(t *testing.T) []string {
				z := loadZones(t, allZones...)
				z.truncateUDP = true
				return []string{startDNS(t, z)}
			},
			in: PreflightInput{Suffixes: []string{"corp.example.com"}, RCSAddresses: rcs, Devices: []DeviceName{{Name: "pc1.corp.example.com", IP: "192.0.2.41"}}},
			problems: []want{
				{SeverityWarning, "corp.example.com", CheckSuffixCoverage, "no provisioning certificate name", ""},
				{SeverityInfo, "resolver ", CheckResolver, "truncated its UDP answer; the query was repeated over TCP and completed (5 of 5 queries", "keep TCP port"},
			},
			oks: []want{
				{SeverityOK, "ProvisionServer.corp.example.com", CheckProvisionServer, "this RCS", ""},
				{SeverityOK, "192.0.2.41", CheckDeviceReverse, "pc1.corp.example.com", ""},
			},
		},
		"resolver never answers": {
			servers: func(t *testing.T) []string { return []string{startSilent(t)} },
			timeout: 200 * time.Millisecond,
			in:      PreflightInput{Suffixes: []string{"corp.example.com"}, CertNames: []string{"rcs.corp.example.com"}, RCSAddresses: rcs},
			problems: []want{
				{SeverityError, "ProvisionServer.corp.example.com", CheckProvisionServer, "not checked: no resolver gave an answer", "resolver findings"},
				{SeverityError, "rcs.corp.example.com", CheckCertName, "not checked", ""},
				{SeverityError, "resolver ", CheckResolver, "did not answer: no answer within 200ms (4 of 4 queries", "runs and that UDP and TCP port"},
			},
			oks: []want{{SeverityOK, "corp.example.com", CheckSuffixCoverage, "covered", ""}},
		},
		"one of two resolvers never answers": {
			servers: func(t *testing.T) []string {
				return []string{startDNS(t, loadZones(t, allZones...)), startSilent(t)}
			},
			timeout: time.Second,
			in:      PreflightInput{Suffixes: []string{"corp.example.com"}, CertNames: []string{"rcs.corp.example.com"}, RCSAddresses: rcs},
			problems: []want{
				{SeverityError, "resolver ", CheckResolver, "did not answer", ""},
			},
			oks: []want{
				{SeverityOK, "ProvisionServer.corp.example.com", CheckProvisionServer, "this RCS", ""},
				{SeverityOK, "resolver ", CheckResolver, "answered all 4 queries", ""},
			},
		},
		"two resolvers disagree": {
			servers: func(t *testing.T) []string {
				return []string{startDNS(t, loadZones(t, allZones...)), startDNS(t, loadZones(t, "corp.example.com.stale.zone"))}
			},
			in: PreflightInput{Suffixes: []string{"corp.example.com"}, CertNames: []string{"rcs.corp.example.com"}, RCSAddresses: rcs},
			problems: []want{
				{SeverityWarning, "ProvisionServer.corp.example.com", CheckAgreement, "disagree on ProvisionServer.corp.example.com A: 127.0.0.1:", "same zone"},
				{SeverityWarning, "ProvisionServer.corp.example.com", CheckAgreement, "answers 192.0.2.10, 127.0.0.1:", ""},
				{SeverityWarning, "ProvisionServer.corp.example.com", CheckAgreement, "answers 192.0.2.99; the checks above used", ""},
			},
			oks: []want{{SeverityOK, "ProvisionServer.corp.example.com", CheckProvisionServer, "this RCS", ""}},
		},
		"SERVFAIL": {
			servers: func(t *testing.T) []string {
				z := loadZones(t, allZones...)
				z.rcode = dns.RcodeServerFailure
				return []string{startDNS(t, z)}
			},
			in: PreflightInput{Suffixes: []string{"corp.example.com"}, CertNames: []string{"rcs.corp.example.com"}},
			problems: []want{
				{SeverityError, "ProvisionServer.corp.example.com", CheckProvisionServer, "not checked", ""},
				{SeverityError, "rcs.corp.example.com", CheckCertName, "not checked", ""},
				{SeverityError, "resolver ", CheckResolver, "answered SERVFAIL (4 of 4 queries", "DNSSEC"},
			},
		},
		"bad input": {
			servers: func(t *testing.T) []string { return []string{startDNS(t, loadZones(t, allZones...))} },
			in: PreflightInput{
				Suffixes: []string{"corp_example.com"}, CertNames: []string{"*"}, RCSAddresses: []string{"192.0.2"},
				Devices: []DeviceName{{Name: "pc1.corp.example.com", IP: "not-an-ip"}},
			},
			problems: []want{
				{SeverityError, "corp_example.com", CheckInput, "underscore", "hyphen"},
				{SeverityError, "*", CheckInput, "certificate name", ""},
				{SeverityError, "192.0.2", CheckInput, "not an IP address", "192.0.2.10"},
				{SeverityError, "pc1.corp.example.com", CheckInput, `address "not-an-ip"`, ""},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := tc.in
			in.Resolvers = tc.servers(t)
			in.Version = v16
			in.Timeout = tc.timeout
			if in.Timeout == 0 {
				in.Timeout = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rep := Preflight(ctx, in)
			checkInvariants(t, rep)
			var problems []Finding
			for _, f := range rep.Findings {
				if f.Severity != SeverityOK {
					problems = append(problems, f)
				}
			}
			for _, w := range tc.problems {
				if !slices.ContainsFunc(problems, w.matches) {
					t.Errorf("missing finding %s ~ %q (fix ~ %q)", w, w.message, w.fixPart)
				}
			}
			for _, f := range problems {
				if !slices.ContainsFunc(tc.problems, func(w want) bool { return w.matches(f) }) {
					t.Errorf("unexpected finding: %+v", f)
				}
			}
			for _, w := range tc.oks {
				if !slices.ContainsFunc(rep.Findings, w.matches) {
					t.Errorf("missing finding %s ~ %q", w, w.message)
				}
			}
			wantFailed := slices.ContainsFunc(tc.problems, func(w want) bool { return w.sev == SeverityError })
			if rep.Failed() != wantFailed {
				t.Errorf("Failed() = %v, want %v", rep.Failed(), wantFailed)
			}
			if t.Failed() {
				var b bytes.Buffer
				_ = rep.WriteText(&b)
				t.Log("\n" + b.String())
			}
		})
	}
}

func (w want) matches(f Finding) bool {
	return f.Severity == w.sev && strings.HasPrefix(f.Subject, w.subject) && f.Check == w.check &&
		strings.Contains(f.Message, w.message) && strings.Contains(f.Fix, w.fixPart)
}

// checkInvariants holds for every report: each finding is complete, a
// problem always says how to fix it, and the counts add up.
func checkInvariants(t testing.TB, r Report) {
	t.Helper()
	var c Counts
	for _, f := range r.Findings {
		switch f.Severity {
		case SeverityError:
			c.Errors++
		case SeverityWarning:
			c.Warnings++
		case SeverityInfo:
			c.Info++
		case SeverityOK:
			c.OK++
		default:
			t.Fatalf("finding with severity %q: %+v", f.Severity, f)
		}
		if f.Subject == "" || f.Check == "" || f.Message == "" {
			t.Fatalf("incomplete finding: %+v", f)
		}
		if f.Severity != SeverityOK && f.Fix == "" {
			t.Fatalf("%s finding without a fix: %+v", f.Severity, f)
		}
		if f.Severity == SeverityOK && f.Fix != "" {
			t.Fatalf("ok finding with a fix: %+v", f)
		}
	}
	if c != r.Counts {
		t.Fatalf("counts %+v, findings say %+v", r.Counts, c)
	}
	if r.Failed() != (c.Errors > 0) {
		t.Fatalf("Failed() = %v with %d errors", r.Failed(), c.Errors)
	}
}

// TestPreflightBoundedByContext: when the overall deadline is shorter than
// the per-query timeout, Preflight returns at the deadline and says so.
func TestPreflightBoundedByContext(t *testing.T) {
	t.Parallel()
	in := PreflightInput{
		Suffixes: []string{"corp.example.com", "branch.example.net"}, CertNames: []string{"rcs.corp.example.com"},
		Resolvers: []string{startSilent(t), startSilent(t)}, Timeout: time.Minute, Version: v16,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// The resolvers never answer and each query may wait a minute: only
	// the overall deadline can end the run, and the findings say so.
	rep := Preflight(ctx, in)
	checkInvariants(t, rep)
	n := 0
	for _, f := range rep.Findings {
		if f.Check == CheckResolver && f.Severity == SeverityError && strings.Contains(f.Message, "overall time limit") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("want an overall-time-limit finding per resolver, got %d in %+v", n, rep.Findings)
	}
}

func TestNoResolver(t *testing.T) {
	t.Parallel()
	rep := Preflight(context.Background(), PreflightInput{Suffixes: []string{"corp.example.com"}, Version: v16})
	checkInvariants(t, rep)
	if !rep.Failed() || !slices.ContainsFunc(rep.Findings, func(f Finding) bool {
		return f.Check == CheckInput && strings.Contains(f.Message, "no DNS resolver")
	}) {
		t.Fatalf("want a no-resolver input error, got %+v", rep.Findings)
	}
}

func TestNormalizeResolver(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, err string }{
		{"192.0.2.53", "192.0.2.53:53", ""},
		{" 192.0.2.53:5353 ", "192.0.2.53:5353", ""},
		{"2001:db8::53", "[2001:db8::53]:53", ""},
		{"[2001:db8::53]", "[2001:db8::53]:53", ""},
		{"[2001:db8::53]:5353", "[2001:db8::53]:5353", ""},
		{"ns1.corp.example.com", "ns1.corp.example.com:53", ""},
		{"", "", "empty"},
		{"192.0.2.53:0", "", "port"},
		{"192.0.2.53:dns", "", "port"},
		{":53", "", "no host"},
		{"a:b:c:d", "", "HOST:PORT"},
	}
	for _, tc := range tests {
		got, err := NormalizeResolver(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("NormalizeResolver(%q) = %q, %v; want error ~ %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeResolver(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestSystemResolvers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(good, []byte("# comment\nsearch corp.example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := SystemResolvers(good)
	if err != nil || !slices.Equal(got, []string{"192.0.2.53:53", "[2001:db8::53]:53"}) {
		t.Fatalf("SystemResolvers = %v, %v", got, err)
	}
	empty := filepath.Join(dir, "empty.conf")
	if err := os.WriteFile(empty, []byte("search corp.example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := SystemResolvers(empty); err == nil || !strings.Contains(err.Error(), "no nameserver") {
		t.Fatalf("SystemResolvers(no nameserver) err = %v", err)
	}
	if _, err := SystemResolvers(filepath.Join(dir, "absent")); err == nil {
		t.Fatal("SystemResolvers(absent file) succeeded")
	}
}

// TestReportText pins what an admin sees for a fleet with one of every
// problem the zones in testdata hold. Run with -update to rewrite it.
func TestReportText(t *testing.T) {
	t.Parallel()
	resolver := startDNS(t, loadZones(t, allZones...))
	rep := Preflight(context.Background(), goldenInput(resolver))
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(b.String(), resolver, "127.0.0.1:PORT")
	golden := filepath.Join("testdata", "preflight-report.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantText, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestReportText -update to create it)", err)
	}
	if got != string(wantText) {
		t.Errorf("text report differs from %s (go test -run TestReportText -update rewrites it):\n%s", golden, got)
	}
}

func goldenInput(resolver string) PreflightInput {
	return PreflightInput{
		Suffixes:     []string{"corp.example.com", "branch.example.net", "lab.example.org"},
		CertNames:    []string{"rcs.corp.example.com"},
		RCSAddresses: []string{"192.0.2.10", "2001:db8::10"},
		Devices: []DeviceName{
			{ID: "dev-1", Name: "pc1.corp.example.com", IP: "192.0.2.41", AMTFQDN: "pc1.corp.example.com"},
			{ID: "dev-2", Name: "pc2.corp.example.com", IP: "192.0.2.42"},
			{ID: "dev-3", Name: "pc3.corp.example.com", IP: "192.0.2.43", AMTFQDN: "old-pc3.corp.example.com", OSFQDN: "pc3.corp.example.com"},
			{ID: "dev-7", Name: "pc7.branch.example.net", IP: "198.51.100.47"},
		},
		Resolvers: []string{resolver},
		Timeout:   2 * time.Second,
		Version:   v16,
	}
}
