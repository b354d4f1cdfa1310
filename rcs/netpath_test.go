package rcs_test

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/rcs/health"
	"github.com/amtrcs/amtrcs/rcs/jobs"
)

// zone is a DNS server on 127.0.0.1:0 that answers A queries from a map
// the test fills, and for the names it fails with the rcode given.
type zone struct {
	mu    sync.Mutex
	a     map[string]net.IP
	fails map[string]int
	addr  string
}

func startLiveZone(t *testing.T) *zone {
	t.Helper()
	z := &zone{a: map[string]net.IP{}, fails: map[string]int{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z.addr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		z.mu.Lock()
		defer z.mu.Unlock()
		found := false
		for _, qq := range q.Question {
			if rcode, ok := z.fails[strings.ToLower(qq.Name)]; ok {
				m.Rcode = rcode
				_ = w.WriteMsg(m)
				return
			}
			ip, ok := z.a[strings.ToLower(qq.Name)]
			if !ok {
				continue
			}
			found = true
			if qq.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: ip})
			}
		}
		if !found {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return z
}

func (z *zone) set(name string, ip net.IP) {
	z.mu.Lock()
	n := dns.Fqdn(strings.ToLower(name))
	z.a[n] = ip
	delete(z.fails, n)
	z.mu.Unlock()
}

// fail makes the zone answer queries for name with rcode, such as
// NXDOMAIN (the record was removed) or REFUSED (the server will not
// answer for the zone).
func (z *zone) fail(name string, rcode int) {
	z.mu.Lock()
	z.fails[dns.Fqdn(strings.ToLower(name))] = rcode
	z.mu.Unlock()
}

// netpathAddresses are the simulated devices' own addresses: away from
// the fleet's 127.1.0.x so that the simulator's tests never collide with
// them.
const (
	netpathAMT11    = "127.1.213.1"
	netpathAMT16    = "127.1.213.2"
	netpathAMT19    = "127.1.213.3"
	netpathFallback = "127.1.213.4"
	netpathSilent   = "127.1.213.5"
)

// netpathEnv is an RCS with an embedded CA that issues the devices' TLS
// certificates, the "netpath" profile (acm with TLS), and a live DNS zone
// its dns block queries.
type netpathEnv struct {
	*env
	z *zone
}

func newNetpathEnv(t *testing.T) *netpathEnv {
	t.Helper()
	z := startLiveZone(t)
	e := newEnvWith(t, func(c *config.Config) { c.DNS.Resolvers = []string{z.addr} }, func(o *rcs.Options) {
		o.Engine.TLS = provisioning.TLSOptions{Issuer: embeddedCA(t)}
	})
	prof := map[string]any{"name": "netpath", "mode": "acm", "admin_password": "random", "mebx_password": "random", "user_consent": "kvm",
		"network": map[string]bool{"dhcp": true, "sync_from_host": true}, "tls": map[string]any{"enabled": true, "mode": "server"}}
	var perr map[string]any
	if code := e.call("POST", "/api/v1/profiles", e.token, prof, &perr); code != http.StatusCreated {
		t.Fatalf("create profile: %d %v", code, perr)
	}
	e.allowProfile("netpath")
	return &netpathEnv{env: e, z: z}
}

// provision activates a device of the version and configures its TLS
// through its agent, opens the firmware's port 16993 on addr, and stops
// the agent: from then on only the network path reaches the device. Each
// device has its own host name, so that a name in DNS finds one device. It
// returns the device and the FQDN its certificate names, not yet in DNS.
func (n *netpathEnv) provision(t *testing.T, version, hostname, addr string) (*amtsim.Device, string) {
	t.Helper()
	sd := n.device(version, func(c *amtsim.Config) { c.OSHostname = hostname })
	id := sd.ID().String()
	next, stopAgent := n.liveAgent(sd, "netpath")
	if ev := next("activation of " + id); ev.Kind != wire.EventDone {
		t.Fatalf("activation of %s: %+v (device: %s)", id, ev, sd.LastError())
	}
	if r := n.maintain(t, id, provisioning.TaskTLS); r.Error != "" {
		t.Fatalf("tls ended %+v, want done", r)
	}
	st, err := n.srv.Engine().State(id)
	if err != nil || st.TLS == nil || st.TLS.FQDN == "" {
		t.Fatalf("TLS state after the tls task: %+v (%v)", st.TLS, err)
	}
	if err := sd.ListenNetwork(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sd.CloseNetwork)
	stopAgent()
	n.waitDevice(id, func(d rcs.DeviceRecord) bool { return !d.Connected })
	return sd, st.TLS.FQDN
}

