package config

import (
	"net"

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
	// AdvertiseAddresses are the RCS's own names and IP addresses, as
	// devices and agents reach it; DNS checks expect ProvisionServer.<suffix>
	// to resolve to one of them.
	AdvertiseAddresses []string
}

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
	Advertise         hcl.Expression `hcl:"advertise_addresses,optional"`
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
	s.TLSCert = b.path(raw.TLSCert, raw.TLSCertRange, "server.tls_cert")
	s.TLSKey = b.path(raw.TLSKey, raw.TLSKeyRange, "server.tls_key")
	switch {
	case raw.TLSCert != nil && raw.TLSKey == nil:
		b.errorf(raw.TLSCertRange, "TLS certificate without key", "server.tls_cert is set but server.tls_key is not: want both or neither; fix: add tls_key, or remove tls_cert to let the internal CA issue the server certificate")
	case raw.TLSKey != nil && raw.TLSCert == nil:
		b.errorf(raw.TLSKeyRange, "TLS key without certificate", "server.tls_key is set but server.tls_cert is not: want both or neither; fix: add tls_cert, or remove tls_key to let the internal CA issue the server certificate")
	}
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
