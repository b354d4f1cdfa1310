package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Domain is a set of DNS suffixes served by one provisioning certificate and
// one profile.
type Domain struct {
	Name string // the block label
	// Suffixes are the fleet's DNS suffixes (DHCP option 15 or MEBx PKI DNS
	// suffix), lowercase and without a trailing dot.
	Suffixes []string
	// ProvisioningCert is the store id of the provisioning certificate;
	// ProvisioningCertFile a PEM file with the chain and its key. Both empty
	// means the RCS picks a stored certificate that covers the suffix.
	ProvisioningCert     string
	ProvisioningCertFile string
	// MEBxSuffix is the PKI DNS suffix to expect in, or set into, the MEBx
	// of devices in this domain; empty means none.
	MEBxSuffix string
	// Profile names the profile applied to devices of this domain.
	Profile string
	// AllowedProfiles are the other profiles an agent of this domain may
	// ask for (agent --profile); the server refuses any other.
	AllowedProfiles []string
}

type domainRaw struct {
	Name                      string         `hcl:"name,label"`
	NameRange                 hcl.Range      `hcl:"name,label_range"`
	DefRange                  hcl.Range      `hcl:",def_range"`
	Suffixes                  hcl.Expression `hcl:"suffixes,optional"`
	ProvisioningCert          *string        `hcl:"provisioning_cert,optional"`
	ProvisioningCertRange     hcl.Range      `hcl:"provisioning_cert,attr_value_range"`
	ProvisioningCertFile      *string        `hcl:"provisioning_cert_file,optional"`
	ProvisioningCertFileRange hcl.Range      `hcl:"provisioning_cert_file,attr_value_range"`
	MEBxSuffix                *string        `hcl:"mebx_suffix,optional"`
	MEBxSuffixRange           hcl.Range      `hcl:"mebx_suffix,attr_value_range"`
	Profile                   *string        `hcl:"profile,optional"`
	ProfileRange              hcl.Range      `hcl:"profile,attr_value_range"`
	AllowedProfiles           hcl.Expression `hcl:"allowed_profiles,optional"`
}

// domains runs after profiles so that profile references can be checked.
func (b *builder) domains(raws []domainRaw, c *Config) {
	names := map[string]hcl.Range{}
	owner := map[string]struct {
		domain string
		rng    hcl.Range
	}{}
	for _, raw := range raws {
		if first, dup := names[raw.Name]; dup {
			b.errorf(raw.NameRange, "Duplicate domain", "domain %q is defined twice (first at %s): want one block per domain name; fix: merge the blocks or rename this one", raw.Name, pos(first))
			continue
		}
		names[raw.Name] = raw.NameRange
		if raw.Name == "" {
			b.errorf(raw.NameRange, "Empty domain name", `domain "": want a name such as "corp"; fix: name the block`)
		}
		d := Domain{Name: raw.Name, Profile: DefaultProfileName}
		items, status := b.stringList(raw.Suffixes)
		if status == listAbsent || status == listOK && len(items) == 0 {
			b.errorf(raw.DefRange, "Domain without suffixes", `domain %q lists no suffixes: want the DNS suffixes of its devices; fix: add suffixes = ["corp.example.com"]`, raw.Name)
		}
		for _, it := range items {
			if p := dnsNameProblem(it.val); p != "" {
				b.errorf(it.rng, "Invalid DNS suffix", `domain %q suffix %q: %s; want a DNS name such as "corp.example.com" (letters, digits, hyphens; labels of 1 to 63, 253 in all); fix: write the suffix as DHCP option 15 gives it`, raw.Name, it.val, p)
				continue
			}
			s := normalizeName(it.val)
			if prev, dup := owner[s]; dup {
				where := "domain " + fmt.Sprintf("%q", prev.domain)
				if prev.domain == raw.Name {
					where = "this domain"
				}
				b.errorf(it.rng, "Suffix listed twice", "suffix %q is already listed in %s (at %s): want each suffix in one domain, so a device maps to one certificate and profile; fix: remove one of them", s, where, pos(prev.rng))
				continue
			}
			owner[s] = struct {
				domain string
				rng    hcl.Range
			}{raw.Name, it.rng}
			d.Suffixes = append(d.Suffixes, s)
		}
		if raw.ProvisioningCert != nil {
			if *raw.ProvisioningCert == "" {
				b.errorf(raw.ProvisioningCertRange, "Empty certificate id", `domain %q provisioning_cert = "": want the id of a stored provisioning certificate (see amtrcs cert list); fix: set it, or remove it to choose by suffix`, raw.Name)
			}
			d.ProvisioningCert = *raw.ProvisioningCert
		}
		d.ProvisioningCertFile = b.path(raw.ProvisioningCertFile, raw.ProvisioningCertFileRange, "provisioning_cert_file")
		if raw.ProvisioningCert != nil && raw.ProvisioningCertFile != nil {
			b.errorf(raw.ProvisioningCertFileRange, "Two provisioning certificates", "domain %q sets both provisioning_cert and provisioning_cert_file: want at most one; fix: remove one of them", raw.Name)
		}
		if raw.MEBxSuffix != nil {
			if p := dnsNameProblem(*raw.MEBxSuffix); p != "" {
				b.errorf(raw.MEBxSuffixRange, "Invalid DNS suffix", `domain %q mebx_suffix = %q: %s; want a DNS name such as "corp.example.com"; fix: write the PKI DNS suffix as the MEBx should hold it`, raw.Name, *raw.MEBxSuffix, p)
			} else {
				d.MEBxSuffix = normalizeName(*raw.MEBxSuffix)
			}
		}
		allowed, _ := b.stringList(raw.AllowedProfiles)
		for _, it := range allowed {
			if _, ok := c.Profile(it.val); !ok {
				b.errorf(it.rng, "Unknown profile", "domain %q allowed_profiles lists %q: no such profile; want one of %s; fix: define profile %q or remove it from the list", raw.Name, it.val, profileNames(c), it.val)
				continue
			}
			d.AllowedProfiles = append(d.AllowedProfiles, it.val)
		}
		if raw.Profile != nil {
			if _, ok := c.Profile(*raw.Profile); !ok {
				b.errorf(raw.ProfileRange, "Unknown profile", "domain %q profile = %q: no such profile; want one of %s; fix: define profile %q or use an existing one", raw.Name, *raw.Profile, profileNames(c), *raw.Profile)
			} else {
				d.Profile = *raw.Profile
			}
		}
		c.Domains = append(c.Domains, d)
	}
}

func profileNames(c *Config) string {
	var n []string
	for _, p := range c.Profiles {
		n = append(n, fmt.Sprintf("%q", p.Name))
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}
