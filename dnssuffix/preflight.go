package dnssuffix

// DNS preflight: the part of this package that does I/O. It asks real
// resolvers the questions a deployment depends on (ProvisionServer.<suffix>
// for legacy hello discovery, the provisioning certificate's name, each
// device's forward and reverse records) and turns the answers into findings
// an admin can act on. It never changes DNS and never sends anything but
// queries; the suffix rule itself is Match, called with plain values.

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/amt"
)

// Severity ranks a finding. Only SeverityError makes a preflight fail.
type Severity string

const (
	SeverityError   Severity = "error"   // deployment will fail as things stand
	SeverityWarning Severity = "warning" // some paths or some devices will fail
	SeverityInfo    Severity = "info"    // nothing fails, but the admin should know
	SeverityOK      Severity = "ok"      // checked and right
)

// Check names, stable for scripts reading the JSON report.
const (
	CheckInput           = "input"
	CheckProvisionServer = "provision-server"
	CheckCertName        = "cert-name"
	CheckSuffixCoverage  = "suffix-coverage"
	CheckDeviceForward   = "device-forward"
	CheckDeviceReverse   = "device-reverse"
	CheckDeviceRename    = "device-rename"
	CheckResolver        = "resolver"
	CheckAgreement       = "resolver-agreement"
)

// DefaultQueryTimeout bounds one query (UDP, and TCP again after truncation)
// when PreflightInput.Timeout is zero.
const DefaultQueryTimeout = 2 * time.Second

// DeviceName is what the RCS knows about one device's names.
type DeviceName struct {
	// ID is the device's identifier in the RCS, used in the fix for a
	// rename; empty means the FQDN is shown instead.
	ID string `json:"id,omitempty"`
	// Name is the FQDN the device should have in DNS. Empty means OSFQDN.
	Name string `json:"name"`
	// IP is the address the device is reached at; empty skips the forward
	// comparison and the reverse lookup.
	IP string `json:"ip,omitempty"`
	// AMTFQDN is the FQDN the firmware reports (AMT_GeneralSettings);
	// OSFQDN the one the operating system reports. Either may be empty.
	AMTFQDN string `json:"amt_fqdn,omitempty"`
	OSFQDN  string `json:"os_fqdn,omitempty"`
}

// PreflightInput is everything a preflight needs, as plain values, so that
// the CLI and the API call it the same way.
type PreflightInput struct {
	Suffixes     []string      `json:"suffixes"`      // device DNS suffixes (option 15 or MEBx PKI DNS suffix)
	CertNames    []string      `json:"cert_names"`    // CNs (or SAN names) of the provisioning certificates
	RCSAddresses []string      `json:"rcs_addresses"` // addresses this RCS is reached at
	Devices      []DeviceName  `json:"devices"`
	Resolvers    []string      `json:"resolvers"` // host:port; a bare host gets port 53
	Timeout      time.Duration `json:"timeout"`   // per query; zero means DefaultQueryTimeout
	Version      amt.Version   `json:"version"`   // the AMT version the suffix rule is applied for
}

