package provisioning

import (
	"context"

	"github.com/amtrcs/amtrcs/csr"
)

// WorkshopCerts is the CertSource over the csr workshop: stored chains, and
// signers unsealed per use (the engine keeps them once unsealed, see
// cachedSigners). Superseded certificates are not offered when
// the engine picks one itself; expired ones are, so that the preflight says
// why they fail.
type WorkshopCerts struct{ W *csr.Workshop }

var _ CertSource = WorkshopCerts{}

// ProvisioningCert implements CertSource.
func (w WorkshopCerts) ProvisioningCert(_ context.Context, id string) (*ProvisioningCert, error) {
	pc, err := w.W.Load(id)
	if err != nil {
		return nil, err
	}
	// A key imported in a PFX is sealed under the certificate's id, one
	// made by `csr new` under its CSR's.
	s, err := w.W.Signer(pc.ID)
	if err != nil && pc.CSRID != "" {
		s, err = w.W.Signer(pc.CSRID)
	}
	if err != nil {
		return nil, err
	}
	return &ProvisioningCert{ID: pc.ID, Chain: pc.Chain, Signer: s}, nil
}

// provisioningChain implements chainLoader: the stored chain, no key.
func (w WorkshopCerts) provisioningChain(_ context.Context, id string) (*ProvisioningCert, error) {
	pc, err := w.W.Load(id)
	if err != nil {
		return nil, err
	}
	return &ProvisioningCert{ID: pc.ID, Chain: pc.Chain}, nil
}

// ProvisioningCertIDs implements CertSource.
func (w WorkshopCerts) ProvisioningCertIDs(context.Context) ([]string, error) {
	es, err := w.W.List()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range es {
		if e.Kind == "certificate" && e.Status != csr.StatusSuperseded {
			ids = append(ids, e.ID)
		}
	}
	return ids, nil
}
