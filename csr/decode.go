package csr

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"
	"path"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Delivery is what a vendor sent, as read: its certificates in file order,
// without duplicates, and the private key when a PFX carried one.
type Delivery struct {
	Certificates []*x509.Certificate
	// Key is the private key of a PFX, nil for every other format.
	Key crypto.Signer
	// Sources names each file or archive entry read and its format.
	Sources []string
	// Skipped names the archive entries that were not read, and why.
	Skipped []string
}

// DecodeOptions are what decoding may need besides the bytes.
type DecodeOptions struct {
	// Password opens a PFX. It is never printed.
	Password string
}

// ReadDelivery reads and decodes each file, merging their certificates: a
// vendor may send the leaf and the chain as separate files.
func ReadDelivery(paths []string, opts DecodeOptions) (*Delivery, error) {
	d := &Delivery{}
	for _, p := range paths {
		data, err := ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if err := decodeInto(p, data, opts, d, true); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Decode reads one delivery file. The format is recognised from the bytes,
// with the name's extension only breaking ties, since vendors name files
// loosely (PEM in a .cer, DER in a .crt, a PEM bundle in a .p7b).
func Decode(name string, data []byte, opts DecodeOptions) (*Delivery, error) {
	d := &Delivery{}
	if err := decodeInto(name, data, opts, d, true); err != nil {
		return nil, err
	}
	return d, nil
}

type format int

const (
	formatUnknown format = iota
	formatPEM
	formatDER
	formatPKCS7
	formatPFX
	formatZIP
)

var formatNames = [...]string{"unknown", "PEM", "DER", "PKCS#7", "PKCS#12", "ZIP"}

func sniff(name string, data []byte) format {
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")), bytes.HasPrefix(data, []byte("PK\x05\x06")):
		return formatZIP
	case looksPEM(data):
		return formatPEM
	}
	// DER: a SEQUENCE whose first element tells the structure apart. A
	// certificate starts with its TBS SEQUENCE, PKCS#7 with the signed-data
	// OID, PKCS#12 with the INTEGER version 3.
	s := cryptobyte.String(data)
	var outer cryptobyte.String
	if !s.ReadASN1(&outer, cbasn1.SEQUENCE) {
		return formatUnknown
	}
	switch {
	case outer.PeekASN1Tag(cbasn1.SEQUENCE):
		return formatDER
	case outer.PeekASN1Tag(cbasn1.OBJECT_IDENTIFIER):
		return formatPKCS7
	case outer.PeekASN1Tag(cbasn1.INTEGER):
		return formatPFX
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".p7b", ".p7c":
		return formatPKCS7
	case ".pfx", ".p12":
		return formatPFX
	}
	return formatUnknown
}

// decodeInto adds the content of one file or archive entry to d. Archives
// are opened only at the top level.
func decodeInto(name string, data []byte, opts DecodeOptions, d *Delivery, top bool) error {
	if len(data) > MaxFileSize {
		return fmt.Errorf("%s: %w", name, tooLarge(name, int64(len(data))))
	}
	f := sniff(name, data)
	var certs []*x509.Certificate
	var err error
	switch f {
	case formatZIP:
		if !top {
			d.Skipped = append(d.Skipped, name+" (nested archive not followed)")
			return nil
		}
		d.Sources = append(d.Sources, name+" (ZIP)")
		return parseZip(name, data, opts, d)
	case formatPEM, formatDER:
		certs, err = ParsePEMOrDER(data)
	case formatPKCS7:
		certs, err = ParsePKCS7(data)
	case formatPFX:
		var key crypto.Signer
		certs, key, err = ParsePFX(data, opts.Password)
		if err == nil {
			if d.Key != nil {
				return fmt.Errorf("%s: %w", name, unreadable("delivery key", "a second PFX with a private key",
					"one PFX per delivery", "import each PFX on its own"))
			}
			d.Key = key
		}
	default:
		err = notACertificate("neither PEM, DER, PKCS#7, PKCS#12 nor ZIP")
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	plural := "s"
	if len(certs) == 1 {
		plural = ""
	}
	d.Sources = append(d.Sources, fmt.Sprintf("%s (%s, %d certificate%s)", name, formatNames[f], len(certs), plural))
	for _, c := range certs {
		if !d.has(c) {
			d.Certificates = append(d.Certificates, c)
		}
	}
	if len(d.Certificates) > MaxCertificates {
		return fmt.Errorf("%s: %w", name, tooMany(len(d.Certificates)))
	}
	return nil
}

func (d *Delivery) has(c *x509.Certificate) bool {
	for _, o := range d.Certificates {
		if bytes.Equal(o.Raw, c.Raw) {
			return true
		}
	}
	return false
}
