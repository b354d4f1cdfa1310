package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"

	"io"
	"net"
	"testing"
	"time"
)

// handshake runs a real TLS handshake over loopback TCP and returns the
// client's error and, when the server asked for one, the client
// certificate the server verified.
func handshake(t *testing.T, srv, cli *tls.Config, serverName string) (*x509.Certificate, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		peer *x509.Certificate
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := tls.Server(c, srv)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		var peer *x509.Certificate
		if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 {
			peer = pc[0]
		}
		tc.Write([]byte("ok"))
		done <- result{peer: peer}
	}()
	cli = cli.Clone()
	cli.ServerName = serverName
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), cli)
	if err != nil {
		<-done
		return nil, err
	}
	defer conn.Close()
	buf := make([]byte, 2)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return nil, err
	}
	r := <-done
	return r.peer, r.err
}

// bundlePool trusts what `amtrcs pki bundle` hands a console: the root.
func bundlePool(t *testing.T, ca *CA) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(ca.Bundle()) {
		t.Fatal("Bundle has no certificate")
	}
	return p
}

func TestTLSWithIssuedCertificates(t *testing.T) {
	ca, _ := embeddedCA(t)
	ctx := context.Background()
	testTLS(t, ca, ctx)
}

type tlsCase struct {
	srv, cli *tls.Config
	name     string // the name the client dials
	wantErr  bool
	agent    string // the agent the server must see, if any
}

func testTLS(t *testing.T, ca *CA, ctx context.Context) {
	t.Helper()
	server, err := ca.IssueServer(ctx, []string{"rcs.corp.example.com", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	key := ecKey(t)
	agentLeaf, agentChain, err := ca.SignAgent(ctx, makeCSR(t, csrSpec{key: key}), "agent-7")
	if err != nil {
		t.Fatal(err)
	}
	agentCert := tls.Certificate{PrivateKey: key, Certificate: [][]byte{agentLeaf.Raw}}
	for _, c := range agentChain {
		agentCert.Certificate = append(agentCert.Certificate, c.Raw)
	}
	amtLeaf, amtChain, err := ca.SignAMTTLS(ctx, makeCSR(t, csrSpec{cn: "pc1.corp.example.com"}), "pc1.corp.example.com")
	if err != nil {
		t.Fatal(err)
	}
	amtCert := tls.Certificate{PrivateKey: rsaKey(), Certificate: [][]byte{amtLeaf.Raw}}
	for _, c := range amtChain {
		amtCert.Certificate = append(amtCert.Certificate, c.Raw)
	}

	trust := bundlePool(t, ca)
	mtls := &tls.Config{Certificates: []tls.Certificate{server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.RootPool()}
	tests := map[string]tlsCase{
		"server by DNS name":   {srv: &tls.Config{Certificates: []tls.Certificate{server}}, cli: &tls.Config{RootCAs: trust}, name: "rcs.corp.example.com"},
		"server by IP":         {srv: &tls.Config{Certificates: []tls.Certificate{server}}, cli: &tls.Config{RootCAs: trust}, name: "127.0.0.1"},
		"server, wrong name":   {srv: &tls.Config{Certificates: []tls.Certificate{server}}, cli: &tls.Config{RootCAs: trust}, name: "other.corp.example.com", wantErr: true},
		"server, no trust":     {srv: &tls.Config{Certificates: []tls.Certificate{server}}, cli: &tls.Config{RootCAs: x509.NewCertPool()}, name: "rcs.corp.example.com", wantErr: true},
		"agent mutual TLS":     {srv: mtls, cli: &tls.Config{RootCAs: trust, Certificates: []tls.Certificate{agentCert}}, name: "rcs.corp.example.com", agent: "agent-7"},
		"AMT device as server": {srv: &tls.Config{Certificates: []tls.Certificate{amtCert}}, cli: &tls.Config{RootCAs: trust}, name: "pc1.corp.example.com"},
	}
	if ca.Mode() == Embedded {
		// The embedded CA issues AMT TLS certificates for server auth only,
		// so one cannot pass as an agent. (An external step-ca's default
		// template adds client auth; the agent gateway checks AgentID.)
		tests["AMT cert as client"] = tlsCase{srv: mtls, cli: &tls.Config{RootCAs: trust, Certificates: []tls.Certificate{amtCert}}, name: "rcs.corp.example.com", wantErr: true}
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			peer, err := handshake(t, tc.srv, tc.cli, tc.name)
			if tc.wantErr {
				if err == nil {
					t.Fatal("handshake succeeded, want failure")
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if tc.agent != "" {
				if id, ok := AgentID(peer); !ok || id != tc.agent {
					t.Errorf("server sees agent %q (%v), want %q", id, ok, tc.agent)
				}
			}
		})
	}
}
