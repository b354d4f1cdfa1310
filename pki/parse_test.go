package pki

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func TestParseCSR(t *testing.T) {
	csr := makeCSR(t, csrSpec{cn: "pc1.corp.example.com"})
	der := csr.Raw
	b64 := base64.StdEncoding.EncodeToString(der)
	wrapped := b64[:40] + "\r\n" + b64[40:] + "\n"
	pemCSR := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	tampered := bytes.Clone(der)
	tampered[len(tampered)-1] ^= 1
	tests := map[string]struct {
		in   []byte
		want string // "" means accepted
	}{
		"DER":               {der, ""},
		"base64 (firmware)": {[]byte(b64), ""},
		"base64 wrapped":    {[]byte(wrapped), ""},
		"PEM":               {pemCSR, ""},
		"NEW PEM":           {pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: der}), ""},
		"certificate PEM":   {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), `"CERTIFICATE", want CERTIFICATE REQUEST`},
		"broken PEM":        {[]byte("-----BEGIN CERTIFICATE REQUEST-----\nzz"), "does not decode"},
		"tampered":          {tampered, "signature does not verify"},
		"not base64":        {[]byte("hello world!"), "neither DER, PEM nor base64"},
		"empty":             {nil, "does not parse"},
		"oversized":         {bytes.Repeat([]byte("A"), MaxCSRSize+1), "want at most"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseCSR(tc.in)
			if tc.want == "" {
				if err != nil || got.Subject.CommonName != "pc1.corp.example.com" {
					t.Fatalf("ParseCSR = %v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, ErrRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrRequest saying %q", err, tc.want)
			}
		})
	}
}

func FuzzParseCSR(f *testing.F) {
	csr := makeCSR(f, csrSpec{cn: "pc1.corp.example.com", dns: []string{"pc1.corp.example.com"}})
	f.Add(csr.Raw)
	f.Add([]byte(base64.StdEncoding.EncodeToString(csr.Raw)))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr.Raw}))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{0x30, 0x82, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseCSR(data)
		if err != nil {
			if !errors.Is(err, ErrRequest) {
				t.Fatalf("error does not wrap ErrRequest: %v", err)
			}
			return
		}
		if got.CheckSignature() != nil {
			t.Fatal("accepted a CSR whose signature does not verify")
		}
		// What parses must also be judged by every profile without panic.
		for _, p := range []func() (profile, error){
			func() (profile, error) { return amtTLSProfile("pc1.corp.example.com") },
			func() (profile, error) { return agentProfile("agent-1") },
			func() (profile, error) { return serverProfile([]string{"rcs.example.com", "10.0.0.1"}) },
		} {
			pr, err := p()
			if err != nil {
				t.Fatal(err)
			}
			_ = pr.checkCSR(got)
		}
	})
}

func TestAgentIDAndNames(t *testing.T) {
	for id, ok := range map[string]bool{
		"4c4c4544-0036-3010-8033-b4c04f4b4e32": true, "pc1.corp.example.com": true, "a": true, "A_b-c.d": true,
		"": false, "-a": false, ".a": false, "a b": false, "a/b": false, "é": false, strings.Repeat("a", 65): false, strings.Repeat("a", 64): true,
	} {
		if err := ValidAgentID(id); (err == nil) != ok {
			t.Errorf("ValidAgentID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
	if _, err := serverProfile([]string{"rcs.example.com", "bad name"}); !errors.Is(err, ErrRequest) {
		t.Errorf("server name with a space: %v, want ErrRequest", err)
	}
	if id, ok := AgentID(nil); ok || id != "" {
		t.Error("AgentID(nil) named an agent")
	}
}
