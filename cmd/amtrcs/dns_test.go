package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/amtrcs/amtrcs/dnssuffix"
)

// testZones serves the preflight zones of the dnssuffix package
// authoritatively: records as written, NXDOMAIN for absent names in them.
type testZones map[string][]dns.RR

func (z testZones) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	q := r.Question[0]
	rrs, ok := z[strings.ToLower(q.Name)]
	if !ok {
		m.Rcode = dns.RcodeNameError
	}
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype {
			m.Answer = append(m.Answer, rr)
		}
	}
	_ = w.WriteMsg(m)
}

// startZoneDNS serves testdata zones of the dnssuffix package on a loopback
// UDP and TCP port and returns the address.
func startZoneDNS(t *testing.T) string {
	t.Helper()
	z := testZones{}
	files, err := filepath.Glob(filepath.Join("..", "..", "dnssuffix", "testdata", "zones", "*.zone"))
	if err != nil || len(files) == 0 {
		t.Fatalf("zone files: %v", err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".stale.zone") {
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		zp := dns.NewZoneParser(fh, "", f)
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			k := strings.ToLower(rr.Header().Name)
			z[k] = append(z[k], rr)
		}
		fh.Close()
		if err := zp.Err(); err != nil {
			t.Fatal(err)
		}
	}
	var pc net.PacketConn
	var ln net.Listener
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if ln == nil {
		t.Fatal("no loopback port free for both UDP and TCP")
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: z}, {Listener: ln, Handler: z}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

func TestDNSCheck(t *testing.T) {
	resolver := startZoneDNS(t)
	tests := map[string]struct {
		args     []string
		code     int
		contains []string // in stdout, or stderr for usage errors
	}{
		"correct setup passes": {
			args: []string{"--device-suffix", "corp.example.com", "--cert-name", "rcs.corp.example.com", "--rcs-address", "192.0.2.10", "--rcs-address", "2001:db8::10",
				"--device-fqdn", "pc1.corp.example.com=192.0.2.41", "--amt-fqdn", "pc1.corp.example.com=pc1.corp.example.com"},
			code: exitOK,
			contains: []string{"OK      ProvisionServer.corp.example.com [provision-server]", "OK      192.0.2.41 [device-reverse]",
				"PASS: 0 errors, 0 warnings, 0 info, 7 ok"},
		},
		"missing ProvisionServer is a warning": {
			args:     []string{"--device-suffix", "lab.example.org", "--rcs-address", "192.0.2.10"},
			code:     exitOK,
			contains: []string{"WARNING ProvisionServer.lab.example.org [provision-server]", "fix: add ProvisionServer.lab.example.org. IN A 192.0.2.10", "PASS: 0 errors, 2 warnings"},
		},
		"renamed device fails with the maintenance that fixes it": {
			args:     []string{"--device-fqdn", "pc3.corp.example.com=192.0.2.43", "--amt-fqdn", "pc3.corp.example.com=old-pc3.corp.example.com"},
			code:     exitVerdict,
			contains: []string{"ERROR   pc3.corp.example.com [device-rename]", "fix: run the network sync maintenance: amtrcs device maintain pc3.corp.example.com --task network-sync", "FAIL: 1 error"},
		},
		"ProvisionServer elsewhere fails": {
			args:     []string{"--device-suffix", "branch.example.net", "--cert-name", "*.branch.example.net", "--rcs-address", "192.0.2.10"},
			code:     exitVerdict,
			contains: []string{"ERROR   ProvisionServer.branch.example.net [provision-server]", "resolves to 198.51.100.99, not to this RCS (192.0.2.10)"},
		},
		"bad suffix":          {args: []string{"--device-suffix", "corp_example.com"}, code: exitUsage, contains: []string{"--device-suffix", "underscore"}},
		"bad device address":  {args: []string{"--device-fqdn", "pc1.corp.example.com=192.0.2"}, code: exitUsage, contains: []string{`"192.0.2" is not an IP address`}},
		"amt name of unknown": {args: []string{"--device-fqdn", "pc1.corp.example.com", "--amt-fqdn", "pc9.corp.example.com=x.corp.example.com"}, code: exitUsage, contains: []string{"not among --device-fqdn"}},
		"bad rcs address":     {args: []string{"--device-suffix", "corp.example.com", "--rcs-address", "rcs"}, code: exitUsage, contains: []string{`--rcs-address "rcs" is not an IP address`}},
		"bad cert name":       {args: []string{"--cert-name", "com"}, code: exitUsage, contains: []string{"--cert-name", "top-level domain"}},
		"bad amt version":     {args: []string{"--device-suffix", "corp.example.com", "--amt-version", "x"}, code: exitUsage, contains: []string{"--amt-version"}},
		"nothing to check":    {args: nil, code: exitUsage, contains: []string{"nothing to check"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"dns", "check", "--resolver", resolver, "--timeout", "2s"}, tc.args...)
			code, out, errOut := runCLI(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			text := out
			if tc.code == exitUsage {
				text = errOut
			}
			for _, s := range tc.contains {
				if !strings.Contains(text, s) {
					t.Errorf("output lacks %q:\n%s", s, text)
				}
			}
		})
	}
}

