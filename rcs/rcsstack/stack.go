// Package rcsstack sets up a server on embedded defaults for a simulated
// fleet: a throw-away provisioning vendor, a durable store in a data
// directory, the chain imported through the certificate workshop, the
// server on loopback listeners, and a profile and a domain made through the
// API. `amtrcs demo` and `amtrcs bench` both start their server here; the
// bench only measures it.
//
// It must never run against a production data directory: its vendor keys
// are throw-away and its devices simulated.
package rcsstack

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

// Vendor is a throw-away provisioning vendor: a root, an intermediate and
// a leaf named rcs.<suffix> with the AMT provisioning OID, RSA-2048 and
// SHA-256 throughout as a commercial AMT certificate is. Its keys live in
// memory and die with the process; devices trust its root as a custom
// hash, as MEBx allows.
type Vendor struct {
	Chain []*x509.Certificate // leaf, intermediate, root
	Key   crypto.Signer       // the leaf's key
	Name  string
}

// NewVendor makes a vendor whose certificates carry name (for example
// "amtrcs demo") and whose leaf covers suffix.
func NewVendor(name, suffix string, now time.Time) (*Vendor, error) {
	keys := make([]*rsa.PrivateKey, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range keys {
		// Three keys at once: RSA generation is the slow part of a setup.
		wg.Go(func() { keys[i], errs[i] = rsa.GenerateKey(rand.Reader, 2048) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("vendor %s: generate RSA key: %w", name, err)
	}
	serial := func() *big.Int { n, _ := rand.Int(rand.Reader, big.NewInt(1<<62)); return n }
	org := []string{name}
	rootT := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name + " Root CA", Organization: org},
		NotBefore: now.AddDate(0, 0, -2), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	root, err := create(rootT, rootT, keys[0], keys[0])
	if err != nil {
		return nil, err
	}
	intT := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name + " AMT Issuing CA", Organization: org},
		NotBefore: now.AddDate(0, 0, -2), NotAfter: now.AddDate(5, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	inter, err := create(intT, root, keys[1], keys[0])
	if err != nil {
		return nil, err
	}
	cn := "rcs." + suffix
	leafT := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: cn, Organization: org},
		DNSNames:  []string{cn},
		NotBefore: now.AddDate(0, 0, -1), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{amt.ProvisioningOID()},
	}
	leaf, err := create(leafT, inter, keys[2], keys[1])
	if err != nil {
		return nil, err
	}
	return &Vendor{Chain: []*x509.Certificate{leaf, inter, root}, Key: keys[2], Name: name}, nil
}

// RootHash is the vendor root as a device's custom trusted hash.
func (v *Vendor) RootHash() amt.RootHash {
	root := v.Chain[len(v.Chain)-1]
	return amt.RootHash{Name: root.Subject.CommonName, Algorithm: amt.HashSHA256, Hash: amt.HashSHA256.Sum(root.Raw), Active: true}
}

