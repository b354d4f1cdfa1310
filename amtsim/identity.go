package amtsim

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
	"encoding/json"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// keyPoolSize is how many RSA-2048 keys the simulator generates at most.
// Generating one takes 50-100 ms, too slow for thousands of devices, so
// device identity certificates and GenerateKeyPair draw from this pool and
// several devices share a key. Real devices never share keys; that
// difference is not modelled, and nothing in the RCS may rely on it.
const keyPoolSize = 4

type keyPool struct {
	mu   sync.Mutex
	keys []*rsa.PrivateKey
	next int
}

var pool keyPool

// get returns a key from the pool, generating one while the pool is not full.
func (p *keyPool) get() (*rsa.PrivateKey, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.keys) < keyPoolSize {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("amtsim: generate RSA key: %w", err)
		}
		p.keys = append(p.keys, k)
		return k, nil
	}
	k := p.keys[p.next%len(p.keys)]
	p.next++
	return k, nil
}

// IdentityCA is the simulator's device-identity root. Real AMT 19 devices
// present a certificate that chains to Intel's On-Die CA; the simulator
// cannot hold Intel's key, so its devices chain to this root instead and an
// RCS that talks to the simulator trusts it (reference §13).
type IdentityCA struct {
	Cert *x509.Certificate
	key  crypto.Signer

	mu     sync.Mutex
	serial int64
	// chain is the intermediates under Cert that real firmware's chain
	// has, made on first use: index 0 issues the leaves (chain position
	// 1), the last is issued by Cert. They are not saved: the RCS trusts
	// the root only, as it trusts Intel's root only.
	chain    []*x509.Certificate
	chainKey crypto.Signer
}

// identityIntermediates names the intermediates of a simulated
// device-identity chain, leaf side first, in the shape real firmware sends
// (chain positions 1 to 5): position 3 is the CSME ROM certificate, whose
// CN carries "ROM CA" and whose issuer's OU starts "On Die CSME P".
var identityIntermediates = []pkix.Name{
	{Organization: []string{"amtsim"}, OrganizationalUnit: []string{"CSME IDevID"}, CommonName: "amtsim CSME IDevID CA"},
	{Organization: []string{"amtsim"}, OrganizationalUnit: []string{"CSME Kernel"}, CommonName: "amtsim CSME Kernel CA"},
	{Organization: []string{"amtsim"}, OrganizationalUnit: []string{"CSME ROM"}, CommonName: "amtsim CSME ROM CA"},
	{Organization: []string{"amtsim"}, OrganizationalUnit: []string{"On Die CSME P amtsim"}, CommonName: "amtsim On Die CSME CA"},
	{Organization: []string{"amtsim"}, OrganizationalUnit: []string{"OnDie CA Signing"}, CommonName: "amtsim On Die CA"},
}

// intermediates makes the chain under the root once (ECDSA P-384, fast to
// generate, as Intel's On-Die chain is elliptic-curve).
func (ca *IdentityCA) intermediates(now time.Time) ([]*x509.Certificate, crypto.Signer, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if ca.chain != nil {
		return ca.chain, ca.chainKey, nil
	}
	parent, parentKey := ca.Cert, ca.key
	chain := make([]*x509.Certificate, len(identityIntermediates))
	for i := len(identityIntermediates) - 1; i >= 0; i-- {
		key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			return nil, nil, fmt.Errorf("amtsim: identity intermediate key: %w", err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(100 + i)), Subject: identityIntermediates[i],
			NotBefore: now.Add(-time.Hour), NotAfter: ca.Cert.NotAfter,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
		if err != nil {
			return nil, nil, fmt.Errorf("amtsim: identity intermediate: %w", err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, err
		}
		chain[i], parent, parentKey = c, c, key
	}
	ca.chain, ca.chainKey = chain, parentKey
	return chain, parentKey, nil
}

// NewIdentityCA makes a fresh device-identity root valid from now-1h for
// 20 years.
func NewIdentityCA(now time.Time) (*IdentityCA, error) {
	key, err := pool.get()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"amtsim"}, OrganizationalUnit: []string{"Device Identity"}, CommonName: "amtsim Device Identity Root CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("amtsim: create identity root: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &IdentityCA{Cert: cert, key: key, serial: 1}, nil
}

// issue makes a device TLS certificate (RSA-2048, CN "AMT RCFG" as real
// firmware's setup certificate) for the device with the given UUID, with
// the chain real firmware sends: the leaf and five intermediates, without
// the root.
func (ca *IdentityCA) issue(uuid string, now time.Time) (*tls.Certificate, error) {
	key, err := pool.get()
	if err != nil {
		return nil, err
	}
	inter, issuerKey, err := ca.intermediates(now)
	if err != nil {
		return nil, err
	}
	ca.mu.Lock()
	ca.serial++
	serial := ca.serial
	ca.mu.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{Organization: []string{"amtsim"}, OrganizationalUnit: []string{uuid}, CommonName: "AMT RCFG"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, inter[0], key.Public(), issuerKey)
	if err != nil {
		return nil, fmt.Errorf("amtsim: issue device identity certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	// Leaf and intermediates, no root: what real firmware sends.
	tc := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	for _, c := range inter {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc, nil
}

// CertHash is the SHA-256 of a certificate's DER, the form
// StartConfigurationHBased returns and the RCS pins.
func CertHash(der []byte) []byte {
	s := sha256.Sum256(der)
	return s[:]
}

var (
	defaultCAOnce sync.Once
	defaultCA     *IdentityCA
	defaultCAErr  error
)

// DefaultIdentityCA is the process-wide identity root that devices created
// without one use.
func DefaultIdentityCA() (*IdentityCA, error) {
	defaultCAOnce.Do(func() { defaultCA, defaultCAErr = NewIdentityCA(time.Now()) })
	return defaultCA, defaultCAErr
}

// identityJSON is the saved form of an identity CA: a test secret of the
// simulator, kept so that an RCS that trusts the root keeps trusting it
// after the fleet is reloaded.
type identityJSON struct {
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
}

// MarshalJSON saves the root and its key (the simulator's own test secret).
func (ca *IdentityCA) MarshalJSON() ([]byte, error) {
	key, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return nil, err
	}
	return json.Marshal(identityJSON{Cert: ca.Cert.Raw, Key: key})
}

// UnmarshalJSON restores a saved root.
func (ca *IdentityCA) UnmarshalJSON(b []byte) error {
	var j identityJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(j.Cert)
	if err != nil {
		return fmt.Errorf("amtsim: saved identity root: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(j.Key)
	if err != nil {
		return fmt.Errorf("amtsim: saved identity root key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return fmt.Errorf("amtsim: saved identity root key is a %T, want a signer", k)
	}
	ca.Cert, ca.key, ca.serial = cert, signer, time.Now().UnixNano()
	return nil
}