func TestDNSCheckBadResolver(t *testing.T) {
	code, _, errOut := runCLI(t, "dns", "check", "--device-suffix", "corp.example.com", "--resolver", "192.0.2.53:99999")
	if code != exitUsage || !strings.Contains(errOut, "port") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestDNSCheckJSON(t *testing.T) {
	resolver := startZoneDNS(t)
	code, out, _ := runCLI(t, "dns", "check", "--json", "--resolver", resolver,
		"--device-suffix", "corp.example.com", "--rcs-address", "192.0.2.10", "--device-fqdn", "pc2.corp.example.com=192.0.2.42")
	if code != exitVerdict {
		t.Fatalf("exit %d, want %d: %s", code, exitVerdict, out)
	}
	var rep dnssuffix.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var reverse *dnssuffix.Finding
	for i, f := range rep.Findings {
		if f.Check == dnssuffix.CheckDeviceReverse {
			reverse = &rep.Findings[i]
		}
	}
	if reverse == nil || reverse.Severity != dnssuffix.SeverityError || !strings.Contains(reverse.Message, "kiosk9.corp.example.com") ||
		!strings.Contains(reverse.Fix, "42.2.0.192.in-addr.arpa. IN PTR pc2.corp.example.com.") {
		t.Fatalf("reverse finding %+v", reverse)
	}
	// The IPv6 address of ProvisionServer is not this RCS's, so the record
	// is half wrong.
	if rep.Counts.Errors != 1 || rep.Counts.Warnings != 2 || len(rep.Resolvers) != 1 || rep.Resolvers[0] != resolver {
		t.Fatalf("counts %+v, resolvers %v\n%s", rep.Counts, rep.Resolvers, out)
	}
}

// TestDNSCheckFromConfig: with no flags but --config, resolvers, timeout,
// suffixes, the provisioning certificate's names and the RCS's addresses
// all come from the config.
func TestDNSCheckFromConfig(t *testing.T) {
	resolver := startZoneDNS(t)
	dir := t.TempDir()
	certFile := filepath.Join(dir, "provisioning.pem")
	writeTestChain(t, certFile, "rcs.corp.example.com")
	cfgFile := filepath.Join(dir, "amtrcs.hcl")
	cfg := `server {
  advertise_addresses = ["rcs.corp.example.com", "192.0.2.10", "2001:db8::10"]
}
dns {
  resolvers = ["` + resolver + `"]
  timeout   = "2s"
}
domain "corp" {
  suffixes               = ["corp.example.com", "branch.example.net"]
  provisioning_cert_file = "` + certFile + `"
}
`
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "dns", "check", "--config", cfgFile)
	if code != exitVerdict {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitVerdict, out, errOut)
	}
	for _, s := range []string{
		"DNS preflight, resolvers: " + resolver,
		"OK      corp.example.com [suffix-coverage]",
		"suffix corp.example.com is covered by certificate rcs.corp.example.com",
		"ERROR   branch.example.net [suffix-coverage]",
		"OK      ProvisionServer.corp.example.com [provision-server]",
		"resolves to 198.51.100.99, not to this RCS (192.0.2.10, 2001:db8::10)",
		"OK      rcs.corp.example.com [cert-name]",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}

	// A flag wins over the config.
	code, out, _ = runCLI(t, "dns", "check", "--config", cfgFile, "--device-suffix", "corp.example.com")
	if code != exitOK || strings.Contains(out, "branch.example.net") {
		t.Fatalf("--device-suffix did not replace the config's suffixes: exit %d\n%s", code, out)
	}

	// The old name still works, says it is deprecated and gives the new one.
	code, out2, errOut2 := runCLI(t, "dns", "check", "--config", cfgFile, "--suffix", "corp.example.com")
	if code != exitOK || out2 != out || !strings.Contains(errOut2, "use --device-suffix") {
		t.Fatalf("--suffix: exit %d, stderr %q; want the report of --device-suffix and a deprecation notice naming --device-suffix", code, errOut2)
	}

	broken := filepath.Join(dir, "broken.hcl")
	if err := os.WriteFile(broken, []byte("dns {\n  resolvers = [\"not an address\"]\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "dns", "check", "--config", broken, "--device-suffix", "corp.example.com")
	if code != exitUsage || !strings.Contains(errOut, "broken.hcl line 2") {
		t.Fatalf("broken config: exit %d, stderr:\n%s", code, errOut)
	}
}

// TestDNSCheckResolvConf: with neither flag nor config, the nameservers of
// resolv.conf are asked (on port 53, which resolv.conf cannot change, so
// the test checks which resolver was asked, not its answers). Not parallel:
// it swaps resolvConfPath.
func TestDNSCheckResolvConf(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("search corp.example.com\nnameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := resolvConfPath
	resolvConfPath = conf
	t.Cleanup(func() { resolvConfPath = old })
	code, out, errOut := runCLI(t, "dns", "check", "--timeout", "300ms", "--cert-name", "rcs.corp.example.com")
	if code == exitUsage || !strings.Contains(out, "DNS preflight, resolvers: 127.0.0.1:53\n") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}

	resolvConfPath = filepath.Join(t.TempDir(), "absent")
	code, _, errOut = runCLI(t, "dns", "check", "--device-suffix", "corp.example.com")
	if code != exitUsage || !strings.Contains(errOut, "--resolver") {
		t.Fatalf("no resolv.conf: exit %d, stderr %q", code, errOut)
	}
}

// writeTestChain writes a PEM chain, root after leaf as vendors send it,
// made here; no private key is written.
func writeTestChain(t *testing.T, path, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	root := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Root"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, root, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	for _, der := range [][]byte{rootDER, leafDER} {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCertFileNames: the names come from the leaf that cert import would
// pick, a key block next to the chain is skipped unread (its bytes here are
// not even a key), and a file without a usable leaf is refused.
func TestCertFileNames(t *testing.T) {
	dir := t.TempDir()
	chain := filepath.Join(dir, "chain.pem")
	writeTestChain(t, chain, "rcs.corp.example.com")
	chainPEM, err := os.ReadFile(chain)
	if err != nil {
		t.Fatal(err)
	}
	keyBlock := []byte("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
	rootOnly, _ := pem.Decode(chainPEM)
	twoRoots := append(pem.EncodeToMemory(rootOnly), pem.EncodeToMemory(rootOnly)...)
	for name, tc := range map[string]struct {
		data    []byte
		want    string
		wantErr string
	}{
		"chain":              {data: chainPEM, want: "rcs.corp.example.com"},
		"key after chain":    {data: append(append([]byte(nil), chainPEM...), keyBlock...), want: "rcs.corp.example.com"},
		"key before chain":   {data: append(append([]byte(nil), keyBlock...), chainPEM...), want: "rcs.corp.example.com"},
		"no certificate":     {data: keyBlock, wantErr: "no CERTIFICATE block"},
		"only CAs":           {data: twoRoots, wantErr: "no end-entity certificate"},
		"broken certificate": {data: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), wantErr: "does not parse"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "provisioning.pem")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			names, err := certFileNames(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err %v, want one naming %s and %q", err, path, tc.wantErr)
				}
				return
			}
			if err != nil || len(names) != 1 || names[0] != tc.want {
				t.Fatalf("names %q, err %v; want [%s]", names, err, tc.want)
			}
		})
	}
}
