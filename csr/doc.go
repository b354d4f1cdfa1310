// Package csr is the certificate workshop of amtrcs: it generates the
// provisioning key and the certificate signing request, reads what a vendor
// delivers (PEM or DER certificates, PKCS#7, ZIP archives of those, PKCS#12),
// builds and verifies the chain, checks it against the rules of each AMT
// firmware version, and stores, exports and renews provisioning certificates.
//
// Check is pure: the importer, the `cert check` command and the RCS preflight
// all call it, so a delivery is judged the same way everywhere. The AMT facts
// and rules it applies (root hashes, version profiles, the certificate
// rules the simulator applies too) come from package amt and the
// domain-suffix rule from package dnssuffix; this package must never hold a
// copy of those rules.
//
// It must never let a private key leave it unsealed, except through Export on
// an explicit request, and never put a key or a password in an error, a log
// line or an audit event.
package csr
