package dnssuffix

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// zoneServer is an authoritative DNS server for the zones of testdata/zones,
// run on loopback for the preflight tests. It answers like a recursive
// resolver that knows only those zones: REFUSED outside them, NXDOMAIN for
// absent names, CNAMEs followed inside them.
type zoneServer struct {
	records map[string][]dns.RR // by lower-case owner, fully qualified
	apexes  []string
	// truncateUDP makes every UDP answer empty with TC set, so only TCP
	// gets the records.
	truncateUDP bool
	// rcode, when not zero, is returned for every question.
	rcode int
}

func loadZones(t testing.TB, files ...string) *zoneServer {
	t.Helper()
	z := &zoneServer{records: map[string][]dns.RR{}}
	for _, f := range files {
		path := filepath.Join("testdata", "zones", f)
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		zp := dns.NewZoneParser(fh, "", path)
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			owner := strings.ToLower(rr.Header().Name)
			z.records[owner] = append(z.records[owner], rr)
			if rr.Header().Rrtype == dns.TypeSOA {
				z.apexes = append(z.apexes, owner)
			}
		}
		fh.Close()
		if err := zp.Err(); err != nil {
			t.Fatalf("zone %s: %v", path, err)
		}
	}
	return z
}

func (z *zoneServer) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	_, udp := w.LocalAddr().(*net.UDPAddr)
	switch {
	case len(r.Question) != 1:
		m.Rcode = dns.RcodeFormatError
	case z.rcode != 0:
		m.Rcode = z.rcode
	case udp && z.truncateUDP:
		m.Truncated = true
	default:
		z.answer(m, r.Question[0])
	}
	_ = w.WriteMsg(m)
}

func (z *zoneServer) answer(m *dns.Msg, q dns.Question) {
	name := strings.ToLower(q.Name)
	inZone := false
	for _, apex := range z.apexes {
		if dns.IsSubDomain(apex, name) {
			inZone = true
		}
	}
	if !inZone {
		m.Rcode = dns.RcodeRefused
		return
	}
	for range 8 { // bounded CNAME chase
		rrs, ok := z.records[name]
		if !ok {
			if len(m.Answer) == 0 {
				m.Rcode = dns.RcodeNameError
			}
			return
		}
		next := ""
		for _, rr := range rrs {
			switch {
			case rr.Header().Rrtype == q.Qtype:
				m.Answer = append(m.Answer, dns.Copy(rr))
			case rr.Header().Rrtype == dns.TypeCNAME:
				m.Answer = append(m.Answer, dns.Copy(rr))
				next = strings.ToLower(rr.(*dns.CNAME).Target)
			}
		}
		if next == "" {
			return
		}
		name = next
	}
}

// startDNS serves h over UDP and TCP on the same loopback port and returns
// the address.
func startDNS(t testing.TB, h dns.Handler) string {
	t.Helper()
	pc, ln := listenPair(t)
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// startSilent opens a resolver address that takes queries and never
// answers: UDP datagrams are left unread and TCP connections are accepted
// by the kernel backlog but never served.
func startSilent(t testing.TB) string {
	t.Helper()
	pc, ln := listenPair(t)
	t.Cleanup(func() { pc.Close(); ln.Close() })
	return pc.LocalAddr().String()
}

func listenPair(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		pc.Close() // the TCP port was taken; try another
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return nil, nil
}
