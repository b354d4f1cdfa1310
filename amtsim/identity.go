package amtsim

import (
	"crypto"
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
// firmware's setup certificate) for the device with the given UUID.
func (ca *IdentityCA) issue(uuid string, now time.Time) (*tls.Certificate, error) {
	key, err := pool.get()
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
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("amtsim: issue device identity certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
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
