package dnssuffix

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// verdict is what the resolvers, taken together, say about one question.
type verdict struct {
	known    bool     // at least one resolver gave a usable answer
	nxdomain bool     // the name does not exist
	records  []string // of the first resolver with a usable answer
}

// builder turns answers into findings. It is pure: the same preflight and
// answers always give the same report.
type builder struct {
	p        preflight
	answers  map[question][]answer
	findings []Finding
}

func buildReport(p preflight, answers map[question][]answer) Report {
	b := &builder{p: p, answers: answers}
	b.findings = append(b.findings, p.input...)
	for _, s := range p.suffixes {
		b.coverage(s)
		b.provisionServer(s)
	}
	for _, c := range p.certNames {
		b.certName(c)
	}
	for _, d := range p.devices {
		b.device(d)
	}
	b.agreement()
	b.resolverHealth()
	r := Report{Resolvers: slices.Clone(p.resolvers), Findings: b.findings}
	if r.Resolvers == nil {
		r.Resolvers = []string{}
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	for _, f := range r.Findings {
		switch f.Severity {
		case SeverityError:
			r.Counts.Errors++
		case SeverityWarning:
			r.Counts.Warnings++
		case SeverityInfo:
			r.Counts.Info++
		default:
			r.Counts.OK++
		}
	}
	return r
}

func (b *builder) add(sev Severity, subject, check, fix, format string, args ...any) {
	if sev == SeverityOK {
		fix = ""
	}
	b.findings = append(b.findings, Finding{Severity: sev, Subject: subject, Check: check, Message: fmt.Sprintf(format, args...), Fix: fix})
}

// verdict combines the answers of all resolvers to q; disagreement between
// them is reported separately, by agreement.
func (b *builder) verdict(q question) verdict {
	for _, a := range b.answers[q] {
		if a.usable() {
			return verdict{known: true, nxdomain: a.Rcode == dns.RcodeNameError, records: a.Records}
		}
	}
	return verdict{}
}

// host combines the A and AAAA verdicts of a name.
func (b *builder) host(name string) (addrs []string, nxdomain, known bool) {
	va, v6 := b.verdict(question{name, dns.TypeA}), b.verdict(question{name, dns.TypeAAAA})
	addrs = append(slices.Clone(va.records), v6.records...)
	// An empty answer for one type says nothing while the other type is
	// unknown: the name may well have records of that type.
	known = (va.known && v6.known) || len(addrs) > 0
	return addrs, va.nxdomain || v6.nxdomain, known
}

func (b *builder) notChecked(subject, check, what string) {
	b.add(SeverityError, subject, check,
		"make at least one resolver answer (see the resolver findings), then run the check again",
		"%s not checked: no resolver gave an answer", what)
}

func (b *builder) rcsList() string {
	s := make([]string, len(b.p.rcs))
	for i, a := range b.p.rcs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// splitByRCS divides addresses into those of this RCS and the others.
func (b *builder) splitByRCS(addrs []string) (ours, others []string) {
	for _, s := range addrs {
		ip, err := netip.ParseAddr(s)
		if err == nil && slices.Contains(b.p.rcs, ip.Unmap()) {
			ours = append(ours, s)
		} else {
			others = append(others, s)
		}
	}
	return ours, others
}

// records suggests zone lines that point name at this RCS.
func (b *builder) records(name string) string {
	if len(b.p.rcs) == 0 {
		return name + ". IN A <address of this RCS>"
	}
	var lines []string
	for _, a := range b.p.rcs {
		t := "A"
		if a.Is6() {
			t = "AAAA"
		}
		lines = append(lines, fmt.Sprintf("%s. IN %s %s", name, t, a))
	}
	return strings.Join(lines, " and ")
}

// pointsAtRCS is the shared check of a name that must lead to this RCS.
func (b *builder) pointsAtRCS(name, check, why, missingFix string, missing Severity) {
	addrs, nx, known := b.host(name)
	switch {
	case !known:
		b.notChecked(name, check, name)
	case len(addrs) == 0:
		how := "has no A or AAAA record"
		if nx {
			how = "does not exist (NXDOMAIN)"
		}
		b.add(missing, name, check, missingFix, "%s %s: %s", name, how, why)
	case len(b.p.rcs) == 0:
		b.add(SeverityInfo, name, check,
			"pass --rcs-address IP (or set the server's advertise addresses in the config) to check that it points at this RCS",
			"%s resolves to %s; not compared with this RCS: no RCS address given", name, strings.Join(addrs, ", "))
	default:
		ours, others := b.splitByRCS(addrs)
		switch {
		case len(others) == 0:
			b.add(SeverityOK, name, check, "", "%s resolves to %s (this RCS)", name, strings.Join(ours, ", "))
		case len(ours) == 0:
			b.add(SeverityError, name, check,
				fmt.Sprintf("replace the records of %s with %s", name, b.records(name)),
				"%s resolves to %s, not to this RCS (%s): %s", name, strings.Join(others, ", "), b.rcsList(), why)
		default:
			b.add(SeverityWarning, name, check,
				fmt.Sprintf("remove the records of %s that point at %s", name, strings.Join(others, ", ")),
				"%s resolves to this RCS (%s) and also to %s: clients pick one, so some go elsewhere", name, strings.Join(ours, ", "), strings.Join(others, ", "))
		}
	}
}

func (b *builder) provisionServer(suffix string) {
	name := provisionServerName(suffix)
	b.pointsAtRCS(name, CheckProvisionServer,
		"devices in setup mode find the RCS for legacy hello discovery by this name",
		fmt.Sprintf("add %s (or set the provisioning server address in MEBx); devices activated by the agent do not need it", b.records(name)),
		SeverityWarning)
}

func (b *builder) certName(cn string) {
	if base, ok := strings.CutPrefix(cn, "*."); ok {
		b.add(SeverityInfo, cn, CheckCertName,
			fmt.Sprintf("nothing to fix; give this RCS a host name under %s so that the certificate names it", base),
			"%s is a wildcard, not a host name: not resolved", cn)
		return
	}
	b.pointsAtRCS(cn, CheckCertName,
		"the provisioning certificate must name this RCS",
		fmt.Sprintf("add %s, or use a certificate whose CN is this RCS's name", b.records(cn)),
		SeverityError)
}

func (b *builder) coverage(suffix string) {
	if len(b.p.certNames) == 0 {
		b.add(SeverityWarning, suffix, CheckSuffixCoverage,
			"pass --cert-name with the CN of the provisioning certificate (or configure it in the config's domain block)",
			"suffix %s: coverage not checked, no provisioning certificate name given", suffix)
		return
	}
	var refusals []string
	fix := ""
	for _, cn := range b.p.certNames {
		res := Match(cn, suffix, b.p.version)
		if res.Match {
			b.add(SeverityOK, suffix, CheckSuffixCoverage, "",
				"suffix %s is covered by certificate %s for AMT %s (rule %s)", suffix, cn, b.p.version, res.Rule)
			return
		}
		refusals = append(refusals, res.Reason)
		if fix == "" {
			fix = res.Fix
		}
	}
	if fix == "" {
		fix = fmt.Sprintf("buy a certificate for a name under %s, or set the MEBx PKI DNS suffix to a suffix of a certificate name", suffix)
	}
	b.add(SeverityError, suffix, CheckSuffixCoverage, fix,
		"suffix %s is not covered by any provisioning certificate for AMT %s: %s", suffix, b.p.version, strings.Join(refusals, "; "))
}

func (b *builder) device(d device) {
	b.deviceForward(d)
	if d.ip.IsValid() {
		b.deviceReverse(d)
	}
	b.deviceRename(d)
}

func (b *builder) deviceForward(d device) {
	addrs, nx, known := b.host(d.name)
	want := "its address"
	if d.ip.IsValid() {
		want = d.ip.String()
	}
	fixAdd := fmt.Sprintf("add %s. IN A %s (or let DHCP register it)", d.name, want)
	switch {
	case !known:
		b.notChecked(d.name, CheckDeviceForward, d.name)
	case len(addrs) == 0:
		how := "has no A or AAAA record"
		if nx {
			how = "does not exist (NXDOMAIN)"
		}
		b.add(SeverityError, d.name, CheckDeviceForward, fixAdd,
			"%s %s, want %s: the RCS reaches devices by name", d.name, how, want)
	case !d.ip.IsValid():
		b.add(SeverityOK, d.name, CheckDeviceForward, "", "%s resolves to %s", d.name, strings.Join(addrs, ", "))
	case containsAddr(addrs, d.ip):
		b.add(SeverityOK, d.name, CheckDeviceForward, "", "%s resolves to %s", d.name, strings.Join(addrs, ", "))
	default:
		b.add(SeverityError, d.name, CheckDeviceForward,
			fmt.Sprintf("change the record of %s to %s (a stale DHCP registration is the usual cause)", d.name, d.ip),
			"%s resolves to %s, want %s: the RCS would reach another machine", d.name, strings.Join(addrs, ", "), d.ip)
	}
}

func (b *builder) deviceReverse(d device) {
	arpa := reverseName(d.ip)
	v := b.verdict(question{arpa, dns.TypePTR})
	fixPTR := fmt.Sprintf("set %s. IN PTR %s.", arpa, d.name)
	subject := d.ip.String()
	switch {
	case !v.known:
		b.notChecked(subject, CheckDeviceReverse, "reverse lookup of "+subject)
	case len(v.records) == 0:
		b.add(SeverityWarning, subject, CheckDeviceReverse, fixPTR,
			"%s has no PTR record, want %s: the hello listener names devices by reverse DNS, so legacy hello configuration of this device fails", subject, d.name)
	case slices.Contains(v.records, d.name):
		b.add(SeverityOK, subject, CheckDeviceReverse, "", "%s leads back to %s", subject, d.name)
	default:
		b.add(SeverityError, subject, CheckDeviceReverse, fixPTR+" (a stale PTR left by an old DHCP lease is the usual cause)",
			"%s leads back to %s, want %s: forward and reverse DNS disagree", subject, strings.Join(v.records, ", "), d.name)
	}
}

func (b *builder) deviceRename(d device) {
	if d.amtName == "" {
		return
	}
	id := d.id
	if id == "" {
		id = d.name
	}
	if d.amtName == d.osName {
		b.add(SeverityOK, d.name, CheckDeviceRename, "", "AMT and the OS both report %s", d.osName)
		return
	}
	b.add(SeverityError, d.name, CheckDeviceRename,
		fmt.Sprintf("run the network sync maintenance: amtrcs device maintain %s --task network-sync", id),
		"AMT reports FQDN %s, the OS reports %s: the PC was renamed, and TLS to AMT by name fails until AMT's network settings and TLS certificate are renewed", d.amtName, d.osName)
}

func containsAddr(addrs []string, ip netip.Addr) bool {
	for _, s := range addrs {
		if a, err := netip.ParseAddr(s); err == nil && a.Unmap() == ip {
			return true
		}
	}
	return false
}

// agreement reports each question on which resolvers with usable answers
// disagree, naming both answers; the checks above used the first one.
func (b *builder) agreement() {
	for _, q := range b.p.questions() {
		var first *answer
		for i := range b.answers[q] {
			a := &b.answers[q][i]
			if !a.usable() {
				continue
			}
			if first == nil {
				first = a
				continue
			}
			if describe(*a) != describe(*first) {
				b.add(SeverityWarning, q.Name, CheckAgreement,
					"make every resolver the devices use serve the same zone (zone transfer lag, a split-horizon view or a stale cache are the usual causes)",
					"resolvers disagree on %s: %s answers %s, %s answers %s; the checks above used %s",
					q, first.Resolver, describe(*first), a.Resolver, describe(*a), first.Resolver)
				break
			}
		}
	}
}

func describe(a answer) string {
	switch {
	case a.Rcode == dns.RcodeNameError:
		return "NXDOMAIN"
	case len(a.Records) == 0:
		return "no records"
	default:
		return strings.Join(a.Records, ", ")
	}
}

// problem is one kind of resolver misbehaviour, counted over all questions.
type problem struct {
	sev     Severity
	n       int
	example string
	what    string
	fix     string
}

// resolverHealth reports, once per resolver and kind of trouble, timeouts,
// failures, error codes and truncation, so one dead resolver gives one
// finding and not one per question.
func (b *builder) resolverHealth() {
	qs := b.p.questions()
	for i, r := range b.p.resolvers {
		port := "53"
		if _, p, err := net.SplitHostPort(r); err == nil {
			port = p
		}
		var order []string
		kinds := map[string]*problem{}
		note := func(key string, sev Severity, q question, what, fix string) {
			p := kinds[key]
			if p == nil {
				p = &problem{sev: sev, example: q.String(), what: what, fix: fix}
				kinds[key] = p
				order = append(order, key)
			}
			p.n++
		}
		asked := 0
		for _, q := range qs {
			as := b.answers[q]
			if i >= len(as) {
				continue
			}
			a := as[i]
			asked++
			switch {
			case a.Failure != "" && a.Truncated:
				note("tcp", SeverityError, q, "truncated its UDP answer and then failed over TCP: "+a.Failure,
					fmt.Sprintf("open TCP port %s from this RCS and the devices to %s: answers too large for UDP need it", port, r))
			case a.Failure != "" && a.TimedOut:
				note("timeout", SeverityError, q, "did not answer: "+a.Failure,
					fmt.Sprintf("check that %s runs and that UDP and TCP port %s to it are open, or remove it from the resolvers", r, port))
			case a.Failure != "":
				note("failure", SeverityError, q, "failed: "+a.Failure,
					fmt.Sprintf("check that %s runs and that UDP and TCP port %s to it are open, or remove it from the resolvers", r, port))
			case a.Rcode == dns.RcodeServerFailure:
				note("servfail", SeverityError, q, "answered SERVFAIL",
					fmt.Sprintf("check %s's log: it could not reach the authoritative servers or DNSSEC validation failed", r))
			case a.Rcode != dns.RcodeSuccess && a.Rcode != dns.RcodeNameError:
				rc := dns.RcodeToString[a.Rcode]
				if rc == "" {
					rc = fmt.Sprintf("RCODE%d", a.Rcode)
				}
				note("rcode:"+rc, SeverityError, q, "answered "+rc,
					fmt.Sprintf("allow recursion for this RCS on %s (REFUSED means it is not allowed to ask), or use another resolver", r))
			}
			if a.Truncated && a.Failure == "" {
				note("truncated", SeverityInfo, q, "truncated its UDP answer; the query was repeated over TCP and completed",
					fmt.Sprintf("nothing to fix; keep TCP port %s open to this resolver, devices and this RCS need it for large answers", port))
			}
		}
		if len(order) == 0 {
			if asked > 0 {
				b.add(SeverityOK, "resolver "+r, CheckResolver, "", "resolver %s answered all %d queries", r, asked)
			}
			continue
		}
		for _, k := range order {
			p := kinds[k]
			b.add(p.sev, "resolver "+r, CheckResolver, p.fix,
				"resolver %s %s (%d of %d queries, first %s)", r, p.what, p.n, asked, p.example)
		}
	}
}
