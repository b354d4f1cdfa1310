package config

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary files to Load: it must never panic, and a config
// it accepts must hold only values the checks allow.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.hcl")
	seeds = append(seeds, "../examples/amtrcs.hcl")
	for _, s := range seeds {
		src, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	env := map[string]string{"A": "corp.example.com", "B": "0.0.0.0:8443", "AMTRCS_KEK": "k"}
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, diags := Load("f.hcl", src, env)
		// The reports of any input must render too.
		_ = JSONDiagnostics(diags)
		if err := WriteDiagnostics(io.Discard, Files("f.hcl", src), diags, 80, false); err != nil {
			t.Fatal(err)
		}
		if diags.HasErrors() {
			if cfg != nil {
				t.Fatal("config returned with errors")
			}
			return
		}
		if cfg == nil {
			t.Fatal("no config and no error")
		}
		for _, d := range cfg.Domains {
			for _, s := range d.Suffixes {
				if p := dnsNameProblem(s); p != "" || s != normalizeName(s) {
					t.Fatalf("accepted suffix %q: %s", s, p)
				}
			}
			if _, ok := cfg.Profile(d.Profile); !ok {
				t.Fatalf("domain %q refers to missing profile %q", d.Name, d.Profile)
			}
		}
		for _, a := range []string{cfg.Server.API, cfg.Server.AgentGateway} {
			if p := listenProblem(a); p != "" {
				t.Fatalf("accepted listen address %q: %s", a, p)
			}
		}
		if cfg.Maintenance.TLSRenewBefore <= 0 || cfg.Maintenance.TLSRenewBefore >= cfg.CA.AMTTLSValidity || cfg.DNS.Timeout <= 0 {
			t.Fatalf("accepted durations %+v %+v", cfg.Maintenance, cfg.DNS)
		}
		if !cfg.API.Authenticated() && !isLoopbackListen(cfg.Server.API) {
			t.Fatalf("accepted open API on %q", cfg.Server.API)
		}
	})
}
