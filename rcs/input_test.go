package rcs_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/rcs"
)

// send makes a request with a raw body and returns the status and the
// refusal, if any.
func (e *env) send(method, path, token string, body []byte) (int, rcs.APIError) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL()+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var ae rcs.APIError
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(data, &ae); err != nil {
			e.t.Fatalf("%s %s: refusal is not JSON: %s", method, path, data)
		}
	}
	return resp.StatusCode, ae
}

// Every JSON body goes through one reader: one value, valid UTF-8, names
// the store can hold; each refusal names the rule, what was seen, what is
// wanted and the fix.
func TestRequestBodiesAreRefusedWithTheRule(t *testing.T) {
	e := newEnv(t, nil)
	long := strings.Repeat("n", 40000)
	domain := func(name string) string {
		return `{"name":"` + name + `","suffixes":["` + testSuffix + `"],"cert_id":"` + e.certID + `"}`
	}
	tests := []struct {
		name, method, path, token, body string
		want                            int
		rule                            string
	}{
		{"trailing object after a profile", "POST", "/api/v1/profiles", e.token, `{"name":"p1","mode":"acm"}{"name":"p2"}`, 400, "request body"},
		{"trailing garbage after a token request", "POST", "/api/v1/agents/tokens", e.token, `{"ttl":"1h"} x`, 400, "request body"},
		{"trailing value after an enrollment", "POST", wire.EnrollPath, "", `{"token":"t"} "amtrcs-enroll-0123456789abcdef.s"`, 400, "request body"},
		{"invalid UTF-8 in a domain", "POST", "/api/v1/domains", e.token, domain("bad\xff\xfename"), 400, "request body encoding"},
		{"invalid UTF-8 in a profile", "POST", "/api/v1/profiles", e.token, "{\"name\":\"p\xc3\",\"mode\":\"acm\"}", 400, "request body encoding"},
		{"over-long profile name", "POST", "/api/v1/profiles", e.token, `{"name":"` + long + `","mode":"acm"}`, 400, "profile name length"},
		{"over-long domain name", "POST", "/api/v1/domains", e.token, domain(long), 400, "domain name length"},
		{"over-long profile name in a PUT", "PUT", "/api/v1/profiles/" + long, e.token, `{"mode":"acm"}`, 400, "profile name length"},
		{"one clean value still works", "POST", "/api/v1/agents/tokens", e.token, "{\"ttl\":\"1h\"}\n", 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ae := e.send(tt.method, tt.path, tt.token, []byte(tt.body))
			if code != tt.want {
				t.Fatalf("%d %+v, want %d", code, ae, tt.want)
			}
			if tt.want < 400 {
				return
			}
			if ae.Rule != tt.rule || ae.Seen == "" || ae.Want == "" || ae.Fix == "" {
				t.Fatalf("refusal %+v, want rule %q with seen, want and fix", ae, tt.rule)
			}
			if strings.Contains(ae.Message, "amtrcs-enroll-") || strings.Contains(ae.Message, long) {
				t.Fatalf("the refusal repeats the body: %s", ae.Message)
			}
		})
	}
	var ps []json.RawMessage
	if code := e.call("GET", "/api/v1/profiles", e.token, nil, &ps); code != 200 {
		t.Fatalf("profiles: %d", code)
	}
	for _, p := range ps {
		if strings.Contains(string(p), `"p1"`) || strings.Contains(string(p), `"p2"`) {
			t.Fatalf("a refused body was stored: %s", p)
		}
	}
}

// TLS 1.2 clients get AEAD suites only, on the API and the gateway.
func TestTLS12OffersAEADOnly(t *testing.T) {
	e := newEnv(t, nil)
	cbc := []uint16{
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	}
	for _, name := range []string{"api", "agent_gateway"} {
		addr := e.srv.Addr(name).String()
		cfg := e.tlsCfg.Clone()
		cfg.MaxVersion, cfg.CipherSuites = tls.VersionTLS12, cbc
		if c, err := tls.Dial("tcp", addr, cfg); err == nil {
			suite := tls.CipherSuiteName(c.ConnectionState().CipherSuite)
			c.Close()
			t.Errorf("%s: TLS 1.2 handshake with CBC suites only succeeded (%s), want a refusal", name, suite)
		}
		cfg.CipherSuites = nil
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			t.Fatalf("%s: TLS 1.2 with the default suites: %v", name, err)
		}
		cs := c.ConnectionState().CipherSuite
		c.Close()
		if n := tls.CipherSuiteName(cs); !strings.Contains(n, "GCM") && !strings.Contains(n, "CHACHA20") {
			t.Errorf("%s: TLS 1.2 chose %s, want an AEAD suite", name, n)
		}
	}
}

// Without credentials the health endpoint says the server lives, nothing
// more; an admin also gets the version and the agent count.
func TestHealthTellsDetailsOnlyToAnAdmin(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name, token string
		details     bool
	}{
		{"anonymous", "", false},
		{"a wrong token", "amtrcs-admin-0123456789abcdef.wrong", false},
		{"admin", e.token, true},
	} {
		var h map[string]any
		if code := e.call("GET", "/api/v1/health", tc.token, nil, &h); code != 200 || h["status"] != "ok" {
			t.Fatalf("%s: %d %v", tc.name, code, h)
		}
		_, hasVersion := h["version"]
		_, hasAgents := h["agents"]
		if hasVersion != tc.details || hasAgents != tc.details {
			t.Errorf("%s: health %v, want details %v", tc.name, h, tc.details)
		}
	}
}
