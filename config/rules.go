package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/dnssuffix"
)

// The checks below return "" when the value is fine, else the reason in a few
// words; the caller wraps it into a diagnostic that also says what is wanted
// and how to fix it.

// normalizeName lowercases a DNS name and drops one trailing dot: DNS is
// case-insensitive and AMT compares suffixes without the root dot.
func normalizeName(s string) string {
	return strings.TrimSuffix(strings.ToLower(s), ".")
}

// dnsNameProblem checks a DNS name (a suffix or a host name) by
// dnssuffix.ValidateName, the one definition of a name the suffix rule can
// compare, so that a suffix the config accepts is never refused later by the
// CLI, the API or the preflight.
func dnsNameProblem(s string) string {
	_, err := dnssuffix.ValidateName(s)
	if err == nil {
		return ""
	}
	if problem, ok := dnssuffix.NameProblem(err, s); ok {
		r, _ := amt.AsRefusal(err)
		return problem + " (" + r.Fix + ")"
	}
	return err.Error()
}

// listenProblem checks a listen address: host:port with a numeric port, the
// host empty (all interfaces), an IP address or a DNS name.
func listenProblem(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return strings.TrimPrefix(err.Error(), "address "+addr+": ")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Sprintf("port %q is not a number from 0 to 65535", port)
	}
	if host == "" {
		return ""
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	if pr := dnsNameProblem(host); pr != "" {
		return "host " + strconv.Quote(host) + ": " + pr
	}
	return ""
}

// isLoopbackListen reports whether a listen address accepts only local
// connections. Names other than localhost are not resolved: they count as
// reachable from outside.
func isLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// hostProblem checks an address without a port: an IP address or a DNS name.
func hostProblem(s string) string {
	if _, err := netip.ParseAddr(s); err == nil {
		return ""
	}
	if strings.Contains(s, ":") {
		return "it has a port or is not a valid IP address"
	}
	return dnsNameProblem(s)
}

// resolverAddr accepts "IP" or "IP:port" and returns "IP:port" with port 53
// when none is given.
func resolverAddr(s string) (string, string) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(ip, 53).String(), ""
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return "", "it is not an IP address or IP:port"
	}
	if ap.Port() == 0 {
		return "", "port 0 cannot be queried"
	}
	return ap.String(), ""
}

// envNameProblem checks the name of an environment variable.
func envNameProblem(s string) string {
	if s == "" {
		return "it is empty"
	}
	for i, c := range []byte(s) {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return fmt.Sprintf("byte %d is not a letter, digit or underscore, or the name starts with a digit", i)
		}
	}
	return ""
}

// sha256Hex normalises a SHA-256 given in hex, with optional colons (as
// openssl prints it) and any case, to 64 lowercase hex digits.
func sha256Hex(s string) (string, string) {
	h := strings.ToLower(strings.ReplaceAll(s, ":", ""))
	if len(h) != 64 {
		return "", fmt.Sprintf("it has %d hex digits, a SHA-256 has 64", len(h))
	}
	for _, c := range []byte(h) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", fmt.Sprintf("it contains %q, which is not a hex digit", c)
		}
	}
	return h, ""
}

// parseDuration parses a Go duration ("336h", "90m", "1h30m").
func parseDuration(s string) (time.Duration, string) {
	d, err := time.ParseDuration(s)
	if err != nil {
		if strings.HasSuffix(s, "d") {
			return 0, "Go durations have no day unit (d)"
		}
		return 0, "it is not a Go duration"
	}
	if d < 0 {
		return 0, "it is negative"
	}
	return d, ""
}

// humanDuration writes whole days as "14 days" for messages; it falls back to
// the Go form.
func humanDuration(d time.Duration) string {
	if d >= day && d%day == 0 {
		n := int(d / day)
		if n == 1 {
			return "1 day"
		}
		return strconv.Itoa(n) + " days"
	}
	return d.String()
}

// kmsSchemes are the KMS types that go.step.sm/crypto/kms understands.
var kmsSchemes = []string{"awskms", "azurekms", "capi", "cloudkms", "kms", "mackms", "pkcs11", "softkms", "tpmkms", "yubikey"}

func kmsProblem(uri string) string {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok || rest == "" {
		return "it is not a KMS URI of the form TYPE:OPTIONS"
	}
	for _, k := range kmsSchemes {
		if scheme == k {
			return ""
		}
	}
	return "its KMS type (before the first colon) is not one of the known types"
}
