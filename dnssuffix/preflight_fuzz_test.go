package dnssuffix

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzReport feeds the report builder answers no resolver would give:
// random response codes, records (addresses, names and junk), truncation,
// failures and timeouts, per resolver and question, and random input
// values. It must never panic, and every report keeps its invariants.
func FuzzReport(f *testing.F) {
	f.Add("corp.example.com", "rcs.corp.example.com", "pc1.corp.example.com", "192.0.2.41", "old.corp.example.com", []byte{})
	f.Add("corp.example.com", "*.corp.example.com", "pc1.corp.example.com", "192.0.2.41", "", []byte{0, 0, 1, 0, 0, 2, 1, 3, 3, 2, 0, 4, 5})
	f.Add("branch.example.net", "rcs.corp.example.com", "pc7.branch.example.net", "2001:db8::47", "", []byte{0x04, 0, 2, 7, 8, 0x01, 0x02, 0x0c, 3, 0, 0x80, 2, 1, 1, 9})
	f.Add("lab.example.org", "", "", "", "", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add("bad_suffix", "*", "-x", "1.2.3", "\x00", []byte{2, 5, 3, 1, 1, 1})
	f.Fuzz(func(t *testing.T, suffix, cert, devName, devIP, amtName string, data []byte) {
		in := PreflightInput{
			Suffixes:     []string{suffix},
			CertNames:    []string{cert},
			RCSAddresses: []string{"192.0.2.10", "2001:db8::10"},
			Devices:      []DeviceName{{Name: devName, IP: devIP, AMTFQDN: amtName}},
			Resolvers:    []string{"192.0.2.53:53", "198.51.100.53:53"},
			Timeout:      time.Second,
			Version:      v16,
		}
		p := normalize(in)
		answers := fuzzAnswers(p, data)
		rep := buildReport(p, answers)
		checkInvariants(t, rep)

		// A resolver that failed, or answered with an error code, on any
		// question is always reported as an error.
		for _, as := range answers {
			for _, a := range as {
				bad := a.Failure != "" || (a.Rcode != dns.RcodeSuccess && a.Rcode != dns.RcodeNameError)
				if bad && !hasFinding(rep, SeverityError, "resolver "+a.Resolver, CheckResolver) {
					t.Fatalf("answer %+v gave no resolver error: %+v", a, rep.Findings)
				}
			}
		}
	})
}

func hasFinding(r Report, sev Severity, subject, check string) bool {
	for _, f := range r.Findings {
		if f.Severity == sev && f.Subject == subject && f.Check == check {
			return true
		}
	}
	return false
}

// fuzzAnswers reads answers for every question and resolver of p from data,
// a byte at a time, with zeros once data runs out.
func fuzzAnswers(p preflight, data []byte) map[question][]answer {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	pool := []string{"192.0.2.10", "2001:db8::10", "192.0.2.41", "198.51.100.99", "::ffff:192.0.2.10",
		"pc1.corp.example.com", "kiosk9.corp.example.com", "", "not an address", "\xff\xfe"}
	out := map[question][]answer{}
	for _, q := range p.questions() {
		for _, r := range p.resolvers {
			flags := next()
			a := answer{Resolver: r, Rcode: int(next() % 24)}
			a.Truncated = flags&0x01 != 0
			a.OverTCP = flags&0x02 != 0
			if flags&0x04 != 0 {
				a.Failure = "fuzzed failure"
				a.TimedOut = flags&0x08 != 0
			}
			for range int(next() % 5) {
				i := next()
				if int(i) < len(pool) {
					a.Records = append(a.Records, pool[i])
				} else {
					a.Records = append(a.Records, string(data[:min(int(i%8), len(data))]))
				}
			}
			out[q] = append(out[q], a)
		}
	}
	return out
}
