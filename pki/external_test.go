package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/certificates/authority/config"
	"github.com/smallstep/certificates/authority/provisioner"
	stepca "github.com/smallstep/certificates/ca"
	"github.com/smallstep/certificates/db"
	"go.step.sm/crypto/jose"
)

type stepCA struct {
	url         string
	fingerprint string
	password    []byte
	root        *x509.Certificate
}

// startStepCA runs a real step-ca on loopback with a root and intermediate
// made here and one JWK provisioner, "amtrcs", allowed up to 400 days.
func startStepCA(t *testing.T) stepCA {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mk := func(cn string, pub, signKey any, parent *x509.Certificate, pathLen int) *x509.Certificate {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 365 * day),
			IsCA: true, BasicConstraintsValid: true, MaxPathLen: pathLen, MaxPathLenZero: pathLen == 0,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	root := mk("Test step-ca Root", rootKey.Public(), rootKey, nil, 1)
	inter := mk("Test step-ca Intermediate", interKey.Public(), rootKey, root, 0)
	write := func(name string, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	interKeyDER, _ := x509.MarshalECPrivateKey(interKey)

	password := []byte("provisioner password")
	pub, enc, err := jose.GenerateDefaultKeyPair(password)
	if err != nil {
		t.Fatal(err)
	}
	encKey, err := enc.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}

	// ca.New listens on its configured address and does not expose the
	// listener, so take a free port first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	cfg := &config.Config{
		Root:             []string{write("root.crt", "CERTIFICATE", root.Raw)},
		IntermediateCert: write("inter.crt", "CERTIFICATE", inter.Raw),
		IntermediateKey:  write("inter.key", "EC PRIVATE KEY", interKeyDER),
		Address:          addr,
		DNSNames:         []string{"127.0.0.1", "localhost"},
		DB:               &db.Config{Type: "bbolt", DataSource: filepath.Join(dir, "step.db")},
		AuthorityConfig: &config.AuthConfig{
			Provisioners: provisioner.List{&provisioner.JWK{
				Type: "JWK", Name: "amtrcs", Key: pub, EncryptedKey: encKey,
				Claims: &provisioner.Claims{
					MaxTLSDur:     &provisioner.Duration{Duration: 400 * day},
					DefaultTLSDur: &provisioner.Duration{Duration: 24 * time.Hour},
				},
			}},
		},
	}
	// step-ca reports through the standard logger; keep test output clean.
	log.SetOutput(io.Discard)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	srv, err := stepca.New(cfg, stepca.WithQuiet(true))
	if err != nil {
		t.Fatal(err)
	}
	go srv.Run()
	t.Cleanup(func() { srv.Stop() })
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("step-ca did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return stepCA{url: "https://" + addr, fingerprint: Fingerprint(root), password: password, root: root}
}

func externalConfig(s stepCA) Config {
	return Config{Mode: External, Validity: testValidity, Logger: quiet,
		External: ExternalCA{URL: s.url, Provisioner: "amtrcs", Password: s.password, RootFingerprint: s.fingerprint}}
}

func TestExternal(t *testing.T) {
	s := startStepCA(t)
	ctx := context.Background()
	// step-ca checks validity against its own clock, so this clock is real.
	now := time.Now().Truncate(time.Second)
	ca, err := Open(ctx, externalConfig(s), nil, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	if Fingerprint(ca.Roots()[0]) != s.fingerprint {
		t.Fatalf("root %s, want the pinned %s", Fingerprint(ca.Roots()[0]), s.fingerprint)
	}
	checkBundle(t, parseBundle(t, ca.Bundle()), 2)

	t.Run("validity", func(t *testing.T) { testValidityOf(t, ca, now) })
	t.Run("TLS", func(t *testing.T) { testTLS(t, ca, ctx) })

	t.Run("over the provisioner's maximum", func(t *testing.T) {
		_, _, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{}), "pc1.corp.example.com", WithWindow(now, now.Add(500*day)))
		if err == nil || !strings.Contains(err.Error(), "maxTLSCertDuration") {
			t.Errorf("err = %v, want a refusal naming maxTLSCertDuration", err)
		}
	})
	t.Run("CSR names checked before the CA sees it", func(t *testing.T) {
		_, _, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{cn: "pc9.corp.example.com"}), "pc1.corp.example.com")
		if !errors.Is(err, ErrRequest) {
			t.Errorf("err = %v, want ErrRequest", err)
		}
	})
}

func TestExternalRefusals(t *testing.T) {
	s := startStepCA(t)
	ctx := context.Background()
	tests := map[string]struct {
		edit func(*ExternalCA)
		want string
	}{
		"wrong fingerprint":   {func(e *ExternalCA) { e.RootFingerprint = strings.Repeat("0", 64) }, "ca.root_fingerprint"},
		"wrong password":      {func(e *ExternalCA) { e.Password = []byte("nope") }, "opens with the configured password"},
		"no such provisioner": {func(e *ExternalCA) { e.Provisioner = "other" }, `no JWK provisioner "other"`},
		"nobody listening": {func(e *ExternalCA) {
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			port := ln.Addr().(*net.TCPAddr).Port
			ln.Close()
			e.URL = "https://127.0.0.1:" + strconv.Itoa(port)
			e.Timeout = 2 * time.Second
		}, "check ca.url"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := externalConfig(s)
			tc.edit(&cfg.External)
			_, err := Open(ctx, cfg, nil, nil)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrConfig saying %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), string(s.password)) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}
