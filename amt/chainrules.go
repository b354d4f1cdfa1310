package amt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Names of the firmware's rules for the certificates of a provisioning
// chain, as they appear in RuleError.Rule.
const (
	RuleMarking     = "AMT marking"
	RuleServerAuth  = "server authentication EKU"
	RuleKeyType     = "key type"
	RuleRSASize     = "RSA key size"
	RuleSHA1        = "SHA-1 signature"
	RuleValidity    = "validity"
	RuleChainLength = "chain length"
	RuleSuffix      = "domain suffix"
)

// The rules below are the firmware's checks of one provisioning
// certificate (reference §3). The workshop (csr.Check) applies them to a
// delivery and the simulator applies them to what an RCS sends it, so that
// the workshop can never call usable a chain the simulated firmware
// refuses, or the reverse. Each returns ok, or the refusal naming the
// certificate as name; on ok the refusal's Rule and Seen still say what was
// found where a report shows it.

// IssuedBy reports whether parent's key signed child. SHA-1 signatures are
// verified like any other here (the low-level CheckSignature still accepts
// them): whether a firmware version takes them is CheckSHA1's rule, and a
// SHA-1 chain must be reported as SHA-1 signed rather than as broken.
func IssuedBy(child, parent *x509.Certificate) bool {
	if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
		return false
	}
	return parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) == nil
}

// IsSHA1 reports whether a signature algorithm hashes with SHA-1.
func IsSHA1(a x509.SignatureAlgorithm) bool {
	return a == x509.SHA1WithRSA || a == x509.ECDSAWithSHA1 || a == x509.DSAWithSHA1
}

// DescribeKey names a public key's type and size, as refusals and reports
// show it.
func DescribeKey(pub crypto.PublicKey) (typ string, bits int) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name, k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "Ed25519", 256
	}
	return fmt.Sprintf("%T", pub), 0
}

// CheckMarking finds the AMT marking: the provisioning EKU, or the OU
// spelled exactly. A near miss of the OU is named as such, because it is
// the mistake vendors make.
func CheckMarking(leaf *x509.Certificate) (RuleError, bool) {
	for _, oid := range leaf.UnknownExtKeyUsage {
		if oid.Equal(ProvisioningOID()) {
			return RuleError{Rule: RuleMarking, Seen: "EKU " + ProvisioningOIDString + " (Intel AMT provisioning)"}, true
		}
	}
	for _, ou := range leaf.Subject.OrganizationalUnit {
		if ou == ClientSetupOU {
			return RuleError{Rule: RuleMarking, Seen: fmt.Sprintf("OU %q", ou)}, true
		}
	}
	want := fmt.Sprintf("EKU %s, or OU exactly %q (case-sensitive, no trailing period)", ProvisioningOID(), ClientSetupOU)
	for _, ou := range leaf.Subject.OrganizationalUnit {
		norm := strings.ToLower(strings.Join(strings.Fields(strings.TrimRight(ou, ". ")), " "))
		if norm == strings.ToLower(ClientSetupOU) || strings.Contains(norm, "client setup") {
			return RuleError{Rule: RuleMarking, Seen: fmt.Sprintf("OU %q is not spelled exactly as the firmware compares it", ou), Want: want,
				Fix: "ask the vendor to reissue with the OU spelled exactly, or with the AMT provisioning EKU"}, false
		}
	}
	return RuleError{Rule: RuleMarking, Seen: "the leaf has neither the AMT provisioning EKU nor the AMT OU", Want: want,
		Fix: "buy an Intel AMT provisioning certificate, or make the CSR with `amtrcs csr new --ou-marking`"}, false
}

// CheckServerAuth wants the server-authentication EKU on the leaf. The
// reference says the leaf carries that EKU, not any EKU, so
// anyExtendedKeyUsage does not stand in for it.
func CheckServerAuth(leaf *x509.Certificate) (RuleError, bool) {
	if slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		return RuleError{Rule: RuleServerAuth, Seen: "the leaf has the server-authentication EKU (1.3.6.1.5.5.7.3.1)"}, true
	}
	return RuleError{Rule: RuleServerAuth, Seen: "the leaf has no server-authentication EKU",
		Want: "extended key usage 1.3.6.1.5.5.7.3.1 (TLS Web Server Authentication)",
		Fix:  "ask the vendor to reissue the certificate as an Intel AMT provisioning (TLS server) certificate"}, false
}

