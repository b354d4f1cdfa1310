package config

import (
	"time"

	"github.com/hashicorp/hcl/v2"
)

// DNS configures the resolvers that the DNS checks (ProvisionServer.<suffix>,
// forward and reverse names of devices) query.
type DNS struct {
	// Resolvers are IP:port addresses; empty means the system's resolvers.
	Resolvers []string
	// Timeout bounds each query.
	Timeout time.Duration
}

type dnsRaw struct {
	Resolvers    hcl.Expression `hcl:"resolvers,optional"`
	Timeout      *string        `hcl:"timeout,optional"`
	TimeoutRange hcl.Range      `hcl:"timeout,attr_value_range"`
}

func (b *builder) dns(raw *dnsRaw, d *DNS) {
	if raw == nil {
		return
	}
	items, _ := b.stringList(raw.Resolvers)
	for _, it := range items {
		addr, p := resolverAddr(it.val)
		if p != "" {
			b.errorf(it.rng, "Invalid resolver address", `resolvers element %q: %s; want an IP address, optionally with a port, of a DNS server; fix: write for example "10.0.0.53" or "10.0.0.53:53", or "[fd00::53]:53"`, it.val, p)
			continue
		}
		d.Resolvers = append(d.Resolvers, addr)
	}
	b.duration(raw.Timeout, raw.TimeoutRange, "dns.timeout", false, &d.Timeout)
}
