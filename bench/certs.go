package bench

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/provisioning"
)

// Suffix is the DNS suffix of the bench fleet; the provisioning leaf is
// named rcs.<Suffix> so that every device accepts it.
const Suffix = "bench.example.com"

// chain is a throw-away three-level provisioning chain (root,
// intermediate, leaf), RSA-2048 and SHA-256 throughout as a commercial AMT
// certificate is. Its keys live in memory for one run only.
type chain struct {
	cert     *provisioning.ProvisioningCert
	rootHash []byte // SHA-256 of the root, the device's custom hash
}

func newChain(now time.Time) (*chain, error) {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("bench chain: generate RSA key: %w", err)
		}
		keys[i] = k
	}
	rootT := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "amtrcs bench Root CA", Organization: []string{"amtrcs bench"}},
		NotBefore: now.AddDate(0, 0, -2), NotAfter: now.AddDate(5, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	root, err := create(rootT, rootT, keys[0], keys[0])
	if err != nil {
		return nil, err
	}
	intT := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "amtrcs bench AMT Issuing CA", Organization: []string{"amtrcs bench"}},
		NotBefore: now.AddDate(0, 0, -2), NotAfter: now.AddDate(4, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	inter, err := create(intT, root, keys[1], keys[0])
	if err != nil {
		return nil, err
	}
	cn := "rcs." + Suffix
	leafT := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: cn, Organization: []string{"amtrcs bench"}},
		DNSNames:  []string{cn},
		NotBefore: now.AddDate(0, 0, -1), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{amt.ProvisioningOID()},
	}
	leaf, err := create(leafT, inter, keys[2], keys[1])
	if err != nil {
		return nil, err
	}
	return &chain{
		cert:     &provisioning.ProvisioningCert{ID: "bench", Chain: []*x509.Certificate{leaf, inter, root}, Signer: keys[2]},
		rootHash: amt.HashSHA256.Sum(root.Raw),
	}, nil
}

func create(t, parent *x509.Certificate, key, parentKey *rsa.PrivateKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, t, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, fmt.Errorf("bench chain: %s: %w", t.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}
