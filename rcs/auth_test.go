package rcs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

func TestAPIAuth(t *testing.T) {
	e := newEnv(t, nil)
	// An enrolled agent's credential, as the agent gets it.
	var enr wire.EnrollResponse
	if code := e.call("POST", wire.EnrollPath, "", wire.EnrollRequest{Token: e.enrollToken(), Hostname: "pc1"}, &enr); code != 200 || enr.Credential == "" {
		t.Fatalf("enroll: %d", code)
	}
	tests := []struct {
		name   string
		method string
		path   string
		token  string
		want   int
	}{
		{"health needs nothing", "GET", "/api/v1/health", "", 200},
		{"no token", "GET", "/api/v1/devices", "", 401},
		{"wrong token", "GET", "/api/v1/devices", "amtrcs-admin-0123456789abcdef.wrong", 401},
		{"garbage token", "GET", "/api/v1/devices", "hello", 401},
		{"admin token with a wrong secret", "GET", "/api/v1/devices", e.token[:len(e.token)-2] + "xx", 401},
		{"agent credential on an admin endpoint", "GET", "/api/v1/devices", enr.Credential, 403},
		{"agent credential cannot read passwords", "GET", "/api/v1/devices/00000000-0000-0000-0000-000000000001/password", enr.Credential, 403},
		{"agent credential cannot make tokens", "POST", "/api/v1/agents/tokens", enr.Credential, 403},
		{"admin token", "GET", "/api/v1/devices", e.token, 200},
		{"unknown endpoint", "GET", "/api/v1/nothing", e.token, 404},
		{"unknown device", "GET", "/api/v1/devices/nosuchpc", e.token, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var raw json.RawMessage
			var ae rcs.APIError
			code := e.call(tt.method, tt.path, tt.token, nil, &raw)
			if code >= 400 {
				if err := json.Unmarshal(raw, &ae); err != nil {
					t.Fatalf("refusal is not JSON: %s", raw)
				}
			}
			if code != tt.want {
				t.Fatalf("%s %s: %d, want %d", tt.method, tt.path, code, tt.want)
			}
			if code >= 400 && (ae.Message == "" || ae.Rule == "" || ae.Fix == "") {
				t.Fatalf("refusal without error, rule and fix: %+v", ae)
			}
			if tt.token != "" && strings.Contains(ae.Message+ae.Seen, tt.token) {
				t.Fatal("the refusal repeats the token")
			}
		})
	}
	// A spent enrollment token buys nothing more.
	var ae rcs.APIError
	tok := e.enrollToken()
	if code := e.call("POST", wire.EnrollPath, "", wire.EnrollRequest{Token: tok}, nil); code != 200 {
		t.Fatalf("first use: %d", code)
	}
	if code := e.call("POST", wire.EnrollPath, "", wire.EnrollRequest{Token: tok}, &ae); code != 401 || ae.Fix == "" {
		t.Fatalf("second use of an enrollment token: %d %+v", code, ae)
	}
	// The store never holds a token: only hashes.
	raw, _ := os.ReadFile(filepath.Join(e.dir, rcs.AdminTokenFile))
	if fi, _ := os.Stat(filepath.Join(e.dir, rcs.AdminTokenFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin token file mode %v, want 0600", fi.Mode().Perm())
	}
	secret := strings.SplitN(strings.TrimSpace(string(raw)), ".", 2)[1]
	e.st.View(func(tx *store.Tx) error {
		for _, b := range []store.Bucket{store.Tokens, store.Agents} {
			tx.ForEach(b, func(id string, v []byte) error {
				if strings.Contains(string(v), secret) || strings.Contains(string(v), strings.SplitN(enr.Credential, ".", 2)[1]) {
					t.Errorf("%s %s holds a token in clear", b, id)
				}
				return nil
			})
		}
		return nil
	})
	// The gateway refuses admins: its door is for agents.
	if code := e.call("GET", wire.ConnectPath, e.token, nil, &ae); code != 403 {
		t.Fatalf("admin token on the agent gateway: %d", code)
	}
}

func TestClientCertificateAuth(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Admins CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caT, caT, caKey.Public(), caKey)
	ca, _ := x509.ParseCertificate(caDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	// issue makes a client certificate signed by signer as parent, or
	// self-signed when parent is nil.
	issue := func(signer *ecdsa.PrivateKey, parent *x509.Certificate) tls.Certificate {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		lt := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "alice"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if parent == nil {
			parent, signer = lt, k
		}
		der, err := x509.CreateCertificate(rand.Reader, lt, parent, k.Public(), signer)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	e := newEnvWith(t, nil, func(o *rcs.Options) { o.ClientCAs = pool })
	tests := []struct {
		name string
		cert *tls.Certificate
		want int
	}{
		{"certificate from the trusted CA", ptr(issue(caKey, ca)), 200},
		{"self-signed certificate", ptr(issue(nil, nil)), 0}, // refused in the handshake
		{"no certificate", nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.tlsCfg.Clone()
			if tt.cert != nil {
				// Sent whatever CAs the server names, as a hostile client would.
				cert := tt.cert
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
			}
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
			resp, err := c.Get(e.srv.URL() + "/api/v1/devices")
			if tt.want == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("an untrusted client certificate got %s", resp.Status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	// A certificate is an admin for every endpoint but the password one,
	// which wants a bearer token.
	cfg := e.tlsCfg.Clone()
	cfg.Certificates = []tls.Certificate{issue(caKey, ca)}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := c.Get(e.srv.URL() + "/api/v1/devices/00000000-0000-0000-0000-000000000001/password")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden {
		t.Fatalf("password with a certificate: %s", resp.Status)
	}
}

func ptr[T any](v T) *T { return &v }

// The server's self-signed certificate survives a restart on the same data
// directory, so clients that trusted it keep trusting it.
func TestSelfSignedCertificatePersists(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "amtrcs.db"), store.Options{KEK: store.KEKSource{Key: testKEK}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := config.Default()
	cfg.DataDir = dir
	var first []byte
	for i := 0; i < 2; i++ {
		srv, err := rcs.New(rcs.Options{Config: cfg, Store: st})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = srv.Certificate().Raw
		} else if string(first) != string(srv.Certificate().Raw) {
			t.Fatal("a restart made a new certificate")
		}
		if !strings.Contains(strings.Join(ipStrings(srv.Certificate()), ","), "127.0.0.1") {
			t.Fatalf("certificate does not cover 127.0.0.1: %v", srv.Certificate().IPAddresses)
		}
		srv.Close()
	}
	pemFile, err := os.ReadFile(filepath.Join(dir, rcs.ServerCertFile))
	if err != nil || strings.Contains(string(pemFile), "PRIVATE KEY") {
		t.Fatalf("certificate file: %v (must not hold the key)", err)
	}
}

func ipStrings(c *x509.Certificate) []string {
	var s []string
	for _, ip := range c.IPAddresses {
		s = append(s, ip.String())
	}
	return s
}
