// Package simtest makes the certificates that tests of amtsim and of the RCS
// need: a provisioning vendor with a root, intermediates and an AMT-marked
// leaf, generated with crypto/x509 in the test, plus the signatures that
// host-based setup asks for.
//
// It is for tests only: its keys are generated in memory and cached for the
// life of the test binary; it must never be used for real certificates, and
// it never writes a key to disk.
package simtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Marking is how the leaf is marked for AMT setup (reference §3).
type Marking int

const (
	MarkOID  Marking = iota // EKU 2.16.840.1.113741.1.2.3
	MarkOU                  // OU "Intel(R) Client Setup Certificate"
	MarkNone                // neither: the firmware must refuse it
)

// Options shape a vendor chain. The zero value is a valid 3-certificate
// SHA-256 RSA-2048 chain for rcs.corp.example.com valid from a day ago for a
// year.
type Options struct {
	CN            string   // leaf CN; default rcs.corp.example.com
	DNSNames      []string // leaf SAN DNS names
	Marking       Marking
	OU            string // with MarkOU: the OU to use (default the exact one)
	NoServerAuth  bool   // leave out the server-authentication EKU
	Intermediates int    // number of intermediates; default 1, -1 for none
	// Key sizes (default 2048); 1024 makes a key below the AMT 16 minimum.
	LeafBits, IntermediateBits, RootBits int
	ECDSALeaf                            bool // an ECC leaf, which firmware refuses
	// SHA1 signs with SHA-1: the root's self-signature, an intermediate's,
	// or the leaf's.
	SHA1Root, SHA1Intermediate, SHA1Leaf bool
	// Leaf validity; default now-24h to now+365d. Now is the reference time
	// (default time.Now()).
	Now                         time.Time
	LeafNotBefore, LeafNotAfter time.Time
}

// Vendor is a provisioning certificate with its chain and key.
type Vendor struct {
	Root          *x509.Certificate
	RootKey       crypto.Signer       // to issue other certificates in tests (a device's TLS certificate)
	Intermediates []*x509.Certificate // top-down is reversed: Intermediates[0] issued the leaf
	Leaf          *x509.Certificate
	LeafKey       crypto.Signer
	// Chain is leaf first, intermediates next, root last: the order
	// AddNextCertInChain and the TLS client certificate take.
	Chain []*x509.Certificate
}

var (
	keysMu sync.Mutex
	keys   = map[int][]*rsa.PrivateKey{}
	serial atomic.Int64
)

// rsaKey returns the i-th cached key of the given size; a test binary
// generates each once (RSA generation takes 50-100 ms).
func rsaKey(t testing.TB, bits, i int) *rsa.PrivateKey {
	t.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	for len(keys[bits]) <= i {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatalf("simtest: generate RSA-%d: %v", bits, err)
		}
		keys[bits] = append(keys[bits], k)
	}
	return keys[bits][i]
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

func sigAlg(sha1 bool) x509.SignatureAlgorithm {
	if sha1 {
		return x509.SHA1WithRSA
	}
	return x509.SHA256WithRSA
}

func create(t testing.TB, tmpl, parent *x509.Certificate, pub any, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatalf("simtest: create %s: %v", tmpl.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("simtest: parse %s: %v", tmpl.Subject.CommonName, err)
	}
	return c
}

