package provisioning

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"
)

// keyedSource is a CertSource with a chain loader: one certificate whose
// key can be replaced, counting the unseals.
type keyedSource struct {
	key     *ecdsa.PrivateKey
	gone    bool
	unseals int
}

var errGone = errors.New("no such certificate")

func (k *keyedSource) provisioningChain(_ context.Context, id string) (*ProvisioningCert, error) {
	if k.gone {
		return nil, errGone
	}
	return &ProvisioningCert{ID: id, Chain: []*x509.Certificate{{PublicKey: k.key.Public()}}}, nil
}

func (k *keyedSource) ProvisioningCert(ctx context.Context, id string) (*ProvisioningCert, error) {
	pc, err := k.provisioningChain(ctx, id)
	if err != nil {
		return nil, err
	}
	k.unseals++
	pc.Signer = k.key
	return pc, nil
}

func (k *keyedSource) ProvisioningCertIDs(context.Context) ([]string, error) {
	return []string{"c1"}, nil
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestCachedSigners: a key is unsealed once and reused while it matches the
// stored certificate; a certificate with another key is unsealed again; a
// deleted one is gone at once.
func TestCachedSigners(t *testing.T) {
	src := &keyedSource{key: newKey(t)}
	c := cacheSigners(src)
	ctx := context.Background()
	steps := []struct {
		name    string
		edit    func()
		unseals int
		err     error
	}{
		{"first use unseals", nil, 1, nil},
		{"second use reuses", nil, 1, nil},
		{"a new key under the id unseals again", func() { src.key = newKey(t) }, 2, nil},
		{"and is reused", nil, 2, nil},
		{"a deleted certificate fails", func() { src.gone = true }, 2, errGone},
	}
	for _, st := range steps {
		if st.edit != nil {
			st.edit()
		}
		pc, err := c.ProvisioningCert(ctx, "c1")
		if !errors.Is(err, st.err) {
			t.Fatalf("%s: error %v, want %v", st.name, err, st.err)
		}
		if src.unseals != st.unseals {
			t.Errorf("%s: %d unseals, want %d", st.name, src.unseals, st.unseals)
		}
		if err == nil && pc.Signer != crypto.Signer(src.key) {
			t.Errorf("%s: signer is not the certificate's current key", st.name)
		}
	}
	// A source without a chain loader is left as it is.
	if _, ok := cacheSigners(CertList(nil)).(*cachedSigners); ok {
		t.Error("a CertList was wrapped")
	}
}
