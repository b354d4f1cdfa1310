package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
)

// MaxCSRSize caps the CSR input ParseCSR reads: a CSR with an RSA-4096 key
// and a few names is under 2 KiB.
const MaxCSRSize = 16 << 10

// ParseCSR reads a certificate signing request as firmware, agents and
// people hand it over: DER, base64 of DER (AMT's GeneratePKCS10RequestEx
// answer), or PEM. It checks the self-signature; what the request may name
// is checked when it is signed.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	if len(data) > MaxCSRSize {
		return nil, fmt.Errorf("%w: CSR of %d bytes, want at most %d: give one PKCS#10 request", ErrRequest, len(data), MaxCSRSize)
	}
	der := data
	trimmed := bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(trimmed, []byte("-----BEGIN")):
		blk, _ := pem.Decode(trimmed)
		if blk == nil {
			return nil, fmt.Errorf("%w: CSR PEM does not decode: want a -----BEGIN CERTIFICATE REQUEST----- block", ErrRequest)
		}
		if blk.Type != "CERTIFICATE REQUEST" && blk.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("%w: PEM block %q, want CERTIFICATE REQUEST", ErrRequest, blk.Type)
		}
		der = blk.Bytes
	case len(trimmed) > 0 && trimmed[0] != 0x30:
		// Not a DER SEQUENCE: try base64, with or without line breaks.
		clean := bytes.Join(bytes.Fields(trimmed), nil)
		d, err := base64.StdEncoding.DecodeString(string(clean))
		if err != nil {
			return nil, fmt.Errorf("%w: CSR is neither DER, PEM nor base64 of DER (%v): give the request as the firmware or tool produced it", ErrRequest, err)
		}
		der = d
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: CSR does not parse as PKCS#10: %v", ErrRequest, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: CSR signature does not verify (%v): the request was changed after it was signed, or made with another key", ErrRequest, err)
	}
	return csr, nil
}
