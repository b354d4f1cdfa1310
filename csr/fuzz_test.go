package csr_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/csr/csrtest"
	"github.com/amtrcs/amtrcs/internal/fuzzmin"
)

// fuzzSeeds are real deliveries of each format, so that mutations start
// from valid structures. They are kept small and cheap, because the fuzzer
// minimizes each new interesting input by trying to drop every span of its
// bytes, quadratic in its length, and reports no executions while it does:
// seeds of a few KiB whose every run derived 2,048 PKCS#12 iterations made
// that minimization take the whole -fuzzminimizetime (60 s) each time, and
// the targets ran 6 and 11 executions a minute. So the PFX seeds derive
// with one iteration, carry no chain, and the archives hold small entries.
type fuzzSeeds struct {
	pem, der, p7, pfx, smallPFX, zip []byte
}

func seeds(f *testing.F) fuzzSeeds {
	v := csrtest.NewVendor(csrtest.VendorOptions{Name: "Fuzz Vendor", Bits: 1024})
	leaf, key := v.Issue(csrtest.LeafOptions{Bits: 1024})
	pfx, err := pkcs12.Modern.WithIterations(1).Encode(key, leaf, nil, "pw")
	if err != nil {
		f.Fatal(err)
	}
	// The smallest whole PFX: a P-256 key and its self-signed certificate.
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rcs.corp.example.com"},
		NotBefore: csrtest.Epoch, NotAfter: csrtest.Epoch.AddDate(1, 0, 0)}
	ecDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecKey.PublicKey, ecKey)
	if err != nil {
		f.Fatal(err)
	}
	ecLeaf, _ := x509.ParseCertificate(ecDER)
	small, err := pkcs12.Modern.WithIterations(1).Encode(ecKey, ecLeaf, nil, "pw")
	if err != nil {
		f.Fatal(err)
	}
	p7 := mustP7(f, leaf, v.Intermediate, v.Root)
	return fuzzSeeds{
		pem:      csrtest.PEM(leaf, v.Intermediate),
		der:      csrtest.DER(leaf, v.Intermediate),
		p7:       p7,
		pfx:      pfx,
		smallPFX: small,
		zip:      mustZip(f, zipEntry{"leaf.crt", leaf.Raw}),
	}
}

// TestMain keeps the fuzzer's minimization of a new input short; see
// package fuzzmin.
func TestMain(m *testing.M) { fuzzmin.Main(m) }

// checkParsed holds every parser to its contract: an error is an
// unreadable-input error, and success yields certificates.
func checkParsed(t *testing.T, certs []*x509.Certificate, err error) {
	if err != nil {
		if !errors.Is(err, csr.ErrUnreadable) {
			t.Fatalf("error not marked unreadable: %v", err)
		}
		return
	}
	if len(certs) == 0 || len(certs) > csr.MaxCertificates {
		t.Fatalf("%d certificates without error", len(certs))
	}
	// Whatever parsed must survive chain building and checking.
	if ch, err := csr.BuildChain(certs, csr.ChainOptions{NoCompletion: true}); err == nil {
		csr.Check(ch.Certs, csr.CheckOptions{Now: csrtest.Epoch, Suffixes: []string{"corp.example.com"}})
	}
}

func FuzzParsePEMOrDER(f *testing.F) {
	s := seeds(f)
	f.Add(s.pem)
	f.Add(s.der)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{0x30, 0x82, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := csr.ParsePEMOrDER(data)
		checkParsed(t, certs, err)
	})
}

func FuzzParsePKCS7(f *testing.F) {
	s := seeds(f)
	f.Add(s.p7)
	f.Add([]byte("-----BEGIN PKCS7-----\nMAA=\n-----END PKCS7-----\n"))
	f.Add(s.p7[:len(s.p7)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := csr.ParsePKCS7(data)
		checkParsed(t, certs, err)
	})
}

func FuzzParsePFX(f *testing.F) {
	s := seeds(f)
	f.Add(s.smallPFX, "pw")
	f.Add(s.pfx, "pw")
	f.Add(s.smallPFX, "")
	f.Add(s.smallPFX[:len(s.smallPFX)/3], "pw")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		certs, key, err := csr.ParsePFX(data, password)
		checkParsed(t, certs, err)
		if err == nil && key == nil {
			t.Fatal("PFX parsed without a key")
		}
	})
}

func FuzzDecode(f *testing.F) {
	s := seeds(f)
	for _, seed := range []struct {
		name string
		data []byte
	}{
		{"delivery.zip", s.zip}, {"chain.pem", s.pem}, {"chain.cer", s.der}, {"chain.p7b", s.p7}, {"cert.pfx", s.pfx},
		{"empty.zip", mustZip(f)}, {"x.zip", []byte("PK\x03\x04")},
	} {
		f.Add(seed.name, seed.data)
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		d, err := csr.Decode(name, data, csr.DecodeOptions{Password: "pw"})
		if err != nil {
			checkParsed(t, nil, err)
			return
		}
		checkParsed(t, d.Certificates, nil)
	})
}

func FuzzParseZip(f *testing.F) {
	s := seeds(f)
	f.Add(s.zip)
	f.Add(mustZip(f, zipEntry{"a/b.pem", []byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n")},
		zipEntry{"c.pfx", []byte{0x30, 0x03, 0x02, 0x01, 0x03}}, zipEntry{"inner.zip", mustZip(f)}, zipEntry{"README.txt", []byte("x")}))
	f.Add(mustZip(f))
	f.Add(s.zip[:len(s.zip)-10])
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := csr.Decode("delivery.zip", data, csr.DecodeOptions{Password: "pw"})
		if err != nil {
			checkParsed(t, nil, err)
			return
		}
		checkParsed(t, d.Certificates, nil)
	})
}
