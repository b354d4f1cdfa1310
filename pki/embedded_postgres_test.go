package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"sync"
	"testing"

	"github.com/amtrcs/amtrcs/internal/pgtest"
	"github.com/amtrcs/amtrcs/store"
)

// TestTwoServersShareThePostgresCA: two servers whose store is one
// PostgreSQL database start their embedded CAs at the same time: one
// creates the CA, the other reads it (the advisory lock), and both sign
// certificates that chain to the one root.
func TestTwoServersShareThePostgresCA(t *testing.T) {
	url := pgtest.URL(t)
	kek := bytes.Repeat([]byte{7}, 32)
	ctx := context.Background()
	cas := make([]*CA, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range cas {
		// Each server: its own data directory, the shared database and KEK.
		dir := t.TempDir()
		st, err := store.OpenPostgres(url, dir, store.Options{KEK: store.KEKSource{Key: kek}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		wg.Go(func() {
			cas[i], errs[i] = Open(ctx, Config{Mode: Embedded, DataDir: dir, Postgres: url, Validity: testValidity, Logger: quiet}, st, nil)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("server %d: open the CA: %v", i, err)
		}
		t.Cleanup(func() { cas[i].Close() })
	}
	if cas[0].Created() == cas[1].Created() {
		t.Errorf("created = %v and %v, want exactly one server to create the CA", cas[0].Created(), cas[1].Created())
	}
	root := cas[0].Roots()[0]
	if !root.Equal(cas[1].Roots()[0]) {
		t.Fatalf("the servers have different roots: %s and %s", Fingerprint(root), Fingerprint(cas[1].Roots()[0]))
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	for i, ca := range cas {
		leaf, chain := issueKind(t, ca, KindAMTTLS, "pc1.corp.example.com")
		inter := x509.NewCertPool()
		for _, c := range chain {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: leaf.NotBefore.Add(1), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("server %d issued a certificate that does not chain to the shared root: %v", i, err)
		}
	}
}
