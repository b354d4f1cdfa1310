package csr

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/smallstep/pkcs7"
)

// ParsePKCS7 reads the certificates of a .p7b or .p7c file, PEM or DER: a
// degenerate signed-data structure, which is how vendors bundle a chain.
func ParsePKCS7(data []byte) ([]*x509.Certificate, error) {
	if looksPEM(data) {
		b, _ := pem.Decode(data)
		if b == nil {
			return nil, notACertificate("PEM text with no PKCS7 block")
		}
		if b.Type == "CERTIFICATE" {
			// Some vendors name a PEM bundle .p7b.
			return parsePEM(data)
		}
		if b.Type != "PKCS7" && b.Type != "CERTIFICATE CHAIN" {
			return nil, notACertificate(fmt.Sprintf("a PEM block of type %q where PKCS7 was expected", b.Type))
		}
		data = b.Bytes
	}
	return parsePKCS7DER(data)
}

func parsePKCS7DER(der []byte) (certs []*x509.Certificate, err error) {
	// The BER reader of the pkcs7 module is outside code fed outside input: a
	// panic in it must become a refusal, not a crash of the server.
	defer func() {
		if r := recover(); r != nil {
			certs, err = nil, notACertificate(fmt.Sprintf("PKCS#7 data that does not parse (%v)", r))
		}
	}()
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, notACertificate(fmt.Sprintf("PKCS#7 data that does not parse (%v)", err))
	}
	if len(p7.Certificates) == 0 {
		return nil, notACertificate("a PKCS#7 file with no certificate")
	}
	if len(p7.Certificates) > MaxCertificates {
		return nil, tooMany(len(p7.Certificates))
	}
	return p7.Certificates, nil
}
