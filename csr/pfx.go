package csr

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"

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
	if err := checkPFXIterations(data); err != nil {
		return nil, nil, err
	}
	k, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if (errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption)) && password == "" {
			// Not "the password does not open it": none was given, and
			// saying otherwise sends the user hunting for a wrong one.
			return nil, nil, unreadable("PFX password", "no password was given, and the PFX does not open without one",
				"the password the PFX was exported with",
				"write that password to a file only you can read and give it with --password-file FILE")
		}
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

// MaxPFXIterations bounds the key-derivation iterations a PFX may ask for,
// added up over its MAC and its encrypted parts. Exporters use 2,000
// (Windows) to 10,000 (Java), 600,000 at the most cautious; each iteration
// is a hash, and a file asking for 2^31 kept the CPU busy for minutes
// before its MAC could even be found wrong.
const MaxPFXIterations = 1 << 21

// The PKCS#12 structures (RFC 7292) as go-pkcs12 reads them, with
// encoding/asn1 and the same shapes, so that what it would parse is what is
// counted here. Only the parts that name an iteration count are decoded.
type (
	pfxContentInfo struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
	}
	pfxPDU struct {
		Version  int
		AuthSafe pfxContentInfo
		MacData  struct {
			Mac struct {
				Algorithm pkix.AlgorithmIdentifier
				Digest    []byte
			}
			MacSalt    []byte
			Iterations int `asn1:"optional,default:1"`
		} `asn1:"optional"`
	}
	pfxEncryptedData struct {
		Version              int
		EncryptedContentInfo struct {
			ContentType                asn1.ObjectIdentifier
			ContentEncryptionAlgorithm pkix.AlgorithmIdentifier
			EncryptedContent           []byte `asn1:"tag:0,optional"`
		}
	}
	pfxSafeBag struct {
		ID         asn1.ObjectIdentifier
		Value      asn1.RawValue `asn1:"tag:0,explicit"`
		Attributes asn1.RawValue `asn1:"optional"`
	}
	pfxShroudedKey struct {
		Algorithm     pkix.AlgorithmIdentifier
		EncryptedData []byte
	}
	// pfxPBEParams are PKCS#12's own PBE parameters; pfxPBES2Params (also
	// the shape of PBMAC1's) name a PBKDF2 whose parameters follow.
	pfxPBEParams struct {
		Salt       []byte
		Iterations int
	}
	pfxPBES2Params struct {
		KDF    pkix.AlgorithmIdentifier
		Scheme pkix.AlgorithmIdentifier
	}
	pfxPBKDF2Params struct {
		Salt       asn1.RawValue
		Iterations int
	}
)

var (
	oidPFXData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidPFXEncryptedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidShroudedKeyBag   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidPBES2            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBMAC1           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidPKCS12PBE        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1} // the parent of pbeWithSHAAnd*
)

// pfxIterations adds up the iteration counts a PFX asks for.
type pfxIterations struct {
	total uint64
	parts []string
}

func (it *pfxIterations) add(what string, n int) {
	if n < 0 {
		n = 0
	}
	it.total += uint64(n)
	it.parts = append(it.parts, fmt.Sprintf("%s %d", what, n))
}

// alg counts the iterations of a password-based algorithm identifier: a
// PKCS#12 PBE, PBES2 or PBMAC1. Other algorithms derive nothing.
func (it *pfxIterations) alg(what string, a pkix.AlgorithmIdentifier) {
	switch {
	case a.Algorithm.Equal(oidPBES2), a.Algorithm.Equal(oidPBMAC1):
		var p pfxPBES2Params
		var k pfxPBKDF2Params
		if _, err := asn1.Unmarshal(a.Parameters.FullBytes, &p); err == nil {
			if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &k); err == nil {
				it.add(what, k.Iterations)
			}
		}
	case len(a.Algorithm) == len(oidPKCS12PBE)+1 && a.Algorithm[:len(oidPKCS12PBE)].Equal(oidPKCS12PBE):
		var p pfxPBEParams
		if _, err := asn1.Unmarshal(a.Parameters.FullBytes, &p); err == nil {
			it.add(what, p.Iterations)
		}
	}
}

// checkPFXIterations refuses a PFX that asks for more than MaxPFXIterations
// before any of them runs. It reads what is readable without the password:
// the MAC, the encryption of each encrypted part, and the key bags stored
// in the clear. (A key bag inside an encrypted part is reached only with
// the right password, after the MAC has been verified: the file's author
// knew it.) A structure it cannot read is left to go-pkcs12 to refuse.
func checkPFXIterations(data []byte) error {
	var pfx pfxPDU
	if _, err := asn1.Unmarshal(data, &pfx); err != nil {
		return nil
	}
	var it pfxIterations
	if len(pfx.MacData.Mac.Algorithm.Algorithm) > 0 {
		if pfx.MacData.Mac.Algorithm.Algorithm.Equal(oidPBMAC1) {
			it.alg("MAC", pfx.MacData.Mac.Algorithm)
		} else {
			it.add("MAC", pfx.MacData.Iterations)
		}
	}
	var content []byte
	var safe []pfxContentInfo
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &content); err == nil {
		asn1.Unmarshal(content, &safe)
	}
	for _, ci := range safe {
		switch {
		case ci.ContentType.Equal(oidPFXEncryptedData):
			var ed pfxEncryptedData
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err == nil {
				it.alg("encrypted part", ed.EncryptedContentInfo.ContentEncryptionAlgorithm)
			}
		case ci.ContentType.Equal(oidPFXData):
			var plain []byte
			var bags []pfxSafeBag
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &plain); err == nil {
				asn1.Unmarshal(plain, &bags)
			}
			for _, b := range bags {
				var k pfxShroudedKey
				if !b.ID.Equal(oidShroudedKeyBag) {
					continue
				}
				if _, err := asn1.Unmarshal(b.Value.Bytes, &k); err == nil {
					it.alg("key", k.Algorithm)
				}
			}
		}
	}
	if it.total <= MaxPFXIterations {
		return nil
	}
	return unreadable("PFX iterations",
		fmt.Sprintf("key-derivation iterations adding up to %d (%s)", it.total, strings.Join(it.parts, ", ")),
		fmt.Sprintf("at most %d in all (exporters use 2,000 to 600,000 each)", MaxPFXIterations),
		"export the PFX again with the exporter's default iteration count, or give the certificates as PEM or .p7b")
}
