package pki

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/store"
)

// day is the unit validities are configured in.
const day = 24 * time.Hour

var testValidity = Validity{AMTTLS: 90 * day, Agent: 30 * day, Server: 45 * day}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// RSA keys are slow to make; tests that only need "a firmware key" share
// these, as firmware keys are independent of what is tested.
var (
	rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
	rsaKey1024 = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testStore opens a real store, whose KEK seals the CA keys.
func testStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "amtrcs.db"), store.Options{NoSync: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// fixedClock is a clock stopped at a whole second, so that expected
// validity windows are exact.
func fixedClock(t time.Time) func() time.Time {
	t = t.Truncate(time.Second)
	return func() time.Time { return t }
}

// sharedEmbedded is one embedded CA for the tests that do not care about
// its life cycle: making its two RSA-3072 keys is the slow part.
var (
	sharedOnce sync.Once
	sharedCA   *CA
	sharedSt   *store.Store
	sharedNow  time.Time
	sharedErr  error
)

func embeddedCA(t testing.TB) (*CA, time.Time) {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := tempDir()
		if err != nil {
			sharedErr = err
			return
		}
		st, err := store.Open(filepath.Join(dir, "amtrcs.db"), store.Options{NoSync: true, Logger: quiet})
		if err != nil {
			sharedErr = err
			return
		}
		sharedSt = st
		sharedNow = time.Now().Truncate(time.Second)
		sharedCA, sharedErr = Open(context.Background(), Config{Mode: Embedded, DataDir: dir, Validity: testValidity, Logger: quiet}, st, fixedClock(sharedNow))
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedCA, sharedNow
}

type csrSpec struct {
	key  crypto.Signer
	cn   string
	dns  []string
	ips  []net.IP
	uris []string
}

func makeCSR(t testing.TB, s csrSpec) *x509.CertificateRequest {
	t.Helper()
	if s.key == nil {
		s.key = rsaKey()
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: s.cn}, DNSNames: s.dns, IPAddresses: s.ips}
	for _, u := range s.uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, s.key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

// parseBundle reads the PEM certificates in order.
func parseBundle(t testing.TB, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// checkBundle asserts root first (self-signed), then each certificate signed
// by the one before it.
func checkBundle(t testing.TB, certs []*x509.Certificate, wantLen int) {
	t.Helper()
	if len(certs) != wantLen {
		t.Fatalf("bundle has %d certificates, want %d", len(certs), wantLen)
	}
	if err := certs[0].CheckSignatureFrom(certs[0]); err != nil || !certs[0].IsCA {
		t.Fatalf("bundle[0] %q is not a self-signed CA: %v", certs[0].Subject.CommonName, err)
	}
	for i := 1; i < len(certs); i++ {
		if err := certs[i].CheckSignatureFrom(certs[i-1]); err != nil {
			t.Fatalf("bundle[%d] %q is not signed by bundle[%d] %q: %v", i, certs[i].Subject.CommonName, i-1, certs[i-1].Subject.CommonName, err)
		}
	}
}