func create(t, parent *x509.Certificate, key, parentKey *rsa.PrivateKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, t, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, fmt.Errorf("vendor chain: %s: %w", t.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// StoreFile is the database file a stack opens in its data directory, the
// name `amtrcs serve` uses.
const StoreFile = "amtrcs.db"

// Options describe a server on embedded defaults for a simulated
// fleet: what `amtrcs bench` and `amtrcs demo` both start.
type Options struct {
	// Dir is the data directory (store, KEK file, admin token, server
	// certificate); required.
	Dir string
	// Suffix is the fleet's DNS suffix: the domain's, and the leaf's name
	// rcs.<Suffix>.
	Suffix string
	// Vendor provides the provisioning chain (nil: a new one named
	// "amtrcs").
	Vendor *Vendor
	// DomainName names the domain (default "fleet").
	DomainName string
	// Profile is created through the API and named by the domain.
	Profile provisioning.Profile
	// NoSync turns the store's fsync off. The bench never does so but for
	// its diagnostic; the demo does, its data being throw-away.
	NoSync bool
	// Hello opens the hello listener on a loopback port.
	Hello bool
	// IdentityRoots are the device-identity roots the engine trusts (the
	// simulator's, which a real RCS would not trust).
	IdentityRoots []*x509.Certificate
	// DialNetwork, when set, is the engine's dialer to legacy devices.
	DialNetwork func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxJobs bounds concurrent activations (0: the server's default).
	MaxJobs int
	// API and Gateway are the REST API's and the agent gateway's listen
	// addresses (default 127.0.0.1:0, a port of the system's choosing).
	API, Gateway string
	// Actor is the audit actor of the certificate import (default
	// "bench").
	Actor  string
	Logger *slog.Logger
	// Prepare, when set, runs with the store open and the configuration
	// made, before the server is created: to open an internal CA over the
	// store and give it to opts.Engine.TLS, say. What it returns is closed
	// after the server, before the store.
	Prepare func(ctx context.Context, st *store.Store, cfg *config.Config, opts *rcs.Options) (io.Closer, error)
}

// Stack is a running server with its provisioning chain imported, a
// profile and a domain configured, and an admin API client.
type Stack struct {
	Server *rcs.Server
	Store  *store.Store
	Vendor *Vendor
	CertID string
	// TLS trusts the server's certificate: for agents and API clients.
	TLS *tls.Config
	// AdminToken is the server's first admin token.
	AdminToken string
	http       *http.Client
	prepared   io.Closer
}

// Start opens the store in o.Dir, imports the vendor chain through the
// certificate workshop, starts the server on o.API and o.Gateway (default
// 127.0.0.1:0), and
// creates the profile and the domain through the API.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	if o.Dir == "" || o.Suffix == "" {
		return nil, errors.New("stack: Dir and Suffix are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Actor == "" {
		o.Actor = "bench"
	}
	if o.DomainName == "" {
		o.DomainName = "fleet"
	}
	if o.Vendor == nil {
		if o.Vendor, err = NewVendor("amtrcs", o.Suffix, time.Now()); err != nil {
			return nil, err
		}
	}
	s, err := open(o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	imp, err := csr.NewWorkshop(s.Store, csr.WorkshopOptions{Actor: o.Actor}).Import(
		&csr.Delivery{Certificates: o.Vendor.Chain, Key: o.Vendor.Key, Sources: []string{o.Vendor.Name + " (generated)"}},
		csr.ImportOptions{Check: csr.CheckOptions{CustomHashes: []amt.RootHash{o.Vendor.RootHash()}, Suffixes: []string{o.Suffix}}})
	if err != nil {
		return nil, fmt.Errorf("stack: import the provisioning chain: %w", err)
	}
	s.CertID = imp.Cert.ID
	if err := s.startServer(ctx, o); err != nil {
		return nil, err
	}
	if err := s.Do(ctx, http.MethodPost, "/api/v1/profiles", o.Profile, nil); err != nil {
		return nil, err
	}
	dom := rcs.Domain{Name: o.DomainName, Suffixes: []string{o.Suffix}, CertID: s.CertID, Profile: o.Profile.Name}
	if err := s.Do(ctx, http.MethodPost, "/api/v1/domains", dom, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// Reopen starts the server again over the data directory of a stack
// started before (and closed, or killed): the store with its chain,
// profile, domain, agents and devices, the server's certificate and admin
// token. Give o.API and o.Gateway the addresses the first server had, so
// that its agents find this one. Only Dir, the addresses, NoSync, MaxJobs,
// IdentityRoots, Logger and Prepare are used.
func Reopen(ctx context.Context, o Options) (_ *Stack, err error) {
	if o.Dir == "" {
		return nil, errors.New("stack: Dir is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := open(o)
	if err != nil {
		return nil, err
	}
	if err := s.startServer(ctx, o); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// open opens the store in o.Dir, embedded defaults: the KEK file beside
// the database.
func open(o Options) (*Stack, error) {
	st, err := store.Open(filepath.Join(o.Dir, StoreFile), store.Options{Logger: o.Logger, NoSync: o.NoSync})
	if err != nil {
		return nil, fmt.Errorf("stack: store: %w", err)
	}
	return &Stack{Store: st, Vendor: o.Vendor}, nil
}

// startServer starts the server over s.Store on o's listeners.
func (s *Stack) startServer(ctx context.Context, o Options) (err error) {
	cfg := config.Default()
	cfg.DataDir = o.Dir
	cfg.Server.API = cmp.Or(o.API, loopbackAny)
	cfg.Server.AgentGateway = cmp.Or(o.Gateway, loopbackAny)
	if o.Hello {
		cfg.Server.Hello = loopbackAny
	}
	opts := rcs.Options{Config: cfg, Store: s.Store, Logger: o.Logger, MaxJobs: o.MaxJobs,
		Engine: provisioning.Options{DeviceIdentityRoots: o.IdentityRoots, DialNetwork: o.DialNetwork}}
	if o.Prepare != nil {
		if s.prepared, err = o.Prepare(ctx, s.Store, cfg, &opts); err != nil {
			return err
		}
	}
	srv, err := rcs.New(opts)
	if err != nil {
		return fmt.Errorf("stack: server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("stack: start the server: %w", err)
	}
	s.Server = srv
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	s.TLS = &tls.Config{RootCAs: pool}
	s.http = &http.Client{Transport: &http.Transport{TLSClientConfig: s.TLS}, Timeout: time.Minute}
	tok, err := os.ReadFile(filepath.Join(o.Dir, rcs.AdminTokenFile))
	if err != nil {
		return fmt.Errorf("stack: admin token: %w", err)
	}
	s.AdminToken = strings.TrimSpace(string(tok))
	return nil
}

// loopbackAny is a loopback listener on a port of the system's choosing.
const loopbackAny = "127.0.0.1:0"

// Do makes an admin API request and decodes a JSON answer into out.
func (s *Stack) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.Server.URL()+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("stack: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("stack: %s %s: server answered %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// GatewayURL is the agent gateway's base URL.
func (s *Stack) GatewayURL() string {
	return "https://" + s.Server.Addr("agent_gateway").String()
}

// HelloAddr is the hello listener's address, "" when it is not open.
func (s *Stack) HelloAddr() string {
	if a := s.Server.Addr("hello"); a != nil {
		return a.String()
	}
	return ""
}

// Close stops the server, then closes the store.
func (s *Stack) Close() error {
	var errs []error
	if s.Server != nil {
		errs = append(errs, s.Server.Close())
	}
	if s.http != nil {
		s.http.CloseIdleConnections()
	}
	if s.prepared != nil {
		errs = append(errs, s.prepared.Close())
	}
	errs = append(errs, s.Store.Close())
	return errors.Join(errs...)
}
