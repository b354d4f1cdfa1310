package config

import (
	"net"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Server holds the RCS listeners and the names it is known by.
type Server struct {
	// API is the REST API and dashboard listener (HOST:PORT).
	API string
	// TLSCert and TLSKey are PEM files for the API and agent gateway. Both
	// empty means the RCS issues its own certificate from the internal CA.
	TLSCert, TLSKey string
	// AgentGateway is where agents connect (HOST:PORT).
	AgentGateway string
	// Hello is the legacy hello listener (HOST:PORT, devices send to port
	// 9971); empty means off.
	Hello string
	// Metrics is a separate listener for Prometheus's /metrics, plain
	// HTTP without authentication (HOST:PORT); empty means /metrics is
	// served only on the API listener, to admins.
	Metrics string
	// AdvertiseAddresses are the RCS's own names and IP addresses, as
	// devices and agents reach it; DNS checks expect ProvisionServer.<suffix>
	// to resolve to one of them.
	AdvertiseAddresses []string
	// AuditMaxAge and AuditMaxRecords are the audit log's retention: older
	// events, and the oldest beyond the count, are deleted at start and
	// periodically. Zero switches a limit off.
	AuditMaxAge     time.Duration
	AuditMaxRecords int
	// HelloPendingExpiry is how long a device known only by its hellos is
	// kept unless it is activated or an admin accepts it;
	// HelloPendingPerSource and HelloPendingMax bound such devices per
	// sending address and in all, so that hellos with made-up UUIDs cannot
	// grow the store.
	HelloPendingExpiry    time.Duration
	HelloPendingPerSource int
	HelloPendingMax       int
	// LeaseTTL is how long a server's hold on a device (its job slot, its
	// agent connection) lasts without renewal: when servers share a
	// PostgreSQL store and one dies, the others take its devices over
	// after this long. Zero means the RCS's default (15 s).
	LeaseTTL time.Duration
}

// Defaults of the server block's limits.
const (
	DefaultAuditMaxAge           = 365 * day
	DefaultAuditMaxRecords       = 1_000_000
	DefaultHelloPendingExpiry    = day
	DefaultHelloPendingPerSource = 8
	DefaultHelloPendingMax       = 1024
)

// HelloPort is the TCP port AMT devices send hello messages to.
const HelloPort = "9971"

type serverRaw struct {
	API               *string        `hcl:"api,optional"`
	APIRange          hcl.Range      `hcl:"api,attr_value_range"`
	TLSCert           *string        `hcl:"tls_cert,optional"`
	TLSCertRange      hcl.Range      `hcl:"tls_cert,attr_value_range"`
	TLSKey            *string        `hcl:"tls_key,optional"`
	TLSKeyRange       hcl.Range      `hcl:"tls_key,attr_value_range"`
	AgentGateway      *string        `hcl:"agent_gateway,optional"`
	AgentGatewayRange hcl.Range      `hcl:"agent_gateway,attr_value_range"`
	Hello             *string        `hcl:"hello,optional"`
	HelloRange        hcl.Range      `hcl:"hello,attr_value_range"`
	Metrics           *string        `hcl:"metrics,optional"`
	MetricsRange      hcl.Range      `hcl:"metrics,attr_value_range"`
	Advertise         hcl.Expression `hcl:"advertise_addresses,optional"`

	AuditMaxAge                *string   `hcl:"audit_max_age,optional"`
	AuditMaxAgeRange           hcl.Range `hcl:"audit_max_age,attr_value_range"`
	AuditMaxRecords            *int      `hcl:"audit_max_records,optional"`
	AuditMaxRecordsRange       hcl.Range `hcl:"audit_max_records,attr_value_range"`
	HelloPendingExpiry         *string   `hcl:"hello_pending_expiry,optional"`
	HelloPendingExpiryRange    hcl.Range `hcl:"hello_pending_expiry,attr_value_range"`
	HelloPendingPerSource      *int      `hcl:"hello_pending_per_source,optional"`
	HelloPendingPerSourceRange hcl.Range `hcl:"hello_pending_per_source,attr_value_range"`
	HelloPendingMax            *int      `hcl:"hello_pending_max,optional"`
	HelloPendingMaxRange       hcl.Range `hcl:"hello_pending_max,attr_value_range"`
	LeaseTTL                   *string   `hcl:"lease_ttl,optional"`
	LeaseTTLRange              hcl.Range `hcl:"lease_ttl,attr_value_range"`
}

func (b *builder) server(raw *serverRaw, s *Server) {
	if raw == nil {
		return
	}
	b.listen(raw.API, raw.APIRange, "server.api", "127.0.0.1:8443", false, &s.API)
	b.listen(raw.AgentGateway, raw.AgentGatewayRange, "server.agent_gateway", "0.0.0.0:8444", false, &s.AgentGateway)
	b.listen(raw.Hello, raw.HelloRange, "server.hello", "0.0.0.0:9971", true, &s.Hello)
	if raw.Hello != nil && s.Hello != "" {
		if _, port, err := net.SplitHostPort(s.Hello); err == nil && port != HelloPort {
			b.warnf(raw.HelloRange, "Hello listener on an unusual port", "server.hello = %q: devices send hello messages to port %s, not %s; fix: listen on :%s, or forward port %s to this one", *raw.Hello, HelloPort, port, HelloPort, HelloPort)
		}
	}
	b.listen(raw.Metrics, raw.MetricsRange, "server.metrics", "127.0.0.1:9464", true, &s.Metrics)
	s.TLSCert = b.path(raw.TLSCert, raw.TLSCertRange, "server.tls_cert")
	s.TLSKey = b.path(raw.TLSKey, raw.TLSKeyRange, "server.tls_key")
	switch {
	case raw.TLSCert != nil && raw.TLSKey == nil:
		b.errorf(raw.TLSCertRange, "TLS certificate without key", "server.tls_cert is set but server.tls_key is not: want both or neither; fix: add tls_key, or remove tls_cert to let the internal CA issue the server certificate")
	case raw.TLSKey != nil && raw.TLSCert == nil:
		b.errorf(raw.TLSKeyRange, "TLS key without certificate", "server.tls_key is set but server.tls_cert is not: want both or neither; fix: add tls_cert, or remove tls_key to let the internal CA issue the server certificate")
	}
	b.duration(raw.AuditMaxAge, raw.AuditMaxAgeRange, "server.audit_max_age", true, &s.AuditMaxAge)
	b.count(raw.AuditMaxRecords, raw.AuditMaxRecordsRange, "server.audit_max_records", 0, "the oldest beyond it are deleted; 0 keeps every record", &s.AuditMaxRecords)
	b.duration(raw.HelloPendingExpiry, raw.HelloPendingExpiryRange, "server.hello_pending_expiry", false, &s.HelloPendingExpiry)
	b.count(raw.HelloPendingPerSource, raw.HelloPendingPerSourceRange, "server.hello_pending_per_source", 1, "hellos from an address that has this many unaccepted devices are refused", &s.HelloPendingPerSource)
	b.count(raw.HelloPendingMax, raw.HelloPendingMaxRange, "server.hello_pending_max", 1, "hellos from unknown devices are refused once this many wait", &s.HelloPendingMax)
	b.duration(raw.LeaseTTL, raw.LeaseTTLRange, "server.lease_ttl", false, &s.LeaseTTL)
	items, _ := b.stringList(raw.Advertise)
	seen := map[string]bool{}
	for _, it := range items {
		if p := hostProblem(it.val); p != "" {
			b.errorf(it.rng, "Invalid advertised address", `advertise_addresses element %q: %s; want an IP address or a DNS name without a port, as devices reach the RCS; fix: write for example "rcs.corp.example.com" or "10.0.0.5"`, it.val, p)
			continue
		}
		v := normalizeName(it.val)
		if seen[v] {
			b.errorf(it.rng, "Duplicate advertised address", "advertise_addresses lists %q twice: want each address once; fix: remove the second one", it.val)
			continue
		}
		seen[v] = true
		s.AdvertiseAddresses = append(s.AdvertiseAddresses, v)
	}
}

// count sets *dst from an integer attribute of at least least.
func (b *builder) count(v *int, rng hcl.Range, attr string, least int, means string, dst *int) {
	if v == nil {
		return
	}
	if *v < least {
		b.errorf(rng, "Invalid count", "%s = %d: want %d or more (%s); fix: set a number such as %d", attr, *v, least, means, *dst)
		return
	}
	*dst = *v
}
