package csr

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"time"
)

// CSR statuses.
const (
	CSRPending = "pending"
	CSRIssued  = "issued"
)

// Provisioning-certificate statuses. Stored records are active or
// superseded; expiring and expired are derived from the clock when listed.
const (
	StatusActive     = "active"
	StatusSuperseded = "superseded"
	StatusExpiring   = "expiring"
	StatusExpired    = "expired"
	StatusPendingCSR = "pending CSR"
)

// CSRRecord is a certificate signing request made by NewCSR, waiting for
// the vendor's certificate. Its key is sealed in the store under KeySecret.
type CSRRecord struct {
	ID        string    `json:"id"`
	Subject   Subject   `json:"subject"`
	KeyType   KeyType   `json:"key_type"`
	PEM       string    `json:"pem"`
	KeyID     string    `json:"key_id"` // SHA-256 of the public key (SPKI)
	Suffixes  []string  `json:"suffixes,omitempty"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	// Renews is the certificate this request will supersede.
	Renews string `json:"renews,omitempty"`
	// IssuedAs is the provisioning certificate made from this request.
	IssuedAs string `json:"issued_as,omitempty"`
}

// ProvisioningCert is an imported provisioning certificate: the chain the
// RCS sends to the firmware and the name of its sealed key.
type ProvisioningCert struct {
	ID           string    `json:"id"`
	CommonName   string    `json:"common_name"`
	ChainDER     [][]byte  `json:"chain_der"` // leaf first, root last
	RootName     string    `json:"root_name"`
	RootSHA256   string    `json:"root_sha256,omitempty"`
	NotAfter     time.Time `json:"not_after"`
	ImportedAt   time.Time `json:"imported_at"`
	Status       string    `json:"status"`
	KeyID        string    `json:"key_id"`
	CSRID        string    `json:"csr_id,omitempty"`
	Renews       string    `json:"renews,omitempty"`
	SupersededBy string    `json:"superseded_by,omitempty"`
	Forced       bool      `json:"forced,omitempty"`
	Sources      []string  `json:"sources,omitempty"`

	// Chain is ChainDER parsed by Load.
	Chain []*x509.Certificate `json:"-"`
}

// Leaf is the provisioning certificate itself.
func (p *ProvisioningCert) Leaf() *x509.Certificate { return p.Chain[0] }

// Root is the last certificate of the chain.
func (p *ProvisioningCert) Root() *x509.Certificate { return p.Chain[len(p.Chain)-1] }

// keySecretName is the store name of the sealed private key made for, or
// imported with, the record id. A CSR and the certificate issued for it
// share the id, so they share the key.
func keySecretName(id string) string { return "provkey/" + id }

// keyID identifies a public key by the SHA-256 of its SubjectPublicKeyInfo,
// which is how a delivered certificate is matched to its pending CSR.
func keyID(spki []byte) string {
	s := sha256.Sum256(spki)
	return hex.EncodeToString(s[:])
}

func certKeyID(c *x509.Certificate) string { return keyID(c.RawSubjectPublicKeyInfo) }

// status derives what a list shows from the stored status and the clock.
func (p *ProvisioningCert) status(now time.Time) string {
	switch {
	case p.Status == StatusSuperseded:
		return StatusSuperseded
	case now.After(p.NotAfter):
		return StatusExpired
	case now.Add(ExpiryWarning).After(p.NotAfter):
		return StatusExpiring
	}
	return StatusActive
}
