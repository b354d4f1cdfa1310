//go:build cgo && !nopkcs11

package store

// The PKCS#11 KMS loads the vendor's module with dlopen, so it needs cgo;
// the same build tags as go.step.sm/crypto/kms/pkcs11 decide whether it is
// in this binary.
import _ "go.step.sm/crypto/kms/pkcs11"

// pkcs11Built says whether this binary can open a KEK in a PKCS#11 token
// (a variable so that a test can play the build without it).
var pkcs11Built = true
