package provisioning

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/amtrcs/amtrcs/internal/fuzzmin"
)

// FuzzFirmwareKeyAndCSR feeds what a device sends in the TLS task, the
// public key of the pair it generated (AMT_PublicPrivateKeyPair.DERKey) and
// the request it signed, to the readers that take them. Neither may panic,
// and a request is accepted only for the key it names and with a signature
// that verifies.
func FuzzFirmwareKeyAndCSR(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	pkcs1 := base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&key.PublicKey))
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	csr := func(k *rsa.PrivateKey) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
			Subject: pkix.Name{CommonName: "pc-1.corp.example.com"}, DNSNames: []string{"pc-1.corp.example.com"},
		}, k)
		if err != nil {
			f.Fatal(err)
		}
		return der
	}
	signed := csr(key)
	null, err := nullSignedCSR(&key.PublicKey, "pc-1.corp.example.com")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pkcs1, signed)
	f.Add(base64.StdEncoding.EncodeToString(spki), signed)
	f.Add(" "+pkcs1+"\n", null)
	f.Add(pkcs1, csr(other))
	f.Add("", signed[:len(signed)/2])
	f.Add("not base64!", []byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, b64key string, der []byte) {
		pub, err := parseDERKey(b64key)
		if err != nil {
			pub = &key.PublicKey
		} else if pub == nil || pub.N == nil || pub.N.Sign() <= 0 {
			t.Fatalf("parseDERKey(%q) = %v without error", b64key, pub)
		}
		req, err := checkFirmwareCSR(der, pub)
		if err != nil {
			var r Reason
			if !errors.As(err, &r) || r.Rule != RuleFirmwareCSR {
				t.Fatalf("checkFirmwareCSR error %v is not a %s refusal", err, RuleFirmwareCSR)
			}
			return
		}
		if !pub.Equal(req.PublicKey) || req.CheckSignature() != nil {
			t.Fatal("checkFirmwareCSR accepted a request for another key or with a bad signature")
		}
	})
}

// TestMain keeps the fuzzer's minimization of a new input short; see
// package fuzzmin.
func TestMain(m *testing.M) { fuzzmin.Main(m) }
