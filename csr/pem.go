package csr

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

var pemBegin = []byte("-----BEGIN ")

func looksPEM(data []byte) bool { return bytes.Contains(data, pemBegin) }

// ParsePEMOrDER reads the certificates of a .cer, .crt or .pem file: PEM
// text with any number of CERTIFICATE (or PKCS7) blocks, or binary DER with
// one or more certificates one after the other.
func ParsePEMOrDER(data []byte) ([]*x509.Certificate, error) {
	if looksPEM(data) {
		return parsePEM(data)
	}
	certs, err := x509.ParseCertificates(data)
	if err != nil {
		return nil, notACertificate(fmt.Sprintf("DER that is not a certificate (%v)", err))
	}
	if len(certs) == 0 {
		return nil, notACertificate("an empty file")
	}
	return certs, nil
}

func parsePEM(data []byte) ([]*x509.Certificate, error) { return readPEM(data, false) }

// ParsePEMCertificates reads the certificates of PEM text that also holds
// other blocks, such as the key a provisioning_cert_file keeps next to its
// chain. Those blocks are skipped unread, so no key material is parsed, and
// the certificates obey the same parsing and count rules as an import.
func ParsePEMCertificates(data []byte) ([]*x509.Certificate, error) { return readPEM(data, true) }

// readPEM is the one PEM certificate reader. skipOthers is for files that
// are not deliveries; a delivery with a key or a CSR is refused with a fix.
func readPEM(data []byte, skipOthers bool) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE", "X509 CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, notACertificate(fmt.Sprintf("a CERTIFICATE block that does not parse (%v)", err))
			}
			certs = append(certs, c)
		case "PKCS7", "CERTIFICATE CHAIN":
			cs, err := parsePKCS7DER(b.Bytes)
			if err != nil {
				return nil, err
			}
			certs = append(certs, cs...)
		default:
			if skipOthers {
				continue
			}
			return nil, notADeliveryBlock(b.Type)
		}
		if len(certs) > MaxCertificates {
			return nil, tooMany(len(certs))
		}
	}
	if len(certs) == 0 {
		return nil, notACertificate("PEM text with no CERTIFICATE block")
	}
	return certs, nil
}

func notADeliveryBlock(typ string) error {
	switch typ {
	case "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST":
		return unreadable("delivery format", "a certificate signing request, not a certificate",
			"the certificate the vendor issued for it",
			"send the CSR to the vendor and import the certificate files it returns")
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		// The type is named, never the content.
		return unreadable("delivery format", "a PEM file with a "+typ+" block",
			"certificates only; keys come from `amtrcs csr new` or inside a PFX",
			"import the certificate files alone, or a .pfx that holds the key and chain")
	}
	return notACertificate(fmt.Sprintf("a PEM block of type %q", typ))
}

func notACertificate(seen string) error {
	return unreadable("delivery format", seen,
		"certificates as .cer/.crt/.pem (PEM or DER), .p7b/.p7c, .zip of those, or .pfx/.p12",
		"give the files the certificate vendor sent")
}

func tooMany(n int) error {
	return unreadable("delivery size", fmt.Sprintf("%d certificates or more", n),
		fmt.Sprintf("at most %d certificates (a chain has 2 to 4)", MaxCertificates),
		"give the leaf, intermediate and root certificates only")
}