// Finding is one result of the preflight. Fix is set on every finding that
// is not SeverityOK.
type Finding struct {
	Severity Severity `json:"severity"`
	Subject  string   `json:"subject"` // the name, address or resolver concerned
	Check    string   `json:"check"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
}

// Counts tallies findings by severity.
type Counts struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Info     int `json:"info"`
	OK       int `json:"ok"`
}

// Report is the result of a preflight.
type Report struct {
	Resolvers []string  `json:"resolvers"`
	Findings  []Finding `json:"findings"`
	Counts    Counts    `json:"counts"`
}

// Failed reports whether any finding is an error.
func (r Report) Failed() bool { return r.Counts.Errors > 0 }

// Preflight runs every check of in against the resolvers in in.Resolvers and
// returns the findings. It returns when all queries are answered or timed
// out, or when ctx ends; queries still pending then are reported as timed
// out. Invalid input values become SeverityError findings of CheckInput
// rather than an error, so one bad name does not hide the other results.
func Preflight(ctx context.Context, in PreflightInput) Report {
	p := normalize(in)
	answers := resolveAll(ctx, p.resolvers, p.questions(), p.timeout)
	return buildReport(p, answers)
}

// preflight is PreflightInput after validation: names lower-cased without
// the trailing dot, addresses parsed, bad values turned into findings.
type preflight struct {
	suffixes  []string
	certNames []string
	rcs       []netip.Addr
	devices   []device
	resolvers []string
	timeout   time.Duration
	version   amt.Version
	input     []Finding
}

type device struct {
	id, name, amtName, osName string
	ip                        netip.Addr // invalid when unknown
}

func normalize(in PreflightInput) preflight {
	p := preflight{timeout: in.Timeout, version: in.Version}
	if p.timeout <= 0 {
		p.timeout = DefaultQueryTimeout
	}
	bad := func(subject, msg, fix string) {
		if strings.TrimSpace(subject) == "" {
			subject = fmt.Sprintf("%q", subject)
		}
		p.input = append(p.input, Finding{Severity: SeverityError, Subject: subject, Check: CheckInput, Message: msg, Fix: fix})
	}
	seen := map[string]bool{}
	for _, s := range in.Suffixes {
		n, err := ValidateName(strings.TrimSpace(s))
		if err != nil {
			bad(s, "device suffix: "+err.Error(), nameFix(err, "give the suffix as DHCP option 15 or the MEBx PKI DNS suffix has it, for example corp.example.com"))
			continue
		}
		if !seen["s:"+n] {
			seen["s:"+n] = true
			p.suffixes = append(p.suffixes, n)
		}
	}
	for _, c := range in.CertNames {
		n, err := ValidateCertName(strings.TrimSpace(c))
		if err != nil {
			bad(c, "certificate name: "+err.Error(), nameFix(err, "give the certificate's CN or SAN DNS name, for example rcs.corp.example.com or *.corp.example.com"))
			continue
		}
		if !seen["c:"+n] {
			seen["c:"+n] = true
			p.certNames = append(p.certNames, n)
		}
	}
	for _, a := range in.RCSAddresses {
		ip, err := netip.ParseAddr(strings.TrimSpace(a))
		if err != nil {
			bad(a, fmt.Sprintf("RCS address %q is not an IP address", a), "give the address devices reach this RCS at, for example 192.0.2.10 or 2001:db8::10")
			continue
		}
		ip = ip.Unmap().WithZone("")
		if !seen["a:"+ip.String()] {
			seen["a:"+ip.String()] = true
			p.rcs = append(p.rcs, ip)
		}
	}
	for _, d := range in.Devices {
		dv := device{id: d.ID}
		raw := d.Name
		if raw == "" {
			raw = d.OSFQDN
		}
		n, err := ValidateName(strings.TrimSpace(raw))
		if err != nil {
			bad(raw, "device name: "+err.Error(), nameFix(err, "give the device's FQDN, for example pc42.corp.example.com"))
			continue
		}
		dv.name = n
		if d.IP != "" {
			ip, err := netip.ParseAddr(strings.TrimSpace(d.IP))
			if err != nil {
				bad(n, fmt.Sprintf("device %s: address %q is not an IP address", n, d.IP), "give the device's address, for example 192.0.2.42")
				continue
			}
			dv.ip = ip.Unmap().WithZone("")
		}
		// Names reported by firmware or OS are compared, not queried, so a
		// malformed one is kept as written and simply will not match.
		dv.amtName = canonicalName(d.AMTFQDN)
		dv.osName = canonicalName(d.OSFQDN)
		if dv.osName == "" {
			dv.osName = dv.name
		}
		p.devices = append(p.devices, dv)
	}
	for _, r := range in.Resolvers {
		addr, err := NormalizeResolver(r)
		if err != nil {
			bad(r, err.Error(), "give the resolver as HOST or HOST:PORT, for example 192.0.2.53 or [2001:db8::53]:53")
			continue
		}
		if !seen["r:"+addr] {
			seen["r:"+addr] = true
			p.resolvers = append(p.resolvers, addr)
		}
	}
	if len(p.resolvers) == 0 && len(in.Resolvers) == 0 {
		bad("resolvers", "no DNS resolver to ask", "pass --resolver HOST:PORT, set resolvers in the config, or list nameservers in /etc/resolv.conf")
	}
	return p
}

// nameFix is the fix a refusal of a name carries, else the fallback.
func nameFix(err error, fallback string) string {
	if r, ok := amt.AsRefusal(err); ok && r.Fix != "" {
		return r.Fix
	}
	return fallback
}

func canonicalName(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}
