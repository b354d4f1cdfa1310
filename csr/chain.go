package csr

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
)

// Chain is a delivery put in order: leaf first, then each issuer, up to a
// self-signed root or up to the first certificate whose issuer is missing.
type Chain struct {
	Certs []*x509.Certificate
	// Complete is true when the chain ends in a self-signed root.
	Complete bool
	// RootFrom names the root source that supplied the root when the
	// delivery did not include it ("Mozilla roots"); empty otherwise.
	RootFrom string
	// Unused are delivered certificates that are not on the leaf's path.
	Unused []*x509.Certificate
}

// ChainOptions steer BuildChain.
type ChainOptions struct {
	// Leaf is the public key of the certificate's private key, when known
	// (a PFX key or a pending CSR): the certificate holding it is the leaf.
	Leaf crypto.PublicKey
	// Roots completes a chain whose root the delivery left out; nil means
	// MozillaRoots.
	Roots RootSource
	// NoCompletion leaves a chain without root as it is.
	NoCompletion bool
}

func selfSigned(c *x509.Certificate) bool { return amt.IssuedBy(c, c) }

// samePublicKey compares keys through the Equal method every standard key
// type has.
func samePublicKey(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// BuildChain orders certs from the leaf to the root whatever order the files
// gave them in, completes a missing root from opts.Roots, and names the
// missing issuer when an intermediate is absent (the chain is then returned
// incomplete, with no error: Check reports it as a reason).
func BuildChain(certs []*x509.Certificate, opts ChainOptions) (*Chain, error) {
	if len(certs) == 0 {
		return nil, notACertificate("a delivery with no certificate")
	}
	leaf, err := pickLeaf(certs, opts.Leaf)
	if err != nil {
		return nil, err
	}
	ch := &Chain{Certs: []*x509.Certificate{leaf}}
	used := map[*x509.Certificate]bool{leaf: true}
	cur := leaf
	for len(ch.Certs) <= MaxCertificates {
		if selfSigned(cur) {
			ch.Complete = true
			break
		}
		next := pickIssuer(cur, certs, used)
		if next == nil {
			if !opts.NoCompletion {
				roots := opts.Roots
				if roots == nil {
					roots = MozillaRoots()
				}
				for _, r := range roots.Issuers(cur) {
					if amt.IssuedBy(cur, r) && selfSigned(r) {
						ch.Certs = append(ch.Certs, r)
						ch.RootFrom = roots.Name()
						ch.Complete = true
						break
					}
				}
			}
			break
		}
		used[next] = true
		ch.Certs = append(ch.Certs, next)
		cur = next
	}
	for _, c := range certs {
		if !used[c] && (ch.RootFrom == "" || !bytes.Equal(c.Raw, ch.Certs[len(ch.Certs)-1].Raw)) {
			ch.Unused = append(ch.Unused, c)
		}
	}
	return ch, nil
}

// Root is the last certificate of a complete chain, nil otherwise.
func (c *Chain) Root() *x509.Certificate {
	if !c.Complete {
		return nil
	}
	return c.Certs[len(c.Certs)-1]
}

// Leaf is the first certificate.
func (c *Chain) Leaf() *x509.Certificate { return c.Certs[0] }

// pickIssuer finds the delivered certificate that signed cur. When several
// did (a cross-signed intermediate next to its self-signed twin), the one
// that leads further up is preferred, since the firmware's table holds the
// older roots.
func pickIssuer(cur *x509.Certificate, certs []*x509.Certificate, used map[*x509.Certificate]bool) *x509.Certificate {
	var selfSignedCand *x509.Certificate
	for _, c := range certs {
		if used[c] || !amt.IssuedBy(cur, c) {
			continue
		}
		if !selfSigned(c) {
			return c
		}
		if selfSignedCand == nil {
			selfSignedCand = c
		}
	}
	return selfSignedCand
}

// PickLeaf picks the leaf of certificates given in any order by the rule
// an import applies when no key comes with them, so that every command
// names the same certificate as the leaf.
func PickLeaf(certs []*x509.Certificate) (*x509.Certificate, error) { return pickLeaf(certs, nil) }

func pickLeaf(certs []*x509.Certificate, key crypto.PublicKey) (*x509.Certificate, error) {
	if key != nil {
		for _, c := range certs {
			if samePublicKey(key, c.PublicKey) {
				return c, nil
			}
		}
		return nil, &inputError{amt.RuleError{Rule: "leaf certificate",
			Seen: "no certificate of the delivery holds the public key of the given private key",
			Want: "the certificate issued for that key",
			Fix:  "import the files the vendor sent for this key, or the PFX exported with it"}}
	}
	// The leaf is the certificate that issued no other one. A self-signed
	// certificate is a leaf only when it is alone.
	var cands []*x509.Certificate
	for _, c := range certs {
		if selfSigned(c) {
			continue
		}
		issuer := false
		for _, o := range certs {
			if o != c && amt.IssuedBy(o, c) {
				issuer = true
				break
			}
		}
		if !issuer {
			cands = append(cands, c)
		}
	}
	// A provisioning certificate is never a CA: CA certificates left over
	// (an unrelated intermediate) neither make the leaf nor make it
	// ambiguous.
	var ee []*x509.Certificate
	for _, c := range cands {
		if !c.IsCA {
			ee = append(ee, c)
		}
	}
	cands = ee
	switch len(cands) {
	case 1:
		return cands[0], nil
	case 0:
		if len(certs) == 1 {
			return certs[0], nil
		}
		return nil, &inputError{amt.RuleError{Rule: "leaf certificate",
			Seen: fmt.Sprintf("%d CA certificates and no end-entity certificate", len(certs)),
			Want: "the provisioning certificate issued for your CSR",
			Fix:  "add the certificate file the vendor issued for your CSR"}}
	}
	names := make([]string, len(cands))
	for i, c := range cands {
		names[i] = describeName(c)
	}
	return nil, &inputError{amt.RuleError{Rule: "leaf certificate",
		Seen: "several end-entity certificates: " + strings.Join(names, ", "),
		Want: "one provisioning certificate per import",
		Fix:  "import each certificate with its own chain"}}
}

// describeName is a certificate's CN, or its whole subject when it has none.
func describeName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return c.Subject.String()
}
