package pki

import (
	"context"
	"testing"
)

// BenchmarkSignAMTTLS measures one AMT TLS issuance by the embedded CA:
// the CSR check, the smallstep authority with its bbolt record of the
// certificate, the RSA-3072 signature and the check of what came back.
func BenchmarkSignAMTTLS(b *testing.B) {
	ca, _ := embeddedCA(b)
	csr := makeCSR(b, csrSpec{cn: "pc1.corp.example.com"})
	ctx := context.Background()
	for b.Loop() {
		if _, _, err := ca.SignAMTTLS(ctx, csr, "pc1.corp.example.com"); err != nil {
			b.Fatal(err)
		}
	}
}
