//go:build !cgo || nopkcs11

package store

// pkcs11Built says whether this binary can open a KEK in a PKCS#11 token:
// not without cgo (a cross build, CGO_ENABLED=0) or with the nopkcs11 tag.
var pkcs11Built = false
