package csr

import (
	"bytes"
	"crypto/x509"
	"sync"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// RootSource finds the root that issued a certificate when the delivery
// left it out. The Mozilla set is the default; tests and callers with their
// own trust store pass another.
type RootSource interface {
	// Issuers returns the roots whose subject is the issuer of c.
	Issuers(c *x509.Certificate) []*x509.Certificate
	// Name says where the roots come from, for the report.
	Name() string
}

// RootList is a RootSource over a fixed list of certificates.
type RootList struct {
	Label string
	Certs []*x509.Certificate
}

// Issuers implements RootSource.
func (l RootList) Issuers(c *x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, r := range l.Certs {
		if bytes.Equal(r.RawSubject, c.RawIssuer) {
			out = append(out, r)
		}
	}
	return out
}

// Name implements RootSource.
func (l RootList) Name() string { return l.Label }

var (
	mozillaOnce  sync.Once
	mozillaRoots RootList
)

// MozillaRoots is the root set of Mozilla's NSS store as embedded by
// golang.org/x/crypto/x509roots/fallback, parsed once on first use.
func MozillaRoots() RootList {
	mozillaOnce.Do(func() {
		mozillaRoots.Label = "Mozilla roots"
		for r := range bundle.Roots() {
			c, err := x509.ParseCertificate(r.Certificate)
			if err != nil {
				// A root of the bundle that this Go cannot parse cannot
				// complete a chain either; the others still can.
				continue
			}
			mozillaRoots.Certs = append(mozillaRoots.Certs, c)
		}
	})
	return mozillaRoots
}