// CheckKeyType wants an RSA leaf: elliptic-curve provisioning certificates
// are not documented, so they are treated as refused.
func CheckKeyType(leaf *x509.Certificate) (RuleError, bool) {
	typ, bits := DescribeKey(leaf.PublicKey)
	if typ == "RSA" {
		return RuleError{Rule: RuleKeyType, Seen: fmt.Sprintf("RSA %d bits", bits)}, true
	}
	return RuleError{Rule: RuleKeyType, Seen: fmt.Sprintf("the leaf has a %s key (%d bits)", typ, bits),
		Want: "an RSA key (AMT firmware does not accept elliptic-curve provisioning certificates)",
		Fix:  "make a new CSR with `amtrcs csr new --key rsa2048` and have the certificate reissued"}, false
}

// CheckSHA1 refuses a SHA-1 signature on firmware whose profile refuses
// SHA-1 anywhere in the chain, root included.
func CheckSHA1(c *x509.Certificate, name string, p Profile) (RuleError, bool) {
	if !p.RefuseSHA1 || !IsSHA1(c.SignatureAlgorithm) {
		return RuleError{}, true
	}
	return RuleError{Rule: RuleSHA1,
		Seen: fmt.Sprintf("%s is signed with %s", name, c.SignatureAlgorithm),
		Want: "SHA-256 or stronger for every certificate, root included, on " + p.Name + " and later",
		Fix:  "ask the vendor for a chain signed with SHA-256 up to a SHA-256 root"}, false
}

// CheckRSASize refuses an RSA key below the profile's floor.
func CheckRSASize(c *x509.Certificate, name string, p Profile) (RuleError, bool) {
	typ, bits := DescribeKey(c.PublicKey)
	if typ != "RSA" || bits >= p.MinRSABits {
		return RuleError{}, true
	}
	return RuleError{Rule: RuleRSASize,
		Seen: fmt.Sprintf("%s has a %d-bit RSA key", name, bits),
		Want: fmt.Sprintf("at least %d bits on %s", p.MinRSABits, p.Name),
		Fix:  "make a new CSR with `amtrcs csr new --key rsa2048` (or larger) and have it reissued"}, false
}

// CheckValidity wants now inside the certificate's validity period; the
// firmware judges it by its own clock, so callers pass that clock's time.
func CheckValidity(c *x509.Certificate, name string, now time.Time) (RuleError, bool) {
	switch {
	case now.Before(c.NotBefore):
		return RuleError{Rule: RuleValidity,
			Seen: fmt.Sprintf("%s is not valid before %s", name, c.NotBefore.UTC().Format(time.RFC3339)),
			Want: "valid at " + now.UTC().Format(time.RFC3339) + " (the firmware checks against its own clock)",
			Fix:  "wait until it is valid, or ask the vendor to reissue it with a back-dated not-before"}, false
	case now.After(c.NotAfter):
		return RuleError{Rule: RuleValidity,
			Seen: fmt.Sprintf("%s expired on %s", name, c.NotAfter.UTC().Format(time.RFC3339)),
			Want: "valid at " + now.UTC().Format(time.RFC3339),
			Fix:  "renew it (`amtrcs cert renew ID` makes the CSR) and import the new certificate"}, false
	}
	return RuleError{}, true
}

// CheckChainLength refuses a chain, root included, longer than max
// certificates on the named firmware (the profile's MaxChainLength, or a
// simulator's override of that UNVERIFIED limit).
func CheckChainLength(n, max int, profile string) (RuleError, bool) {
	if max <= 0 || n <= max {
		return RuleError{}, true
	}
	return RuleError{Rule: RuleChainLength,
		Seen: fmt.Sprintf("%d certificates", n),
		Want: fmt.Sprintf("at most %d, root included, on %s", max, profile),
		Fix:  "ask the vendor for a chain with fewer intermediates"}, false
}
