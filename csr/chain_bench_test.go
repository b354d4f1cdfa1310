package csr

import (
	"crypto/x509"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/csr/csrtest"
)

// benchChain is a commercial-shaped chain: leaf, intermediate, root, all
// RSA-2048 SHA-256, delivered out of order as vendors do.
func benchChain(b *testing.B) (leaf *x509.Certificate, delivery []*x509.Certificate, root amt.RootHash) {
	b.Helper()
	v := csrtest.NewVendor(csrtest.VendorOptions{Name: "Bench Vendor"})
	leaf, _ = v.Issue(csrtest.LeafOptions{CN: "rcs.corp.example.com"})
	return leaf, []*x509.Certificate{v.Root, leaf, v.Intermediate},
		amt.RootHash{Name: "Bench Root", Algorithm: amt.HashSHA256, Hash: amt.HashSHA256.Sum(v.Root.Raw)}
}

// BenchmarkBuildChain orders and verifies a three-certificate delivery:
// each link is one RSA-2048 verification, the root's self-signature one
// more.
func BenchmarkBuildChain(b *testing.B) {
	leaf, delivery, _ := benchChain(b)
	for b.Loop() {
		ch, err := BuildChain(delivery, ChainOptions{Leaf: leaf.PublicKey, NoCompletion: true})
		if err != nil || !ch.Complete || len(ch.Certs) != 3 {
			b.Fatalf("chain %+v, %v", ch, err)
		}
	}
}

// BenchmarkCheck is the certificate check the engine's preflight runs for
// every activation (one AMT version, one suffix).
func BenchmarkCheck(b *testing.B) {
	_, delivery, root := benchChain(b)
	ch, err := BuildChain(delivery, ChainOptions{NoCompletion: true})
	if err != nil {
		b.Fatal(err)
	}
	opts := CheckOptions{Versions: []amt.Version{{Major: 16, Minor: 1, Build: 27}}, Suffixes: []string{"corp.example.com"},
		CustomHashes: []amt.RootHash{root}, Now: csrtest.Epoch}
	for b.Loop() {
		rep := Check(ch.Certs, opts)
		if !rep.Complete {
			b.Fatalf("check: chain not complete: %+v", rep.Checks)
		}
	}
}
