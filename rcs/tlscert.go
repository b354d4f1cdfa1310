package rcs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/amtrcs/amtrcs/store"
)

// CertProvider gives the server its TLS certificate. The self-signed one
// below is the embedded default; the internal CA (issue 7) and PEM files
// from the configuration are other providers.
type CertProvider interface {
	ServerCertificate() (*tls.Certificate, error)
}

// FileCert reads a PEM certificate chain and key (server.tls_cert and
// server.tls_key).
type FileCert struct{ CertFile, KeyFile string }

// ServerCertificate implements CertProvider.
func (f FileCert) ServerCertificate() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("server TLS certificate %s and key %s: %w: give a PEM chain and its key (server.tls_cert, server.tls_key)", f.CertFile, f.KeyFile, err)
	}
	return &c, nil
}

// ServerCertFile is where SelfSigned writes its certificate in the data
// directory, for clients (the CLI, agents with --ca) to trust.
const ServerCertFile = "rcs-server.crt"

const serverKeySecret = "rcs/server-key"

// SelfSigned is a certificate the server makes for itself: ECDSA P-256,
// valid a year for the names in Hosts, its key sealed in the store and the
// certificate in Dir/ServerCertFile. It is remade when it expires within 30
// days, lacks a name of Hosts, or does not match the sealed key.
type SelfSigned struct {
	Store *store.Store
	Dir   string
	Hosts []string
	Now   func() time.Time
}

// ServerCertificate implements CertProvider.
func (s SelfSigned) ServerCertificate() (*tls.Certificate, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	path := filepath.Join(s.Dir, ServerCertFile)
	if c, err := s.load(path, now()); err == nil {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	t := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "amtrcs server (self-signed)", Organization: []string{"amtrcs"}},
		NotBefore:             now().Add(-time.Hour),
		NotAfter:              now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so clients can trust it as its own root
	}
	for _, h := range s.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			t.IPAddresses = append(t.IPAddresses, ip)
		} else if h != "" {
			t.DNSNames = append(t.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, t, t, key.Public(), key)
	if err != nil {
		return nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	defer clear(pk)
	// The key first: a certificate file without its key is remade on the
	// next start, a key without its certificate too.
	if err := s.Store.PutSecret(serverKeySecret, pk); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func (s SelfSigned) load(path string, now time.Time) (*tls.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, err
	}
	if now.Add(30 * 24 * time.Hour).After(leaf.NotAfter) {
		return nil, errors.New("expires soon")
	}
	for _, h := range s.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
				return nil, errors.New("missing address")
			}
		} else if h != "" && !slices.Contains(leaf.DNSNames, h) {
			return nil, errors.New("missing name")
		}
	}
	pk, err := s.Store.Secret(serverKeySecret)
	if err != nil {
		return nil, err
	}
	defer clear(pk)
	k, err := x509.ParsePKCS8PrivateKey(pk)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("sealed key cannot sign")
	}
	pub, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil || !bytes.Equal(pub, leaf.RawSubjectPublicKeyInfo) {
		return nil, errors.New("certificate does not match the sealed key")
	}
	return &tls.Certificate{Certificate: [][]byte{b.Bytes}, PrivateKey: signer, Leaf: leaf}, nil
}

// serverHosts are the names a self-signed certificate covers: loopback,
// the host's name, the advertised addresses and the listeners' hosts.
func serverHosts(advertise []string, listeners ...string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	hosts = append(hosts, advertise...)
	for _, l := range listeners {
		if h, _, err := net.SplitHostPort(l); err == nil && h != "" {
			if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
				hosts = append(hosts, h)
			}
		}
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}
