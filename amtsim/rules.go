package amtsim

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/dnssuffix"
)

// Names of the firmware rules a simulated device enforces. A refusal is
// recorded in the device's event log as an *amt.RuleError carrying one of
// these, and answered on the wire with the return code or TLS alert real
// firmware gives. The certificate rules are package amt's, so that the
// workshop and the simulator judge a chain by the same functions.
const (
	RuleChainOrder        = "certificate chain order"
	RuleChainSignature    = "certificate chain signature"
	RuleChainParse        = "certificate encoding"
	RuleLeafMarking       = amt.RuleMarking
	RuleServerAuthEKU     = amt.RuleServerAuth
	RuleLeafKey           = amt.RuleKeyType
	RuleRootHash          = "trusted root hash"
	RuleRootHashInactive  = "trusted root hash inactive"
	RuleRootSelfSigned    = "self-signed root"
	RuleSHA1Chain         = amt.RuleSHA1
	RuleRSAKeySize        = amt.RuleRSASize
	RuleChainLength       = amt.RuleChainLength
	RuleValidity          = amt.RuleValidity
	RuleDomainSuffix      = amt.RuleSuffix
	RuleNoSuffix          = "device DNS suffix"
	RuleLeafHash          = "provisioning leaf hash"
	RuleNonce             = "configuration nonce"
	RuleSignature         = "setup signature"
	RulePasswordFormat    = "NetworkAdminPassword format"
	RuleDigestPassword    = "DigestPassword format"
	RuleParameter         = "method parameter"
	RuleState             = "provisioning state"
	RuleAdminSetupRemoved = "AdminSetup removed in AMT 19"
	RuleTLSSetupVersion   = "TLS-based setup version"
	RuleFlashWrites       = "flash write limit"
	RuleMEBxPassword      = "MEBx password policy"
	RuleHelloVersion      = "legacy network setup version"
	RuleAccess            = "access"
)

// SuffixPrecedence says which DNS suffix the device uses for the suffix
// rule when both DHCP option 15 and the MEBx PKI DNS suffix are set. Which
// one real firmware prefers is UNVERIFIED (reference §4), so it is a device
// setting.
type SuffixPrecedence string

const (
	// PreferMEBx uses the MEBx PKI DNS suffix when it is set: Intel advises
	// setting it exactly when option 15 is unusable, which only makes sense
	// if it wins.
	PreferMEBx SuffixPrecedence = "mebx"
	// PreferDHCP uses DHCP option 15 when it is set.
	PreferDHCP SuffixPrecedence = "dhcp"
)

// ParseSuffixPrecedence reads "mebx" or "dhcp" ("" is mebx).
func ParseSuffixPrecedence(s string) (SuffixPrecedence, error) {
	switch SuffixPrecedence(strings.ToLower(strings.TrimSpace(s))) {
	case "", PreferMEBx:
		return PreferMEBx, nil
	case PreferDHCP:
		return PreferDHCP, nil
	}
	return "", fmt.Errorf("suffix precedence %q: want mebx (the MEBx PKI DNS suffix wins when set) or dhcp (option 15 wins when set)", s)
}

// Rules are the behaviours the reference marks UNVERIFIED, each a named
// setting so that a newer finding changes one value and its test. The zero
// value is the simulator's default; see each field.
type Rules struct {
	// MaxChainLength overrides the profile's longest provisioning chain
	// (root included) before AddNextCertInChain returns 5. 0 keeps the
	// profile's value (4, what RPS allows; the firmware limit is
	// UNVERIFIED, reference §3).
	MaxChainLength int `json:"max_chain_length,omitempty"`
	// SetupDigestOff turns off digest authentication inside a client
	// certificate setup session (TLS-based or legacy network setup).
	// Whether firmware enforces it there is UNVERIFIED (reference §13); by
	// default the simulator requires it, which is stricter and so safer:
	// user "admin" with an empty password until SetAdminAclEntryEx, then
	// the admin user and the password it set.
	SetupDigestOff bool `json:"setup_digest_off,omitempty"`
	// HelloMaxVersion is the newest firmware that still does legacy network
	// setup (hello). The release that removed it is UNVERIFIED (reference
	// §7); zero means every version does it.
	HelloMaxVersion amt.Version `json:"hello_max_version"`
	// TLSMaxVersion caps the TLS version of port 16993. Whether AMT 19
	// negotiates TLS 1.3 there is UNVERIFIED; the default, TLS 1.2, makes a
	// refused client chain fail the client's handshake itself, with the
	// alert, instead of its first read.
	TLSMaxVersion uint16 `json:"tls_max_version,omitempty"`
	// SkipServerAuthEKU stops requiring the server-authentication EKU on the
	// provisioning leaf (reference §3 says the leaf carries it; the default
	// requires it).
	SkipServerAuthEKU bool `json:"skip_server_auth_eku,omitempty"`
}

func (r Rules) tlsMaxVersion() uint16 {
	if r.TLSMaxVersion == 0 {
		return tls.VersionTLS12
	}
	return r.TLSMaxVersion
}

func (r Rules) helloAllowed(v amt.Version) bool {
	return r.HelloMaxVersion == (amt.Version{}) || !r.HelloMaxVersion.Less(v)
}

// chainCheck holds what the chain rules need from the device, copied under
// the device lock so that checking runs without it.
type chainCheck struct {
	version  amt.Version
	profile  amt.Profile
	hashes   *amt.HashTable
	now      time.Time // the firmware clock
	suffixes []string  // any one must match the leaf
	maxLen   int
	rules    Rules
}

