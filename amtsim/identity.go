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
	"slices"
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
	// shared is the fleet's part of the chain (positions 4 and 5: the On
	// Die CSME CA and the On Die CA under Cert), made on first use and
	// saved with the root, so that a device's saved ROM certificate still
	// chains after a reload; sharedKey is position 4's key, which issues
	// each device's ROM certificate.
	shared    []*x509.Certificate
	sharedKey crypto.Signer
}

// identityIntermediates names the intermediates of a simulated
// device-identity chain, leaf side first, in the shape real firmware sends
// (chain positions 1 to 5): position 3 is the CSME ROM certificate, whose
// CN carries "ROM CA" and whose issuer's OU starts "On Die CSME P".
// Positions 1 to 3 are each device's own (deviceIntermediates), as the ROM
// certificate is per part on hardware; 4 and 5 are the fleet's.
var identityIntermediates = []pkix.Name{
	{Organization: []string{"amtsim"}, OrganizationalUnit: []string{"CSME IDevID"}, CommonName: "amtsim CSME IDevID CA"},
	{Organization: []string{"amtsim"}, OrganizationalUnit: []string{"CSME Kernel"}, CommonName: "amtsim CSME Kernel CA"},
	{Organization: []string{"amtsim"}, OrganizationalUnit: []string{"CSME ROM"}, CommonName: "amtsim CSME ROM CA"},
	{Organization: []string{"amtsim"}, OrganizationalUnit: []string{"On Die CSME P amtsim"}, CommonName: "amtsim On Die CSME CA"},
	{Organization: []string{"amtsim"}, OrganizationalUnit: []string{"OnDie CA Signing"}, CommonName: "amtsim On Die CA"},
}

// deviceIntermediates is how many of identityIntermediates each device
// holds itself (positions 1 to 3).
const deviceIntermediates = 3

// caCert makes a CA certificate named name for key under parent (ECDSA
// P-384, fast to generate, as Intel's On-Die chain is elliptic-curve), with
// a random serial so that no two devices' certificates are equal.
func caCert(name pkix.Name, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey crypto.Signer, now time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: name,
		NotBefore: now.Add(-time.Hour), NotAfter: parent.NotAfter,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, fmt.Errorf("amtsim: identity intermediate %q: %w", name.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// sharedChain makes the fleet's part of the chain once.
func (ca *IdentityCA) sharedChain(now time.Time) ([]*x509.Certificate, crypto.Signer, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if ca.shared != nil {
		return ca.shared, ca.sharedKey, nil
	}
	names := identityIntermediates[deviceIntermediates:]
	parent, parentKey := ca.Cert, ca.key
	chain := make([]*x509.Certificate, len(names))
	for i := len(names) - 1; i >= 0; i-- {
		key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			return nil, nil, fmt.Errorf("amtsim: identity intermediate key: %w", err)
		}
		c, err := caCert(names[i], key, parent, parentKey, now)
		if err != nil {
			return nil, nil, err
		}
		chain[i], parent, parentKey = c, c, key
	}
	ca.shared, ca.sharedKey = chain, parentKey
	return chain, parentKey, nil
}

// deviceChain is a device's own part of its identity chain (positions 1
// to 3, the IDevID CA first, the ROM certificate last) and the IDevID CA's
// key, which issues the device's leaves. Made once per device and saved
// with it, as a part keeps its ROM certificate for life.
type deviceChain struct {
	certs []*x509.Certificate
	key   crypto.Signer
}

// deviceChainJSON is a deviceChain's saved form (the key is the
// simulator's own test secret).
type deviceChainJSON struct {
	Certs [][]byte `json:"certs"`
	Key   []byte   `json:"key"`
}

// newDeviceChain makes a device's own intermediates under the fleet's.
func (ca *IdentityCA) newDeviceChain(now time.Time) (*deviceChain, error) {
	shared, parentKey, err := ca.sharedChain(now)
	if err != nil {
		return nil, err
	}
	parent := shared[0]
	certs := make([]*x509.Certificate, deviceIntermediates)
	for i := deviceIntermediates - 1; i >= 0; i-- {
		key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("amtsim: identity intermediate key: %w", err)
		}
		c, err := caCert(identityIntermediates[i], key, parent, parentKey, now)
		if err != nil {
			return nil, err
		}
		certs[i], parent, parentKey = c, c, key
	}
	return &deviceChain{certs: certs, key: parentKey}, nil
}

// holds reports whether dc chains to ca's fleet part: a device saved under
// another identity root does not.
func (ca *IdentityCA) holds(dc *deviceChain, now time.Time) bool {
	shared, _, err := ca.sharedChain(now)
	return err == nil && dc.certs[deviceIntermediates-1].CheckSignatureFrom(shared[0]) == nil
}

