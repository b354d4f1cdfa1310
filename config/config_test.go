package config

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/invalid")

// render is what a user sees for diags: one line per diagnostic (the --json
// fields), then the snippets of the text writer.
func render(t *testing.T, filename string, src []byte, diags hcl.Diagnostics) string {
	t.Helper()
	var b strings.Builder
	for _, d := range JSONDiagnostics(diags) {
		b.WriteString(d.String() + "\n")
	}
	b.WriteString("----\n")
	if err := WriteDiagnostics(&b, Files(filename, src), diags, 0, false); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestInvalidGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.hcl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cfg, diags := Load(f, src, map[string]string{"ADMIN_PASSWORD": "x", "AMTRCS_KEK": "x", "CA_PASSWORD": "x"})
			if len(diags) == 0 {
				t.Fatal("no diagnostics: the file tests nothing")
			}
			if diags.HasErrors() != (cfg == nil) {
				t.Errorf("errors %v but config %v: a config comes back exactly when there is no error", diags.HasErrors(), cfg != nil)
			}
			for _, d := range diags {
				if d.Subject == nil || d.Subject.Filename != f || d.Subject.Start.Line < 1 || d.Subject.Start.Column < 1 {
					t.Errorf("diagnostic %q has no position in %s: %v", d.Summary, f, d.Subject)
				}
				if strings.Contains(d.Detail, "\n") {
					t.Errorf("diagnostic %q spans several lines", d.Summary)
				}
			}
			got := render(t, f, src, diags)
			golden := strings.TrimSuffix(f, ".hcl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./config -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ from %s (go test ./config -update rewrites it)\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// Each semantic rule of the package, with the file:line:col it must be
// reported at: the golden files pin the wording, this pins the rule set.
func TestRulesReportedAt(t *testing.T) {
	tests := []struct {
		file, at, summary string
	}{
		{"enums.hcl", "2:10", "Unknown value"},  // ca mode
		{"enums.hcl", "6:20", "Unknown value"},  // profile mode
		{"enums.hcl", "7:20", "Unknown value"},  // admin_password
		{"enums.hcl", "9:20", "Unknown value"},  // user_consent
		{"enums.hcl", "11:12", "Unknown value"}, // tls mode
		{"durations.hcl", "2:22", "Invalid duration"},
		{"durations.hcl", "13:38", "Invalid duration"},
		{"listen.hcl", "2:19", "Invalid listen address"},
		{"listen.hcl", "5:26", "Invalid advertised address"},
		{"listen.hcl", "5:69", "Duplicate advertised address"},
		{"listen.hcl", "9:16", "Invalid resolver address"},
		{"duplicate_labels.hcl", "5:8", "Duplicate domain"},
		{"duplicate_labels.hcl", "12:9", "Duplicate profile"},
		{"suffixes.hcl", "3:5", "Invalid DNS suffix"}, // empty
		{"suffixes.hcl", "4:5", "Invalid DNS suffix"}, // ..
		{"suffixes.hcl", "6:5", "Invalid DNS suffix"}, // label > 63
		{"suffixes.hcl", "7:5", "Invalid DNS suffix"}, // non-ASCII
		{"suffixes.hcl", "8:5", "Invalid DNS suffix"}, // > 253
		{"suffixes.hcl", "15:1", "Domain without suffixes"},
		{"suffix_twice.hcl", "2:57", "Suffix listed twice"},
		{"suffix_twice.hcl", "6:36", "Suffix listed twice"},
		{"passwords.hcl", "2:20", "Static password without a source"},
		{"passwords.hcl", "3:20", "Static password without a source"},
		{"passwords.hcl", "7:24", "Password source with a random password"},
		{"passwords.hcl", "13:25", "Two secret sources"},
		{"kek_zero.hcl", "1:1", "KEK without a source"},
		{"kek_several.hcl", "1:1", "KEK with several sources"},
		{"ca_external.hcl", "2:10", "External CA without URL"},
		{"api_open.hcl", "2:9", "Unauthenticated API off loopback"},
		{"env_missing.hcl", "1:12", "Environment variable not set"},
		{"ccm_consent.hcl", "5:18", "User consent in CCM"},
		{"renew_window.hcl", "2:22", "TLS renewal window longer than validity"},
	}
	for _, tc := range tests {
		f := filepath.Join("testdata", "invalid", tc.file)
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, diags := Load(f, src, nil)
		found := false
		for _, d := range JSONDiagnostics(diags) {
			if d.Summary == tc.summary && fmt.Sprintf("%d:%d", d.Line, d.Column) == tc.at {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no %q at %s; got\n%s", tc.file, tc.summary, tc.at, render(t, f, src, diags))
		}
	}
}

func TestValidConfigs(t *testing.T) {
	tests := map[string]struct {
		env  map[string]string
		want func() *Config
	}{
		"empty.hcl":         {want: Default},
		"comments_only.hcl": {want: Default},
		"minimal_domain.hcl": {want: func() *Config {
			c := Default()
			c.Domains = []Domain{{Name: "corp", Suffixes: []string{"corp.example.com", "branch.corp.example.com"}, Profile: "default"}}
			return c
		}},
		"env.hcl": {
			env: map[string]string{"STATE_DIRECTORY": "/run/amtrcs", "AMTRCS_KEK": "k", "LISTEN_HOST": "127.0.0.2", "CORP_SUFFIX": "corp.example.com", "SITE": "paris"},
			want: func() *Config {
				c := Default()
				c.DataDir = "/run/amtrcs"
				c.KEK = KEK{Source: KEKEnv, Env: "AMTRCS_KEK"}
				c.Server.API = "127.0.0.2:8443"
				c.Domains = []Domain{{Name: "corp", Suffixes: []string{"corp.example.com", "paris.example.com"}, Profile: "default"}}
				return c
			},
		},
		"store_postgres.hcl": {
			env: map[string]string{"AMTRCS_DATABASE_URL": "postgres://amtrcs:pw@db.corp.example:5432/amtrcs", "AMTRCS_KEK": "k"},
			want: func() *Config {
				c := Default()
				c.KEK = KEK{Source: KEKEnv, Env: "AMTRCS_KEK"}
				c.Store = Store{Backend: StorePostgres, URL: "postgres://amtrcs:pw@db.corp.example:5432/amtrcs"}
				return c
			},
		},
		"ccm_external.hcl": {
			env: map[string]string{"CA_PASSWORD": "p"},
			want: func() *Config {
				c := Default()
				c.KEK = KEK{Source: KEKKMS, KMS: "pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=amtrcs?pin-source=/etc/amtrcs/pin"}
				c.Server = Server{API: "[::1]:9443", TLSCert: "/etc/amtrcs/server.crt", TLSKey: "/etc/amtrcs/server.key",
					AgentGateway: ":8444", Hello: ":9971", AdvertiseAddresses: []string{"rcs.corp.example.com", "10.0.0.5", "fd00::5"},
					AuditMaxAge: 0, AuditMaxRecords: 5000, HelloPendingExpiry: 2 * time.Hour, HelloPendingPerSource: 2, HelloPendingMax: DefaultHelloPendingMax}
				c.CA = CA{Mode: CAExternal, URL: "https://ca.corp.example.com:9000", Provisioner: "amt",
					JWKPassword:     SecretSource{Env: "CA_PASSWORD"},
					RootFingerprint: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
					AMTTLSValidity:  4380 * time.Hour, AgentValidity: 90 * day, ServerValidity: 90 * day}
				c.DNS = DNS{Resolvers: []string{"10.0.0.53:53", "[fd00::53]:5353"}, Timeout: 500 * time.Millisecond}
				c.Domains = []Domain{{Name: "lab", Suffixes: []string{"lab.example.net"}, Profile: "kiosk"}}
				kiosk := DefaultProfile("kiosk")
				kiosk.Mode = ModeCCM
				kiosk.UserConsent = ConsentAll
				kiosk.AdminPassword = PasswordStatic
				kiosk.AdminPasswordSource = SecretSource{File: "/etc/amtrcs/kiosk-admin"}
				kiosk.Redirection = Redirection{KVM: false, SOL: true, IDER: true}
				kiosk.Network = Network{DHCP: false, SyncFromHost: true}
				kiosk.SyncHostname = false
				kiosk.TLS = TLS{Enabled: false, Mode: TLSServer}
				def := DefaultProfile("default")
				def.AdminPasswordLength = 32
				def.UserConsent = ConsentNone
				c.Profiles = []Profile{kiosk, def}
				c.Maintenance = Maintenance{ClockSync: 0, NetworkSync: 12 * time.Hour, TLSRenewBefore: 45 * day, PasswordRotation: 0,
					ProvisioningCertWarn: []time.Duration{90 * day, 30 * day, 7 * day}}
				return c
			},
		},
	}
	files, _ := filepath.Glob("testdata/valid/*.hcl")
	if len(files) != len(tests) {
		t.Errorf("%d files in testdata/valid, %d with expectations: give each file its expected config", len(files), len(tests))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			tc, ok := tests[filepath.Base(f)]
			if !ok {
				t.Fatal("no expectation for this file")
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, diags := Load(f, src, tc.env)
			if len(diags) != 0 {
				t.Fatalf("diagnostics on a valid config:\n%s", render(t, f, src, diags))
			}
			// Where the KEK source is written is tested on its own
			// (TestKEKRange); the decoded values are compared here.
			got.KEK.Range = hcl.Range{}
			if want := tc.want(); !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestDefaultsFollowReference(t *testing.T) {
	c := Default()
	m := c.Maintenance
	if m.ClockSync != 14*24*time.Hour || m.TLSRenewBefore != 30*24*time.Hour ||
		!reflect.DeepEqual(m.ProvisioningCertWarn, []time.Duration{60 * 24 * time.Hour, 30 * 24 * time.Hour}) {
		t.Errorf("maintenance defaults %+v differ from reference §10 (clock 14 days, TLS 30 days, warnings 60 and 30 days)", m)
	}
	if c.Server.Hello != "" {
		t.Errorf("hello listener on by default: %q", c.Server.Hello)
	}
	if !isLoopbackListen(c.Server.API) || c.API.Authenticated() {
		t.Errorf("default API %q: want loopback and no authentication", c.Server.API)
	}
	if p, ok := c.Profile(DefaultProfileName); !ok || p.Mode != ModeACM {
		t.Errorf("default profile missing or not ACM: %+v", p)
	}
	if got := c.KEKPath(); got != filepath.Join(DefaultDataDir, DefaultKEKFile) {
		t.Errorf("KEKPath %q", got)
	}
	// No file at all is the same as an empty one.
	noFile, diags, _ := LoadFile("", nil)
	if len(diags) != 0 || !reflect.DeepEqual(noFile, Default()) {
		t.Errorf("LoadFile(\"\") = %+v, %v", noFile, diags)
	}
}

func TestEnvironment(t *testing.T) {
	tests := map[string]struct {
		src     string
		env     map[string]string
		dataDir string // want, when no error
		errAt   string // want "line:col: summary" of the first error
	}{
		"attribute":         {src: `data_dir = env.D`, env: map[string]string{"D": "/x"}, dataDir: "/x"},
		"template":          {src: `data_dir = "${env.A}/${env.B}"`, env: map[string]string{"A": "/srv", "B": "rcs"}, dataDir: "/srv/rcs"},
		"index form":        {src: `data_dir = env["WEIRD-NAME"]`, env: map[string]string{"WEIRD-NAME": "/w"}, dataDir: "/w"},
		"unset, nil env":    {src: `data_dir = env.D`, errAt: "1:12: Environment variable not set"},
		"unset, other env":  {src: `data_dir = env.D`, env: map[string]string{"E": "1"}, errAt: "1:12: Environment variable not set"},
		"unset in list":     {src: "domain \"c\" {\n  suffixes = [env.S]\n}", env: map[string]string{"E": "1"}, errAt: "2:15: Environment variable not set"},
		"only env is bound": {src: `data_dir = var.D`, env: map[string]string{"D": "/x"}, errAt: "1:12: Unknown variable"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, diags := Load("t.hcl", []byte(tc.src), tc.env)
			if tc.errAt == "" {
				if diags.HasErrors() || cfg.DataDir != tc.dataDir {
					t.Fatalf("data_dir %v, diags %v; want %q", cfg, diags, tc.dataDir)
				}
				return
			}
			if !diags.HasErrors() {
				t.Fatalf("no error; want %s", tc.errAt)
			}
			d := JSONDiagnostics(diags)[0]
			if got := fmt.Sprintf("%d:%d: %s", d.Line, d.Column, d.Summary); got != tc.errAt {
				t.Errorf("got %s (%s); want %s", got, d.Detail, tc.errAt)
			}
		})
	}
}

// A secret must not come back in a diagnostic: not when reached through
// env.NAME where a variable name belongs, and not when written where a
// name, a hash or a KMS URI belongs.
func TestSecretsNotEchoed(t *testing.T) {
	const secret = "Hunter2SecretValue"
	// Through the environment: nothing printed may hold it, snippets included.
	src := []byte("profile \"p\" {\n  admin_password = \"static\"\n  admin_password_env = env.ADMIN\n}\napi {\n  token_env = env.TOKEN\n}\n")
	_, diags := Load("s.hcl", src, map[string]string{"ADMIN": secret + "!", "TOKEN": secret})
	if len(diags) == 0 {
		t.Fatal("no diagnostics")
	}
	if out := render(t, "s.hcl", src, diags); strings.Contains(out, secret) {
		t.Errorf("secret from the environment printed:\n%s", out)
	}
	// Written in the file: the snippets show the file's own lines, but no
	// message repeats the value.
	src = []byte("kek {\n  kms = \"bogus:pin-value=" + secret + "\"\n}\napi {\n  token_env = \"" + secret + "!\"\n  token_sha256 = [\"" + secret + "\"]\n}\n")
	_, diags = Load("s.hcl", src, nil)
	if len(diags) != 3 {
		t.Fatalf("want 3 diagnostics, got %v", diags)
	}
	for _, d := range diags {
		if strings.Contains(d.Summary+d.Detail, secret) {
			t.Errorf("secret in diagnostic %q: %s", d.Summary, d.Detail)
		}
	}
}

func TestExampleChecksClean(t *testing.T) {
	const path = "../examples/amtrcs.hcl"
	env := map[string]string{"AMTRCS_API_TOKEN": "t", "AMTRCS_LAB_ADMIN_PASSWORD": "p"}
	cfg, diags, files := LoadFile(path, env)
	if len(diags) != 0 {
		var b strings.Builder
		_ = WriteDiagnostics(&b, files, diags, 0, false)
		t.Fatalf("example does not check clean:\n%s", b.String())
	}
	if len(cfg.Domains) != 2 || len(cfg.Profiles) != 3 || cfg.CA.Mode != CAExternal || cfg.Server.Hello == "" || cfg.Server.Metrics != "127.0.0.1:9464" {
		t.Errorf("example lost blocks: %+v", cfg)
	}
	// Every attribute and block of the schema is documented in the example,
	// so a new setting cannot ship undocumented.
	text := string(files[path].Bytes)
	for _, name := range schemaNames(reflect.TypeFor[fileRaw]()) {
		if !strings.Contains(text, name+" ") && !strings.Contains(text, name+"\n") {
			t.Errorf("examples/amtrcs.hcl does not mention %q", name)
		}
	}
}

// schemaNames lists every attribute and block name of a raw schema type,
// recursively.
func schemaNames(typ reflect.Type) []string {
	schema, _ := gohcl.ImpliedBodySchema(reflect.New(typ).Interface())
	var names []string
	for _, a := range schema.Attributes {
		names = append(names, a.Name)
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("hcl")
		name, kind, _ := strings.Cut(tag, ",")
		if kind != "block" {
			continue
		}
		names = append(names, name)
		et := f.Type
		for et.Kind() == reflect.Pointer || et.Kind() == reflect.Slice {
			et = et.Elem()
		}
		names = append(names, schemaNames(et)...)
	}
	return names
}

func TestSecretSourceRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) (string, bool) {
		v, ok := map[string]string{"PW": "s3cret", "EMPTY": ""}[k]
		return v, ok
	}
	tests := []struct {
		src     SecretSource
		want    string
		wantErr bool
	}{
		{SecretSource{Env: "PW"}, "s3cret", false},
		{SecretSource{File: file}, "s3cret", false},
		{SecretSource{Env: "MISSING"}, "", true},
		{SecretSource{Env: "EMPTY"}, "", true},
		{SecretSource{File: empty}, "", true},
		{SecretSource{File: filepath.Join(dir, "absent")}, "", true},
		{SecretSource{}, "", true},
	}
	for _, tc := range tests {
		got, err := tc.src.Read(getenv)
		if (err != nil) != tc.wantErr || string(got) != tc.want {
			t.Errorf("%v: %q, %v", tc.src, got, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%v: error leaks the secret: %v", tc.src, err)
		}
	}
	if s := (SecretSource{Env: "PW"}).String(); s != "env PW" {
		t.Errorf("String %q", s)
	}
}

func TestLookups(t *testing.T) {
	src := []byte(`
api {
  token_sha256 = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
}
domain "corp" {
  suffixes = ["corp.example.com"]
}
`)
	c, diags := Load("l.hcl", src, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if !c.API.TokenMatches("test") || c.API.TokenMatches("test2") || c.API.TokenMatches("") {
		t.Error("TokenMatches disagrees with sha256(\"test\")")
	}
	if sha256.Sum256([]byte("test")) != c.API.TokenSHA256[0] {
		t.Error("token hash not decoded")
	}
	for _, s := range []string{"corp.example.com", "CORP.example.com.", "Corp.Example.Com"} {
		if d, ok := c.DomainForSuffix(s); !ok || d.Name != "corp" {
			t.Errorf("DomainForSuffix(%q) = %v, %v", s, d, ok)
		}
	}
	if _, ok := c.DomainForSuffix("example.com"); ok {
		t.Error("DomainForSuffix matched a parent suffix: it is an exact lookup")
	}
	if d, ok := c.Domain("corp"); !ok || d.Profile != DefaultProfileName {
		t.Errorf("Domain(corp) = %+v", d)
	}
}

func TestLoadFileUnreadable(t *testing.T) {
	_, diags, _ := LoadFile(filepath.Join(t.TempDir(), "missing.hcl"), nil)
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "missing.hcl") {
		t.Errorf("diags %v", diags)
	}
}

// The JSON syntax (a file named *.json) goes through the same schema and
// checks, with positions in the JSON text.
func TestJSONSyntax(t *testing.T) {
	src := []byte(`{
  "domain": {
    "corp": {
      "suffixes": ["corp.example.com", "a..b"]
    }
  },
  "maintenance": {"clock_sync": "168h"}
}`)
	_, diags := Load("amtrcs.hcl.json", src, nil)
	got := JSONDiagnostics(diags)
	if len(got) != 1 || got[0].Summary != "Invalid DNS suffix" || got[0].Line != 4 || got[0].Column != 40 {
		t.Fatalf("diagnostics %v", got)
	}
	src = []byte(`{"domain": {"corp": {"suffixes": ["corp.example.com"]}}, "maintenance": {"clock_sync": "168h"}}`)
	cfg, diags := Load("amtrcs.hcl.json", src, nil)
	if diags.HasErrors() || cfg.Maintenance.ClockSync != 7*day || cfg.Domains[0].Suffixes[0] != "corp.example.com" {
		t.Fatalf("cfg %+v, diags %v", cfg, diags)
	}
}

// A KEK source carries where it is written, so that the checks made when the
// key is fetched (config check opening the HSM) point at that line.
func TestKEKRange(t *testing.T) {
	tests := map[string]struct {
		src  string
		line int
		col  int
	}{
		"kms":     {src: "kek {\n  kms = \"pkcs11:token=amtrcs;object=k\"\n}\n", line: 2, col: 9},
		"env":     {src: "# env\nkek {\n  env = \"AMTRCS_KEK\"\n}\n", line: 3, col: 9},
		"file":    {src: "kek { file = \"/etc/amtrcs/kek\" }\n", line: 1, col: 14},
		"default": {src: "", line: 0, col: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, diags := Load("amtrcs.hcl", []byte(tc.src), map[string]string{"AMTRCS_KEK": "k"})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if r := c.KEK.Range; r.Start.Line != tc.line || r.Start.Column != tc.col || (tc.line != 0 && r.Filename != "amtrcs.hcl") {
				t.Errorf("KEK range %s, want line %d column %d", r, tc.line, tc.col)
			}
		})
	}
}