// NewVendor makes a root, intermediates and a leaf as an AMT provisioning
// vendor would issue them (or, through o, as one must not).
func NewVendor(t testing.TB, o Options) *Vendor {
	t.Helper()
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	if o.CN == "" {
		o.CN = "rcs.corp.example.com"
	}
	nInt := o.Intermediates
	switch {
	case nInt == 0:
		nInt = 1
	case nInt < 0:
		nInt = 0
	}
	rootKey := rsaKey(t, orDefault(o.RootBits, 2048), 0)
	id := serial.Add(1)
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(id * 100),
		Subject:               pkix.Name{Organization: []string{"simtest Vendor"}, CommonName: "simtest Root CA " + big.NewInt(id).String()},
		NotBefore:             now.AddDate(-1, 0, 0),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SignatureAlgorithm:    sigAlg(o.SHA1Root),
	}
	v := &Vendor{Root: create(t, rootTmpl, rootTmpl, rootKey.Public(), rootKey), RootKey: rootKey}
	parent, parentKey := v.Root, crypto.Signer(rootKey)
	var ints []*x509.Certificate
	for i := 0; i < nInt; i++ {
		k := rsaKey(t, orDefault(o.IntermediateBits, 2048), 1+i)
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(id*100 + int64(1+i)),
			Subject:               pkix.Name{Organization: []string{"simtest Vendor"}, CommonName: "simtest Issuing CA " + big.NewInt(id).String() + "." + big.NewInt(int64(i)).String()},
			NotBefore:             now.AddDate(-1, 0, 0),
			NotAfter:              now.AddDate(5, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
			SignatureAlgorithm:    sigAlg(o.SHA1Intermediate),
		}
		c := create(t, tmpl, parent, k.Public(), parentKey)
		ints = append([]*x509.Certificate{c}, ints...)
		parent, parentKey = c, k
	}
	var leafKey crypto.Signer
	if o.ECDSALeaf {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		leafKey = k
	} else {
		leafKey = rsaKey(t, orDefault(o.LeafBits, 2048), 1+nInt)
	}
	nb, na := o.LeafNotBefore, o.LeafNotAfter
	if nb.IsZero() {
		nb = now.Add(-24 * time.Hour)
	}
	if na.IsZero() {
		na = now.AddDate(1, 0, 0)
	}
	subject := pkix.Name{Organization: []string{"Corp"}, CommonName: o.CN}
	var eku []x509.ExtKeyUsage
	if !o.NoServerAuth {
		eku = append(eku, x509.ExtKeyUsageServerAuth)
	}
	var unknown []asn1.ObjectIdentifier
	switch o.Marking {
	case MarkOID:
		unknown = append(unknown, asn1.ObjectIdentifier{2, 16, 840, 1, 113741, 1, 2, 3})
	case MarkOU:
		ou := o.OU
		if ou == "" {
			ou = "Intel(R) Client Setup Certificate"
		}
		subject.OrganizationalUnit = []string{ou}
	}
	leafTmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(id*100 + 99),
		Subject:            subject,
		DNSNames:           o.DNSNames,
		NotBefore:          nb,
		NotAfter:           na,
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:        eku,
		UnknownExtKeyUsage: unknown,
		SignatureAlgorithm: sigAlg(o.SHA1Leaf),
	}
	v.Leaf = create(t, leafTmpl, parent, leafKey.Public(), parentKey)
	v.LeafKey = leafKey
	v.Intermediates = ints
	v.Chain = append(append([]*x509.Certificate{v.Leaf}, ints...), v.Root)
	return v
}

// RootHash is the SHA-256 of the root's DER: what a custom hash entry holds.
func (v *Vendor) RootHash() []byte {
	s := sha256.Sum256(v.Root.Raw)
	return s[:]
}

// LeafHash is the SHA-256 of the leaf's DER: what StartConfigurationHBased
// announces.
func (v *Vendor) LeafHash() []byte {
	s := sha256.Sum256(v.Leaf.Raw)
	return s[:]
}

// DER is the chain, leaf first, as DER.
func (v *Vendor) DER() [][]byte {
	out := make([][]byte, len(v.Chain))
	for i, c := range v.Chain {
		out[i] = c.Raw
	}
	return out
}

// TLSCertificate is the chain and leaf key as a TLS client certificate, the
// way an RCS presents it in TLS-based and legacy setup.
func (v *Vendor) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: v.DER(), PrivateKey: v.LeafKey, Leaf: v.Leaf}
}

// SignSetup is AdminSetup's DigitalSignature: RSA PKCS#1 v1.5 SHA-256 by the
// leaf's key over ConfigurationNonce followed by McNonce.
func (v *Vendor) SignSetup(t testing.TB, configurationNonce, mcNonce []byte) []byte {
	t.Helper()
	h := sha256.Sum256(append(append([]byte(nil), configurationNonce...), mcNonce...))
	sig, err := v.LeafKey.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("simtest: sign setup nonces: %v", err)
	}
	return sig
}