func (dc *deviceChain) save() (*deviceChainJSON, error) {
	key, err := x509.MarshalPKCS8PrivateKey(dc.key)
	if err != nil {
		return nil, err
	}
	j := &deviceChainJSON{Key: key}
	for _, c := range dc.certs {
		j.Certs = append(j.Certs, c.Raw)
	}
	return j, nil
}

func (j *deviceChainJSON) load() (*deviceChain, error) {
	if len(j.Certs) != deviceIntermediates {
		return nil, fmt.Errorf("%d certificates; want %d", len(j.Certs), deviceIntermediates)
	}
	dc := &deviceChain{}
	for _, der := range j.Certs {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("certificate: %w", err)
		}
		dc.certs = append(dc.certs, c)
	}
	key, err := parseSigner(j.Key)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	dc.key = key
	return dc, nil
}

func parseSigner(pkcs8 []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T, want a signer", k)
	}
	return signer, nil
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
// firmware's setup certificate) for the device with the given UUID under
// its own intermediates dc, with the chain real firmware sends: the leaf
// and five intermediates, without the root. The leaf is new at each call,
// as firmware may re-issue it; the ROM certificate stays.
func (ca *IdentityCA) issue(dc *deviceChain, uuid string, now time.Time) (*tls.Certificate, error) {
	key, err := pool.get()
	if err != nil {
		return nil, err
	}
	shared, _, err := ca.sharedChain(now)
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
	der, err := x509.CreateCertificate(rand.Reader, tmpl, dc.certs[0], key.Public(), dc.key)
	if err != nil {
		return nil, fmt.Errorf("amtsim: issue device identity certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	// Leaf and intermediates, no root: what real firmware sends.
	tc := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	for _, c := range append(slices.Clone(dc.certs), shared...) {
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
// after the fleet is reloaded. Shared and SharedKey (absent in files of
// older versions, then made again on first use) keep the fleet's part of
// the chain, under which the devices' saved ROM certificates were issued.
type identityJSON struct {
	Cert      []byte   `json:"cert"`
	Key       []byte   `json:"key"`
	Shared    [][]byte `json:"shared,omitempty"`
	SharedKey []byte   `json:"shared_key,omitempty"`
}

// MarshalJSON saves the root and its key (the simulator's own test secret),
// with the fleet's part of the chain when it was made.
func (ca *IdentityCA) MarshalJSON() ([]byte, error) {
	key, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return nil, err
	}
	j := identityJSON{Cert: ca.Cert.Raw, Key: key}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if ca.shared != nil {
		if j.SharedKey, err = x509.MarshalPKCS8PrivateKey(ca.sharedKey); err != nil {
			return nil, err
		}
		for _, c := range ca.shared {
			j.Shared = append(j.Shared, c.Raw)
		}
	}
	return json.Marshal(j)
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
	signer, err := parseSigner(j.Key)
	if err != nil {
		return fmt.Errorf("amtsim: saved identity root key: %w", err)
	}
	var shared []*x509.Certificate
	var sharedKey crypto.Signer
	if len(j.Shared) > 0 {
		if len(j.Shared) != len(identityIntermediates)-deviceIntermediates {
			return fmt.Errorf("amtsim: saved identity chain of %d shared certificates; want %d", len(j.Shared), len(identityIntermediates)-deviceIntermediates)
		}
		for _, der := range j.Shared {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return fmt.Errorf("amtsim: saved identity chain: %w", err)
			}
			shared = append(shared, c)
		}
		if sharedKey, err = parseSigner(j.SharedKey); err != nil {
			return fmt.Errorf("amtsim: saved identity chain key: %w", err)
		}
	}
	ca.Cert, ca.key, ca.serial = cert, signer, time.Now().UnixNano()
	ca.shared, ca.sharedKey = shared, sharedKey
	return nil
}

// identityCertLocked issues a leaf under the device's own intermediates,
// making them the first time and keeping them in its saved state. A device
// saved under another identity root than the one it runs under now gets
// new ones: its old ROM certificate would not chain.
func (d *Device) identityCertLocked() (*tls.Certificate, error) {
	ca, err := d.IdentityCA()
	if err != nil {
		return nil, err
	}
	now := d.clock.Now()
	if d.idChain == nil && d.st.IdentityChain != nil {
		dc, err := d.st.IdentityChain.load()
		if err != nil {
			return nil, fmt.Errorf("amtsim: device %s identity_chain: %w", d.uuid, err)
		}
		if ca.holds(dc, now) {
			d.idChain = dc
		}
	}
	if d.idChain == nil {
		dc, err := ca.newDeviceChain(now)
		if err != nil {
			return nil, err
		}
		saved, err := dc.save()
		if err != nil {
			return nil, err
		}
		d.idChain, d.st.IdentityChain = dc, saved
	}
	return ca.issue(d.idChain, d.uuid.String(), now)
}
