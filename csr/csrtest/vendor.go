// Package csrtest makes certificate vendors for tests: a root, an
// intermediate and leaves issued by them, generated with crypto/x509 so that
// no key of a real CA is ever committed. It is for tests only and must never
// be imported by the amtrcs binary.
package csrtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/amt"
)

// ProvisioningOID is the Intel AMT provisioning EKU the leaves carry.
var ProvisioningOID = amt.ProvisioningOID()

// Epoch is the fixed time test certificates are made around, so that
// reports and golden files do not change from run to run.
var Epoch = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

var (
	keyMu    sync.Mutex
	keyCache = map[string]*rsa.PrivateKey{}
)

// Key returns an RSA key of the given size, the same one for the same name
// within a test binary: generating 2048-bit keys dominates test time.
func Key(name string, bits int) *rsa.PrivateKey {
	keyMu.Lock()
	defer keyMu.Unlock()
	id := fmt.Sprintf("%s/%d", name, bits)
	if k, ok := keyCache[id]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	keyCache[id] = k
	return k
}

// VendorOptions shape the CA of a vendor.
type VendorOptions struct {
	Name string // "Test Vendor"; used in the CNs and key cache names
	// IntermediateSHA1 signs the intermediate with SHA-1, as old chains are.
	IntermediateSHA1 bool
	// Bits is the size of the CA keys; default 2048. Fuzz seeds use 1024
	// to start quickly.
	Bits int
}

// Vendor is a two-level CA.
type Vendor struct {
	Root, Intermediate       *x509.Certificate
	RootKey, IntermediateKey *rsa.PrivateKey
	serial                   int64
}

// NewVendor makes a root and an intermediate valid from a year before Epoch
// to ten years after.
func NewVendor(opts VendorOptions) *Vendor {
	if opts.Name == "" {
		opts.Name = "Test Vendor"
	}
	if opts.Bits == 0 {
		opts.Bits = 2048
	}
	v := &Vendor{RootKey: Key(opts.Name+" root", opts.Bits), IntermediateKey: Key(opts.Name+" intermediate", opts.Bits), serial: 100}
	rootT := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: opts.Name + " Root CA", Organization: []string{opts.Name}, Country: []string{"US"}},
		NotBefore:             Epoch.AddDate(-1, 0, 0),
		NotAfter:              Epoch.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	v.Root = create(rootT, rootT, &v.RootKey.PublicKey, v.RootKey)
	intT := &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{CommonName: opts.Name + " AMT Issuing CA", Organization: []string{opts.Name}, Country: []string{"US"}},
		NotBefore:             Epoch.AddDate(-1, 0, 0),
		NotAfter:              Epoch.AddDate(8, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	if opts.IntermediateSHA1 {
		intT.SignatureAlgorithm = x509.SHA1WithRSA
	}
	v.Intermediate = create(intT, v.Root, &v.IntermediateKey.PublicKey, v.RootKey)
	return v
}

// LeafOptions shape one leaf. The zero value is a good AMT provisioning
// certificate for rcs.corp.example.com valid from a month before Epoch for
// a year.
type LeafOptions struct {
	CN        string
	OU        []string
	NoAMTEKU  bool // leave out the AMT provisioning EKU
	NoServer  bool // leave out server authentication
	AnyEKU    bool // with NoServer: anyExtendedKeyUsage in its place
	Key       crypto.PublicKey
	Bits      int // when Key is nil: size of a cached key; default 2048
	NotBefore time.Time
	NotAfter  time.Time
	SHA1      bool
	Serial    int64
}

// Issue signs a leaf with the intermediate. It returns the leaf and, when
// opts.Key was nil, the private key made for it.
func (v *Vendor) Issue(opts LeafOptions) (*x509.Certificate, *rsa.PrivateKey) {
	if opts.CN == "" {
		opts.CN = "rcs.corp.example.com"
	}
	var priv *rsa.PrivateKey
	if opts.Key == nil {
		bits := opts.Bits
		if bits == 0 {
			bits = 2048
		}
		priv = Key("leaf "+opts.CN, bits)
		opts.Key = &priv.PublicKey
	}
	if opts.NotBefore.IsZero() {
		opts.NotBefore = Epoch.AddDate(0, -1, 0)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = opts.NotBefore.AddDate(1, 0, 0)
	}
	if opts.Serial == 0 {
		v.serial++
		opts.Serial = v.serial
	}
	t := &x509.Certificate{
		SerialNumber: big.NewInt(opts.Serial),
		Subject:      pkix.Name{CommonName: opts.CN, OrganizationalUnit: opts.OU, Organization: []string{"Example Corp"}},
		DNSNames:     []string{opts.CN},
		NotBefore:    opts.NotBefore,
		NotAfter:     opts.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if !opts.NoServer {
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	} else if opts.AnyEKU {
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	}
	if !opts.NoAMTEKU {
		t.UnknownExtKeyUsage = []asn1.ObjectIdentifier{ProvisioningOID}
	}
	if opts.SHA1 {
		t.SignatureAlgorithm = x509.SHA1WithRSA
	}
	return create(t, v.Intermediate, opts.Key, v.IntermediateKey), priv
}

// IssueCSR signs the public key and subject of a PEM CSR, the way a vendor
// completes an order.
func (v *Vendor) IssueCSR(csrPEM []byte, opts LeafOptions) (*x509.Certificate, error) {
	b, _ := pem.Decode(csrPEM)
	if b == nil {
		return nil, fmt.Errorf("no PEM CSR")
	}
	req, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, err
	}
	if err := req.CheckSignature(); err != nil {
		return nil, err
	}
	opts.Key = req.PublicKey
	if opts.CN == "" {
		opts.CN = req.Subject.CommonName
	}
	if opts.OU == nil {
		opts.OU = req.Subject.OrganizationalUnit
	}
	c, _ := v.Issue(opts)
	return c, nil
}

func create(t, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	der, err := x509.CreateCertificate(rand.Reader, t, parent, pub, key)
	if err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return c
}

// PEM encodes certificates as PEM CERTIFICATE blocks, in the order given.
func PEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// DER concatenates the certificates' DER.
func DER(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, c.Raw...)
	}
	return out
}
