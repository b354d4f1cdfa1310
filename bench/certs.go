package bench

import (
	"time"

	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs/rcsstack"
)

// Suffix is the DNS suffix of the bench fleet; the provisioning leaf is
// named rcs.<Suffix> so that every device accepts it.
const Suffix = "bench.example.com"

// chain is the engine mode's provisioning certificate: a throw-away
// vendor's chain handed to the engine directly.
type chain struct {
	vendor   *rcsstack.Vendor
	cert     *provisioning.ProvisioningCert
	rootHash []byte // SHA-256 of the root, the device's custom hash
}

func newChain(now time.Time) (*chain, error) {
	v, err := rcsstack.NewVendor("amtrcs bench", Suffix, now)
	if err != nil {
		return nil, err
	}
	return &chain{
		vendor:   v,
		cert:     &provisioning.ProvisioningCert{ID: "bench", Chain: v.Chain, Signer: v.Key},
		rootHash: v.RootHash().Hash,
	}, nil
}