// maintain runs a task on a device and returns its job's record once the
// run ended, done or not.
func (n *netpathEnv) maintain(t *testing.T, id, task string) jobs.Record {
	t.Helper()
	var req jobs.Record
	if code := n.call("POST", "/api/v1/devices/"+id+"/maintain", n.token, map[string]string{"task": task}, &req); code != http.StatusAccepted {
		t.Fatalf("maintain %s: %d, want 202", task, code)
	}
	return n.waitMaintenance(req)
}

// reach checks the health report's reach state of a device, and that a
// problem of the reach check says it with a fix.
func (n *netpathEnv) reach(t *testing.T, id, want string) health.DeviceHealth {
	t.Helper()
	var rep health.Report
	if code := n.call("GET", "/api/v1/reports/health", n.token, nil, &rep); code != http.StatusOK {
		t.Fatalf("health report: %d", code)
	}
	for _, d := range rep.Devices {
		if d.ID != id {
			continue
		}
		if d.Reach != want || d.Status != health.StatusFailing {
			t.Fatalf("health of %s: reach %q, status %s, problems %+v; want reach %q, failing", id, d.Reach, d.Status, d.Problems, want)
		}
		for _, p := range d.Problems {
			if p.Check == health.CheckReach && strings.HasPrefix(p.Detail, want) && p.Fix != "" {
				return d
			}
		}
		t.Fatalf("health of %s: problems %+v, want a %q problem saying %q with a fix", id, d.Problems, health.CheckReach, want)
	}
	t.Fatalf("health report lacks %s: %+v", id, rep.Devices)
	return health.DeviceHealth{}
}

// TestNetworkPathWhenAgentDown: on AMT 11, 16 and 19, a device activated
// and given TLS through its agent is maintained over its own port 16993
// once the agent is gone, found by its AMT FQDN in DNS; the health report
// says its OS and agent are down and AMT answers, and, once the firmware's
// port is silent, that AMT does not answer. AMT 11 serves RSA key exchange
// only on that port; AMT 19 enforces TLS on its local ports, so the agent
// relays TLS too.
func TestNetworkPathWhenAgentDown(t *testing.T) {
	n := newNetpathEnv(t)
	for _, tt := range []struct {
		version, hostname, addr string
	}{
		{"11.8.55", "pc11", netpathAMT11},
		{"16.1.27", "pc16", netpathAMT16},
		{"19.0.5", "pc19", netpathAMT19},
	} {
		// The steps run in order on one device: a failure stops the
		// version's run.
		t.Run("AMT "+tt.version, func(t *testing.T) {
			sd, fqdn := n.provision(t, tt.version, tt.hostname, tt.addr)
			id := sd.ID().String()
			n.z.set(fqdn, net.ParseIP(tt.addr))

			// clock-sync over the network path
			const drift = 5 * time.Minute
			sd.SetFirmwareTime(time.Now().Add(-drift))
			r := n.maintain(t, id, provisioning.TaskClockSync)
			if r.Error != "" || r.LastOK.IsZero() {
				t.Fatalf("clock-sync ended %+v, want done", r)
			}
			if o := time.Until(sd.FirmwareTime()); o.Abs() > 2*time.Second {
				t.Fatalf("the firmware clock is off by %s after the sync", o)
			}
			if !r.Changed {
				t.Errorf("record %+v does not say the device changed", r)
			}

			// password-rotation over the network path
			old := n.password(id)
			if r := n.maintain(t, id, provisioning.TaskPasswordRotation); r.Error != "" || r.LastOK.IsZero() {
				t.Fatalf("password-rotation ended %+v, want done", r)
			}
			pw := n.password(id)
			if pw == old {
				t.Fatal("the rotated password is the old one")
			}
			if err := authenticates(sd, pw); err != nil {
				t.Fatalf("the rotated password does not open the device: %v", err)
			}

			n.reach(t, id, health.ReachNetworkOnly)
			sd.CloseNetwork()
			d := n.reach(t, id, health.ReachNone)
			for _, p := range d.Problems {
				if strings.Contains(p.Detail, pw) {
					t.Fatalf("a problem shows the admin password: %+v", p)
				}
			}
		})
	}
}

