package amtsim

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // firmware before ME 16 verifies SHA-1 signatures; the simulator must too
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/dnssuffix"
)

// Names of the firmware rules a simulated device enforces. A refusal is
// recorded in the device's event log as an *amt.RuleError carrying one of
// these, and answered on the wire with the return code or TLS alert real
// firmware gives.
const (
	RuleChainOrder        = "certificate chain order"
	RuleChainSignature    = "certificate chain signature"
	RuleChainParse        = "certificate encoding"
	RuleLeafMarking       = "AMT provisioning marking"
	RuleServerAuthEKU     = "server authentication EKU"
	RuleLeafKey           = "provisioning key type"
	RuleRootHash          = "trusted root hash"
	RuleRootHashInactive  = "trusted root hash inactive"
	RuleRootSelfSigned    = "self-signed root"
	RuleSHA1Chain         = "SHA-1 in the chain"
	RuleRSAKeySize        = "RSA key size"
	RuleChainLength       = "certificate chain length"
	RuleValidity          = "certificate validity"
	RuleDomainSuffix      = "domain suffix"
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

func isSHA1(a x509.SignatureAlgorithm) bool {
	return a == x509.SHA1WithRSA || a == x509.ECDSAWithSHA1 || a == x509.DSAWithSHA1
}

// checkSignedBy verifies that parent issued child. crypto/x509 refuses SHA-1
// in its chain builder, but firmware before ME 16 accepts it, so signatures
// are checked here one by one with the low-level API, which still does.
func checkSignedBy(child, parent *x509.Certificate) error {
	if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
		return fmt.Errorf("issuer %q is not the next certificate's subject %q", child.Issuer.String(), parent.Subject.String())
	}
	if child.SignatureAlgorithm == x509.SHA1WithRSA {
		pub, ok := parent.PublicKey.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("SHA-1 RSA signature under a %T key", parent.PublicKey)
		}
		h := sha1.Sum(child.RawTBSCertificate) //nolint:gosec // see import
		return rsa.VerifyPKCS1v15(pub, crypto.SHA1, h[:], child.Signature)
	}
	return parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature)
}

func keyBits(pub any) (string, int) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ECDSA", k.Curve.Params().BitSize
	}
	return fmt.Sprintf("%T", pub), 0
}

// hasProvisioningMark reports the AMT marking of reference §3: the Intel
// provisioning EKU, or the exact OU.
func hasProvisioningMark(c *x509.Certificate) bool {
	for _, oid := range c.UnknownExtKeyUsage {
		if oid.Equal(amt.ProvisioningOID()) {
			return true
		}
	}
	return slices.Contains(c.Subject.OrganizationalUnit, amt.ClientSetupOU)
}

// cert applies the rules to the certificate at position pos (0 is the leaf)
// given the one before it (nil for the leaf). It returns the
// AddNextCertInChain code and the refusal.
func (k chainCheck) cert(pos int, c, prev *x509.Certificate, isLeaf, isRoot bool) (amt.ReturnCode, *amt.RuleError) {
	name := certName(c)
	if pos >= k.maxLen {
		return amt.CertChainTooLong, refusal(RuleChainLength, fmt.Sprintf("certificate %d (%s)", pos+1, name), fmt.Sprintf("at most %d certificates, root included, on AMT %s", k.maxLen, k.version), "buy the provisioning certificate from a vendor whose chain is shorter, or leave out cross-signed intermediates")
	}
	if (pos == 0) != isLeaf {
		seen := fmt.Sprintf("IsLeafCertificate=%t for certificate %d (%s)", isLeaf, pos+1, name)
		return amt.CertChainInvalidParam, refusal(RuleChainOrder, seen, "the leaf first and only the first certificate flagged as leaf", "send the chain leaf first, intermediates next, root last")
	}
	if prev != nil {
		if err := checkSignedBy(prev, c); err != nil {
			return amt.CertChainVerifyFailed, refusal(RuleChainSignature, fmt.Sprintf("%s does not sign %s: %v", name, certName(prev), err), "each certificate signed by the next one", "send the chain in order leaf, intermediates, root, with the intermediates the vendor gave for this certificate")
		}
	}
	if k.now.Before(c.NotBefore) || k.now.After(c.NotAfter) {
		seen := fmt.Sprintf("%s valid %s to %s, firmware clock %s", name, c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), k.now.UTC().Format(time.RFC3339))
		return amt.CertChainVerifyFailed, refusal(RuleValidity, seen, "the firmware clock inside the validity period", "set the AMT clock (SetHighAccuracyTimeSynch) or use a certificate valid now; back-date notBefore by a day")
	}
	if k.profile.RefuseSHA1 && isSHA1(c.SignatureAlgorithm) {
		return amt.CertChainVerifyFailed, refusal(RuleSHA1Chain, fmt.Sprintf("%s signed with %v on AMT %s", name, c.SignatureAlgorithm, k.version), "SHA-256 or stronger for every certificate, root included, from AMT 16", "buy a certificate whose whole chain is SHA-256, ending in a SHA-256 root")
	}
	alg, bits := keyBits(c.PublicKey)
	if alg == "RSA" && bits < k.profile.MinRSABits {
		return amt.CertChainVerifyFailed, refusal(RuleRSAKeySize, fmt.Sprintf("%s has an RSA-%d key", name, bits), fmt.Sprintf("at least %d bits on AMT %s", k.profile.MinRSABits, k.version), "use RSA 2048 or larger keys throughout the chain")
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
	name := certName(c)
	if alg, bits := keyBits(c.PublicKey); alg != "RSA" {
		return amt.CertChainVerifyFailed, refusal(RuleLeafKey, fmt.Sprintf("%s has a %s-%d key", name, alg, bits), "an RSA key (ECC provisioning certificates are not supported)", "buy the provisioning certificate with an RSA 2048 or 3072 key")
	}
	if !hasProvisioningMark(c) {
		return amt.CertChainVerifyFailed, refusal(RuleLeafMarking, fmt.Sprintf("%s has neither the AMT provisioning EKU nor the OU; OUs %q", name, c.Subject.OrganizationalUnit), fmt.Sprintf("EKU %s or OU exactly %q", amt.ProvisioningOIDString, amt.ClientSetupOU), "buy an AMT provisioning certificate (the vendor adds the OID), or put the exact OU in the CSR")
	}
	if !k.rules.SkipServerAuthEKU && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		return amt.CertChainVerifyFailed, refusal(RuleServerAuthEKU, fmt.Sprintf("%s without the server-authentication EKU", name), "EKU serverAuth (1.3.6.1.5.5.7.3.1) next to the AMT marking", "request the certificate as a TLS server certificate")
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
	if err := checkSignedBy(c, c); err != nil {
		return amt.CertChainVerifyFailed, refusal(RuleRootSelfSigned, fmt.Sprintf("%s flagged as root is not self-signed: %v", name, err), "the last certificate to be the self-signed root", "append the vendor's root certificate after the intermediates")
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
