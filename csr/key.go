package csr

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
)

// KeyType is the kind of private key made for a CSR. AMT firmware accepts
// RSA provisioning certificates only (reference §3), so only RSA sizes are
// offered.
type KeyType string

// Key types offered by NewCSR.
const (
	RSA2048 KeyType = "rsa2048"
	RSA3072 KeyType = "rsa3072"
	RSA4096 KeyType = "rsa4096"
)

var keyBits = map[KeyType]int{RSA2048: 2048, RSA3072: 3072, RSA4096: 4096}

// ParseKeyType reads a --key value. Elliptic-curve names are refused with
// the reason rather than as an unknown word.
func ParseKeyType(s string) (KeyType, error) {
	k := KeyType(strings.ToLower(strings.TrimSpace(s)))
	if k == "" {
		return RSA2048, nil
	}
	if _, ok := keyBits[k]; ok {
		return k, nil
	}
	l := string(k)
	if strings.HasPrefix(l, "ec") || strings.HasPrefix(l, "p256") || strings.HasPrefix(l, "p384") || strings.HasPrefix(l, "ed25519") {
		return "", amt.RuleError{Rule: amt.RuleKeyType, Seen: s + " (elliptic curve)",
			Want: "rsa2048, rsa3072 or rsa4096",
			Fix:  "AMT firmware accepts only RSA provisioning certificates: use --key rsa2048"}
	}
	return "", amt.RuleError{Rule: amt.RuleKeyType, Seen: fmt.Sprintf("%q", s), Want: "rsa2048, rsa3072 or rsa4096",
		Fix: "use --key rsa2048 (the default)"}
}

// Bits is the RSA modulus size of k.
func (k KeyType) Bits() int { return keyBits[k] }

// GenerateKey makes a new private key of type k.
func GenerateKey(k KeyType) (crypto.Signer, error) {
	bits, ok := keyBits[k]
	if !ok {
		return nil, fmt.Errorf("generate key: unknown key type %q", k)
	}
	return rsa.GenerateKey(rand.Reader, bits)
}