func refusal(rule, seen, want, fix string) *amt.RuleError {
	return &amt.RuleError{Rule: rule, Seen: seen, Want: want, Fix: fix}
}

func certName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return "CN=" + c.Subject.CommonName
	}
	return c.Subject.String()
}

// cert applies the rules to the certificate at position pos (0 is the leaf)
// given the one before it (nil for the leaf). It returns the
// AddNextCertInChain code and the refusal.
func (k chainCheck) cert(pos int, c, prev *x509.Certificate, isLeaf, isRoot bool) (amt.ReturnCode, *amt.RuleError) {
	name := certName(c)
	if r, ok := amt.CheckChainLength(pos+1, k.maxLen, "AMT "+k.version.String()); !ok {
		return amt.CertChainTooLong, &r
	}
	if (pos == 0) != isLeaf {
		seen := fmt.Sprintf("IsLeafCertificate=%t for certificate %d (%s)", isLeaf, pos+1, name)
		return amt.CertChainInvalidParam, refusal(RuleChainOrder, seen, "the leaf first and only the first certificate flagged as leaf", "send the chain leaf first, intermediates next, root last")
	}
	if prev != nil && !amt.IssuedBy(prev, c) {
		return amt.CertChainVerifyFailed, refusal(RuleChainSignature, fmt.Sprintf("%s does not sign %s", name, certName(prev)), "each certificate signed by the next one", "send the chain in order leaf, intermediates, root, with the intermediates the vendor gave for this certificate")
	}
	for _, check := range []func() (amt.RuleError, bool){
		func() (amt.RuleError, bool) { return amt.CheckValidity(c, name, k.now) },
		func() (amt.RuleError, bool) { return amt.CheckSHA1(c, name, k.profile) },
		func() (amt.RuleError, bool) { return amt.CheckRSASize(c, name, k.profile) },
	} {
		if r, ok := check(); !ok {
			return amt.CertChainVerifyFailed, &r
		}
	}
	if isLeaf {
		if rc, re := k.leaf(c); re != nil {
			return rc, re
		}
	}
	if isRoot {
		if rc, re := k.root(c); re != nil {
			return rc, re
		}
	}
	return amt.CertChainSuccess, nil
}

func (k chainCheck) leaf(c *x509.Certificate) (amt.ReturnCode, *amt.RuleError) {
	checks := []func(*x509.Certificate) (amt.RuleError, bool){amt.CheckKeyType, amt.CheckMarking}
	if !k.rules.SkipServerAuthEKU {
		checks = append(checks, amt.CheckServerAuth)
	}
	for _, check := range checks {
		if r, ok := check(c); !ok {
			return amt.CertChainVerifyFailed, &r
		}
	}
	if len(k.suffixes) == 0 {
		return amt.CertChainVerifyFailed, refusal(RuleNoSuffix, "no DNS suffix on the device", "DHCP option 15 or a MEBx PKI DNS suffix", "set DHCP option 15 for the device's network or set the PKI DNS suffix in MEBx")
	}
	var reasons []string
	for _, s := range k.suffixes {
		r := dnssuffix.MatchCertificate(c, s, k.version)
		if r.Match {
			return amt.CertChainSuccess, nil
		}
		reasons = append(reasons, r.Reason)
		if len(k.suffixes) == 1 {
			return amt.CertChainVerifyFailed, refusal(RuleDomainSuffix, r.Reason, "a certificate name under the device's DNS suffix ("+dnssuffix.RuleExtendedTLD+" rule)", r.Fix)
		}
	}
	return amt.CertChainVerifyFailed, refusal(RuleDomainSuffix, strings.Join(reasons, "; "), "a certificate name that matches one of "+strings.Join(k.suffixes, ", "), "announce the suffix the certificate covers, or use a certificate for the device's domain")
}

func (k chainCheck) root(c *x509.Certificate) (amt.ReturnCode, *amt.RuleError) {
	name := certName(c)
	if !amt.IssuedBy(c, c) {
		return amt.CertChainVerifyFailed, refusal(RuleRootSelfSigned, fmt.Sprintf("%s flagged as root is not self-signed", name), "the last certificate to be the self-signed root", "append the vendor's root certificate after the intermediates")
	}
	e, ok := k.hashes.Find(c.Raw)
	if !ok {
		seen := fmt.Sprintf("root %s with SHA-256 %s", name, strings.ToUpper(hex.EncodeToString(amt.HashSHA256.Sum(c.Raw))))
		return amt.CertChainVerifyFailed, refusal(RuleRootHash, seen, "a root whose hash is in the device's table", "buy from a vendor whose root is a default of this AMT version, or add the root's SHA-256 hash as a custom hash in MEBx")
	}
	if !e.Active {
		return amt.CertChainVerifyFailed, refusal(RuleRootHashInactive, fmt.Sprintf("root %s matches %q (%s), which is deactivated", name, e.Name, e.Algorithm), "an active entry", "activate the hash in MEBx (Manage Certificates)")
	}
	return amt.CertChainSuccess, nil
}

// chain applies every rule to a whole chain, leaf first, as the TLS-based
// and legacy setups receive it in the client's Certificate message.
func (k chainCheck) chain(certs []*x509.Certificate) *amt.RuleError {
	if len(certs) == 0 {
		return refusal(RuleChainOrder, "no client certificate", "the provisioning chain, leaf first, root last", "present the whole provisioning chain as the TLS client certificate")
	}
	var prev *x509.Certificate
	for i, c := range certs {
		if _, re := k.cert(i, c, prev, i == 0, i == len(certs)-1); re != nil {
			return re
		}
		prev = c
	}
	return nil
}
