package csr

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"
)

// ParsePFX reads a .pfx or .p12 file: the leaf, the chain the exporter put
// beside it, and the private key. The password is never part of an error.
func ParsePFX(data []byte, password string) (certs []*x509.Certificate, key crypto.Signer, err error) {
	defer func() {
		if r := recover(); r != nil {
			certs, key, err = nil, nil, notACertificate(fmt.Sprintf("PKCS#12 data that does not parse (%v)", r))
		}
	}()
	k, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption) {
			return nil, nil, unreadable("PFX password", "the password given does not open the PFX",
				"the password the PFX was exported with",
				"put the right password in the file given to --password-file")
		}
		return nil, nil, notACertificate(fmt.Sprintf("PKCS#12 data that does not parse (%v)", err))
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, unreadable("PFX key", fmt.Sprintf("a private key of type %T", k),
			"an RSA private key", "export the PFX again with the RSA key of the certificate")
	}
	if 1+len(cas) > MaxCertificates {
		return nil, nil, tooMany(1 + len(cas))
	}
	return append([]*x509.Certificate{leaf}, cas...), signer, nil
}