// TestNetworkPathLastAddress: when the AMT FQDN stops resolving (the
// record was removed, or the DNS server refuses), the device is reached at
// the address that last answered a probe; when nothing answers there
// either, the job's error and the health report name the rule, the name
// and the address tried, and the fix.
func TestNetworkPathLastAddress(t *testing.T) {
	n := newNetpathEnv(t)
	for _, tt := range []struct {
		name     string
		rcode    int
		hostname string
		addr     string
	}{
		{"NXDOMAIN", dns.RcodeNameError, "pcgone", netpathFallback},
		{"REFUSED", dns.RcodeRefused, "pcrefused", netpathSilent},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sd, fqdn := n.provision(t, "16.1.27", tt.hostname, tt.addr)
			id := sd.ID().String()
			n.z.set(fqdn, net.ParseIP(tt.addr))
			// The probe of the health report records the address that
			// answered.
			n.reach(t, id, health.ReachNetworkOnly)
			if d := n.waitDevice(id, func(d rcs.DeviceRecord) bool { return d.Address != "" }); d.Address != tt.addr {
				t.Fatalf("last known address %q, want %q", d.Address, tt.addr)
			}

			n.z.fail(fqdn, tt.rcode)
			sd.SetFirmwareTime(time.Now().Add(-5 * time.Minute))
			if r := n.maintain(t, id, provisioning.TaskClockSync); r.Error != "" || r.LastOK.IsZero() || !r.Changed {
				t.Fatalf("clock-sync at the last known address ended %+v, want done with a change", r)
			}
			if o := time.Until(sd.FirmwareTime()); o.Abs() > 2*time.Second {
				t.Fatalf("the firmware clock is off by %s after the sync", o)
			}
			n.reach(t, id, health.ReachNetworkOnly)

			sd.CloseNetwork()
			r := n.maintain(t, id, provisioning.TaskClockSync)
			wants := []string{provisioning.RuleNetworkPath + ":", "no agent connected", fqdn + " does not resolve", "on " + n.z.addr, tt.addr + ", the last address that answered", "port 16993", "fix: add an A record for " + fqdn, "start the agent"}
			for _, want := range wants {
				if !strings.Contains(r.Error, want) {
					t.Errorf("job error %q lacks %q", r.Error, want)
				}
			}
			if strings.Count(r.Error, "fix:") != 1 {
				t.Errorf("job error %q: want one fix", r.Error)
			}
			d := n.reach(t, id, health.ReachNone)
			for _, p := range d.Problems {
				if p.Check != health.CheckReach {
					continue
				}
				for _, want := range wants[2:5] {
					if !strings.Contains(p.Detail, want) {
						t.Errorf("reach problem %q lacks %q", p.Detail, want)
					}
				}
				if pw := n.password(id); strings.Contains(r.Error, pw) || strings.Contains(p.Detail, pw) {
					t.Fatal("the refusal shows the admin password")
				}
			}
		})
	}
}

// TestNetworkPathRefusal: a device whose TLS this server did not configure
// has no network path once its agent is gone; the job's error names the
// rule, what was seen, what is wanted and the fix, and no password.
func TestNetworkPathRefusal(t *testing.T) {
	e := newEnv(t, nil)
	prof := map[string]any{"name": "notls", "mode": "acm", "admin_password": "random", "mebx_password": "random", "user_consent": "kvm",
		"network": map[string]bool{"dhcp": true, "sync_from_host": true}}
	if code := e.call("POST", "/api/v1/profiles", e.token, prof, nil); code != http.StatusCreated {
		t.Fatalf("create profile: %d", code)
	}
	e.allowProfile("notls")
	sd := e.device("16.1.27", nil)
	id := sd.ID().String()
	next, stopAgent := e.liveAgent(sd, "notls")
	if ev := next("activation of " + id); ev.Kind != wire.EventDone {
		t.Fatalf("activation of %s: %+v (device: %s)", id, ev, sd.LastError())
	}
	stopAgent()
	e.waitDevice(id, func(d rcs.DeviceRecord) bool { return !d.Connected })
	var req jobs.Record
	if code := e.call("POST", "/api/v1/devices/"+id+"/maintain", e.token, map[string]string{"task": provisioning.TaskClockSync}, &req); code != http.StatusAccepted {
		t.Fatalf("maintain: %d, want 202", code)
	}
	r := e.waitMaintenance(req)
	for _, want := range []string{provisioning.RuleNetworkPath + ":", "no agent connected", "no TLS certificate from the internal CA", "want TLS configured", "fix: start the agent"} {
		if !strings.Contains(r.Error, want) {
			t.Errorf("job error %q lacks %q", r.Error, want)
		}
	}
	if strings.Count(r.Error, "fix:") != 1 {
		t.Errorf("job error %q: want one fix", r.Error)
	}
	if pw := e.password(id); strings.Contains(r.Error, pw) {
		t.Fatal("the job error shows the admin password")
	}
}
