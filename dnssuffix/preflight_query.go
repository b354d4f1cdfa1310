package dnssuffix

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// question is one name and type the preflight asks every resolver.
type question struct {
	Name string // lower case, no trailing dot
	Type uint16 // dns.TypeA, dns.TypeAAAA or dns.TypePTR
}

func (q question) String() string { return q.Name + " " + dns.TypeToString[q.Type] }

// answer is what one resolver said to one question, reduced to what the
// checks compare. It is plain data so the report builder can be fed
// answers that no resolver produced (tests, fuzzing).
type answer struct {
	Resolver  string
	Rcode     int      // the response code; meaningful when Failure is empty
	Failure   string   // why no response arrived; empty when one did
	TimedOut  bool     // the failure was a timeout (per query or overall)
	Truncated bool     // the UDP response had TC set, so the query went again over TCP
	OverTCP   bool     // the response used is the TCP one
	Records   []string // addresses (A, AAAA) or names (PTR), canonical, sorted, unique
}

// usable reports whether the resolver gave an authoritative-enough verdict
// on the name: records, no data, or NXDOMAIN.
func (a answer) usable() bool {
	return a.Failure == "" && (a.Rcode == dns.RcodeSuccess || a.Rcode == dns.RcodeNameError)
}

// maxInFlight bounds concurrent queries, so a fleet-sized device list does
// not look like a flood to the resolver.
const maxInFlight = 16

// questions lists every question the checks need, without duplicates, in a
// stable order.
func (p preflight) questions() []question {
	var qs []question
	seen := map[question]bool{}
	add := func(q question) {
		if !seen[q] {
			seen[q] = true
			qs = append(qs, q)
		}
	}
	addHost := func(name string) {
		add(question{name, dns.TypeA})
		add(question{name, dns.TypeAAAA})
	}
	for _, s := range p.suffixes {
		addHost(provisionServerName(s))
	}
	for _, c := range p.certNames {
		if !strings.HasPrefix(c, "*.") {
			addHost(c)
		}
	}
	for _, d := range p.devices {
		addHost(d.name)
		if d.ip.IsValid() {
			add(question{reverseName(d.ip), dns.TypePTR})
		}
	}
	return qs
}

func provisionServerName(suffix string) string { return "ProvisionServer." + suffix }

func reverseName(ip netip.Addr) string {
	arpa, err := dns.ReverseAddr(ip.String())
	if err != nil {
		// Unreachable for a valid netip.Addr; keep a name that will simply
		// not resolve rather than panic on outside input.
		return "invalid.arpa"
	}
	return canonicalName(arpa)
}

// resolveAll asks every resolver every question and returns the answers per
// question, in the order of resolvers. At most maxInFlight queries run at a
// time; once ctx ends, the questions not yet asked are answered as timed out.
func resolveAll(ctx context.Context, resolvers []string, qs []question, timeout time.Duration) map[question][]answer {
	type job struct {
		q question
		i int // index of the resolver
	}
	out := make(map[question][]answer, len(qs))
	jobs := make(chan job)
	for _, q := range qs {
		out[q] = make([]answer, len(resolvers))
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for range min(maxInFlight, len(qs)*len(resolvers)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				r := resolvers[j.i]
				var a answer
				if ctx.Err() != nil {
					a = answer{Resolver: r, TimedOut: true, Failure: "not asked: the overall time limit of the check ran out"}
				} else {
					a = exchange(ctx, r, j.q, timeout)
				}
				mu.Lock()
				out[j.q][j.i] = a
				mu.Unlock()
			}
		}()
	}
	for _, q := range qs {
		for i := range resolvers {
			jobs <- job{q, i}
		}
	}
	close(jobs)
	wg.Wait()
	return out
}

// exchange asks one resolver one question: over UDP first, and again over
// TCP when the UDP response is truncated, each attempt bounded by timeout
// and by ctx.
func exchange(ctx context.Context, resolver string, q question, timeout time.Duration) answer {
	a := answer{Resolver: resolver}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(q.Name), q.Type)
	m.SetEdns0(1232, false) // the DNS flag-day size: large enough for any answer here, small enough not to fragment

	overall := false // the last attempt was cut short by ctx, not by timeout
	attempt := func(network string) (*dns.Msg, error) {
		dl, ok := ctx.Deadline()
		overall = ok && dl.Before(time.Now().Add(timeout))
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		c := &dns.Client{Net: network, Timeout: timeout}
		r, _, err := c.ExchangeContext(actx, m, resolver)
		return r, err
	}
	r, err := attempt("udp")
	if err == nil && r.Truncated {
		a.Truncated = true
		r, err = attempt("tcp")
		if err == nil {
			a.OverTCP = true
		}
	}
	if err != nil {
		a.TimedOut = isTimeout(err)
		switch {
		case ctx.Err() != nil, overall && a.TimedOut:
			a.TimedOut = true
			a.Failure = "the overall time limit of the check ran out"
		case a.TimedOut:
			a.Failure = fmt.Sprintf("no answer within %s", timeout)
		default:
			a.Failure = err.Error()
		}
		if a.Truncated {
			a.Failure = "over TCP after a truncated UDP answer: " + a.Failure
		}
		return a
	}
	a.Rcode = r.Rcode
	a.Records = recordsOf(r, q.Type)
	return a
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// recordsOf keeps the answer records of the asked type, canonical: a CNAME
// chain a recursive resolver follows ends in records of that type, and the
// chain itself does not matter to the checks.
func recordsOf(r *dns.Msg, t uint16) []string {
	var recs []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			if t == dns.TypeA {
				if ip, ok := netip.AddrFromSlice(v.A); ok {
					recs = append(recs, ip.Unmap().String())
				}
			}
		case *dns.AAAA:
			if t == dns.TypeAAAA {
				if ip, ok := netip.AddrFromSlice(v.AAAA); ok {
					recs = append(recs, ip.String())
				}
			}
		case *dns.PTR:
			if t == dns.TypePTR {
				recs = append(recs, canonicalName(v.Ptr))
			}
		}
	}
	slices.Sort(recs)
	return slices.Compact(recs)
}

// NormalizeResolver returns a resolver address as HOST:PORT, adding port 53
// to a bare host. It refuses what cannot be dialled.
func NormalizeResolver(s string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", fmt.Errorf("resolver address is empty; want HOST or HOST:PORT")
	}
	if ip, err := netip.ParseAddr(strings.Trim(t, "[]")); err == nil {
		return net.JoinHostPort(ip.String(), "53"), nil
	}
	host, port, err := net.SplitHostPort(t)
	if err != nil {
		if strings.Contains(t, ":") {
			return "", fmt.Errorf("resolver address %q: %v; want HOST or HOST:PORT, IPv6 in brackets", s, err)
		}
		host, port = t, "53"
	}
	if host == "" {
		return "", fmt.Errorf("resolver address %q has no host; want HOST or HOST:PORT", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("resolver address %q: port %q is not a number from 1 to 65535", s, port)
	}
	return net.JoinHostPort(host, port), nil
}

// SystemResolvers reads the nameservers of a resolv.conf file (the CLI's
// last resort when neither flags nor config name a resolver).
func SystemResolvers(path string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read resolvers from %s: %w", path, err)
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read resolvers from %s: no nameserver line; pass --resolver HOST:PORT", path)
	}
	return out, nil
}
