package rcs_test

import (
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/dnssuffix"
)

// startZone serves records on a real DNS server on 127.0.0.1:0 (UDP and
// TCP) and returns its address.
func startZone(t *testing.T, records ...string) string {
	t.Helper()
	zone := map[string][]dns.RR{}
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		zone[strings.ToLower(rr.Header().Name)] = append(zone[strings.ToLower(rr.Header().Name)], rr)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		rrs, ok := zone[strings.ToLower(q.Question[0].Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Question[0].Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
		_ = w.WriteMsg(m)
	})
	// UDP and TCP on one port: the port the system picks for UDP may be
	// taken for TCP by another process, so pick again a few times.
	var pc net.PacketConn
	var ln net.Listener
	var err error
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatalf("no port free for both UDP and TCP: %v", err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go func() { _ = srv.ActivateAndServe() }()
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// The API runs the DNS preflight for the configured domain and the name of
// its provisioning certificate, against the resolvers of the config.
func TestDNSReportFromAPI(t *testing.T) {
	resolver := startZone(t,
		"rcs."+testSuffix+". 60 IN A 192.0.2.10",
		"ProvisionServer."+testSuffix+". 60 IN A 198.51.100.99",
	)
	e := newEnv(t, func(c *config.Config) {
		c.DNS.Resolvers = []string{resolver}
		c.Server.AdvertiseAddresses = []string{"192.0.2.10"}
	})
	var rep struct {
		Failed bool `json:"failed"`
		dnssuffix.Report
	}
	if code := e.call("GET", "/api/v1/reports/dns", e.token, nil, &rep); code != 200 {
		t.Fatalf("GET /api/v1/reports/dns: %d", code)
	}
	find := func(check, subject string) dnssuffix.Finding {
		for _, f := range rep.Findings {
			if f.Check == check && strings.EqualFold(f.Subject, subject) {
				return f
			}
		}
		t.Fatalf("no %s finding for %s in %+v", check, subject, rep.Findings)
		return dnssuffix.Finding{}
	}
	if f := find(dnssuffix.CheckCertName, "rcs."+testSuffix); f.Severity != dnssuffix.SeverityOK {
		t.Errorf("certificate name: %+v", f)
	}
	if f := find(dnssuffix.CheckSuffixCoverage, testSuffix); f.Severity != dnssuffix.SeverityOK {
		t.Errorf("suffix coverage: %+v", f)
	}
	// ProvisionServer points at another server: an error with its fix.
	f := find(dnssuffix.CheckProvisionServer, "ProvisionServer."+testSuffix)
	if f.Severity != dnssuffix.SeverityError || !strings.Contains(f.Fix, "192.0.2.10") {
		t.Errorf("ProvisionServer: %+v", f)
	}
	if !rep.Failed {
		t.Error("a report with an error must say failed")
	}
	if code := e.call("GET", "/api/v1/reports/dns", "", nil, nil); code != 401 {
		t.Errorf("without a token: %d, want 401", code)
	}
}
