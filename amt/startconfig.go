package amt

import "crypto/x509"

// StartConfigHash is the hash algorithm StartConfigurationHBased announces
// the provisioning leaf with: the one the leaf is signed with, SHA-256 or
// SHA-384, as the hardware-proven client chooses (rpc-go
// internal/commands/activate/local.go, startSecureHostBasedConfiguration).
// Leaves signed otherwise (SHA-1, SHA-512) have no hash the firmware takes:
// ok is false.
func StartConfigHash(sig x509.SignatureAlgorithm) (alg HashAlgorithm, ok bool) {
	switch sig {
	case x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256:
		return HashSHA256, true
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		return HashSHA384, true
	}
	return 0, false
}
