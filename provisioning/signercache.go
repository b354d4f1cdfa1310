package provisioning

import (
	"context"
	"crypto"
	"sync"
)

// chainLoader is a CertSource that can give a certificate's chain without
// unsealing its key (WorkshopCerts).
type chainLoader interface {
	provisioningChain(ctx context.Context, id string) (*ProvisioningCert, error)
}

// maxCachedSigners bounds the signers kept: an organisation has a few
// provisioning certificates, one or two per domain.
const maxCachedSigners = 64

// cachedSigners is a CertSource whose keys are unsealed and parsed once per
// certificate instead of once per activation (parsing an RSA key and
// checking it cost more than the activation's signature). The chain is
// still read from the source every time, so a deleted certificate is gone
// at once and a superseded one judged as it is now; a cached key is used
// only while it matches the stored certificate's public key. The key stays
// in this process's memory, where each signature puts it anyway; at rest
// it stays sealed.
type cachedSigners struct {
	CertSource
	chains chainLoader

	mu      sync.Mutex
	signers map[string]crypto.Signer
}

// cacheSigners wraps src when it can load chains alone, and returns it as
// it is otherwise.
func cacheSigners(src CertSource) CertSource {
	cl, ok := src.(chainLoader)
	if !ok {
		return src
	}
	return &cachedSigners{CertSource: src, chains: cl, signers: map[string]crypto.Signer{}}
}

// ProvisioningCert implements CertSource.
func (c *cachedSigners) ProvisioningCert(ctx context.Context, id string) (*ProvisioningCert, error) {
	pc, err := c.chains.provisioningChain(ctx, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	s := c.signers[id]
	c.mu.Unlock()
	if s != nil && len(pc.Chain) > 0 && samePublicKey(s.Public(), pc.Chain[0].PublicKey) {
		pc.Signer = s
		return pc, nil
	}
	full, err := c.CertSource.ProvisioningCert(ctx, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if _, ok := c.signers[id]; ok || len(c.signers) < maxCachedSigners {
		c.signers[id] = full.Signer
	}
	c.mu.Unlock()
	return full, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
