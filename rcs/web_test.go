package rcs_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/csr/csrtest"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

// browser is an HTTP client of the dashboard with a cookie jar, as a
// browser without scripts would be.
type browser struct {
	t   *testing.T
	e   *env
	c   *http.Client
	jar http.CookieJar
}

func (e *env) browser(t *testing.T) *browser {
	return e.browserWith(t, e.client.Transport)
}

func (e *env) browserWith(t *testing.T, tr http.RoundTripper) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: tr, Jar: jar, Timeout: e.client.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, e: e, c: c, jar: jar}
}

// do sends a request and returns the answer with its body read.
func (b *browser) do(method, path string, form url.Values, header http.Header) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL()+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(data), b.e.token) {
		b.t.Fatalf("%s %s: the answer shows the admin token", method, path)
	}
	return resp, string(data)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the token the page's forms carry.
func (b *browser) csrf(page string) string {
	b.t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF field in the page:\n%s", page)
	}
	return m[1]
}

// login logs in with the admin token and returns the CSRF token of the
// session's pages.
func (b *browser) login() string {
	b.t.Helper()
	_, page := b.do("GET", "/ui/login", nil, nil)
	resp, _ := b.do("POST", "/ui/login", url.Values{"csrf": {b.csrf(page)}, "token": {b.e.token}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		b.t.Fatalf("login: %d to %q, want 303 to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page = b.do("GET", "/ui/", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "<h1>Fleet") {
		b.t.Fatalf("fleet after login: %d\n%s", resp.StatusCode, page)
	}
	return b.csrf(page)
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestDashboardLogin: the login takes the admin token only with the login
// form's CSRF token, and gives a session cookie that is HttpOnly, Secure
// and SameSite=Strict; refusals show the rule and never the token.
func TestDashboardLogin(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser(t)

	resp, _ := b.do("GET", "/ui/jobs?status=failed", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login?next=") {
		t.Fatalf("a page without a session: %d to %q, want 303 to the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := b.do("GET", "/ui/login", nil, nil)
	lc := cookieNamed(resp, "amtrcs_login")
	if resp.StatusCode != http.StatusOK || lc == nil || !lc.HttpOnly || !lc.Secure || lc.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login page: %d, login cookie %+v", resp.StatusCode, lc)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("login page CSP %q", csp)
	}
	if b.csrf(page) != lc.Value {
		t.Fatalf("the login form's CSRF token is not its cookie's")
	}
	// A refused login renders the form afresh with a new token: each case
	// takes the token of a page fetched just before.
	const loginCSRF = "the login form's"
	tests := []struct {
		name     string
		form     url.Values
		status   int
		rule     string
		outcome  string
		sessions bool
	}{
		{"no CSRF token", url.Values{"token": {e.token}}, http.StatusForbidden, "CSRF token", store.OutcomeDenied, false},
		{"a CSRF token not the login form's", url.Values{"token": {e.token}, "csrf": {"forged"}}, http.StatusForbidden, "CSRF token", store.OutcomeDenied, false},
		{"a wrong token", url.Values{"token": {"amtrcs-admin-0123456789abcdef.wrong"}, "csrf": {loginCSRF}}, http.StatusUnauthorized, "authentication failed", store.OutcomeDenied, false},
		{"no token and no client certificate", url.Values{"csrf": {loginCSRF}}, http.StatusUnauthorized, "authentication required", store.OutcomeDenied, false},
		{"the admin token", url.Values{"token": {e.token}, "csrf": {loginCSRF}}, http.StatusSeeOther, "", store.OutcomeSuccess, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.form.Get("csrf") == loginCSRF {
				_, page := b.do("GET", "/ui/login", nil, nil)
				tt.form.Set("csrf", b.csrf(page))
			}
			before, _ := e.st.AuditLog(store.AuditFilter{Action: "ui.login"})
			resp, page := b.do("POST", "/ui/login", tt.form, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tt.status, page)
			}
			if tt.rule != "" && !strings.Contains(page, `<dd class="rule">`+tt.rule+`</dd>`) {
				t.Errorf("the page does not name the rule %q:\n%s", tt.rule, page)
			}
			if tt.rule != "" && !strings.Contains(page, `<dd class="fix">`) {
				t.Errorf("the refusal has no fix:\n%s", page)
			}
			sc := cookieNamed(resp, "amtrcs_session")
			if (sc != nil) != tt.sessions {
				t.Fatalf("session cookie %+v, want one: %v", sc, tt.sessions)
			}
			if sc != nil && (!sc.HttpOnly || !sc.Secure || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/ui" || len(sc.Value) < 43) {
				t.Errorf("session cookie %+v, want HttpOnly, Secure, SameSite=Strict, Path=/ui, 32 random bytes", sc)
			}
			after, _ := e.st.AuditLog(store.AuditFilter{Action: "ui.login"})
			if len(after) != len(before)+1 || after[0].Outcome != tt.outcome {
				t.Fatalf("audit of the login: %+v, want one more ui.login %s", after, tt.outcome)
			}
			if tt.sessions && after[0].Actor == "ui" {
				t.Errorf("a login audited as %q, want the token's actor", after[0].Actor)
			}
		})
	}
	resp, page = b.do("GET", "/ui/", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "<h1>Fleet") {
		t.Fatalf("fleet with the session: %d", resp.StatusCode)
	}
	// Logging out ends the session on the server, not only in the browser.
	sid := ""
	u, _ := url.Parse(e.srv.URL() + "/ui/")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "amtrcs_session" {
			sid = c.Value
		}
	}
	if resp, _ := b.do("POST", "/ui/logout", url.Values{"csrf": {b.csrf(page)}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	replay := e.browser(t)
	replay.jar.SetCookies(u, []*http.Cookie{{Name: "amtrcs_session", Value: sid, Path: "/ui"}})
	if resp, _ := replay.do("GET", "/ui/", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the session cookie after logout: %d, want 303 to the login page", resp.StatusCode)
	}
}

// TestDashboardClientCertificate: a browser that presents a client
// certificate from a CA of api.client_certificates logs in with it, as
// the API accepts it, and is audited under its name.
func TestDashboardClientCertificate(t *testing.T) {
	admins := csrtest.NewVendor(csrtest.VendorOptions{Name: "Admins"})
	pool := x509.NewCertPool()
	pool.AddCert(admins.Root)
	e := newEnvWith(t, nil, func(o *rcs.Options) { o.ClientCAs = pool })
	leaf, key := admins.Issue(csrtest.LeafOptions{CN: "alice", NoAMTEKU: true, NoServer: true, AnyEKU: true})
	cfg := e.tlsCfg.Clone()
	cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{leaf.Raw, admins.Intermediate.Raw}, PrivateKey: key}}
	withCert := e.browserWith(t, &http.Transport{TLSClientConfig: cfg})
	without := e.browser(t)

	for _, tt := range []struct {
		name   string
		b      *browser
		offer  bool
		status int
	}{
		{"no certificate", without, false, http.StatusUnauthorized},
		{"a certificate from the admins' CA", withCert, true, http.StatusSeeOther},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, page := tt.b.do("GET", "/ui/login", nil, nil)
			if offered := strings.Contains(page, "Log in as alice"); offered != tt.offer {
				t.Fatalf("the login page offers the certificate: %v, want %v", offered, tt.offer)
			}
			resp, page := tt.b.do("POST", "/ui/login", url.Values{"csrf": {tt.b.csrf(page)}}, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("login: %d, want %d\n%s", resp.StatusCode, tt.status, page)
			}
		})
	}
	ev, _ := e.st.AuditLog(store.AuditFilter{Action: "ui.login", Limit: 1})
	if len(ev) != 1 || ev[0].Outcome != store.OutcomeSuccess || ev[0].Actor != "cert:alice" || ev[0].Detail["method"] != "certificate" {
		t.Fatalf("audit of the login: %+v, want one by cert:alice", ev)
	}
	if resp, _ := withCert.do("GET", "/ui/certs", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("a page with the certificate's session: %d", resp.StatusCode)
	}
}

// TestDashboardCSRF: every POST of a session needs its CSRF token, in the
// form or the header; without it nothing changes, the answer is 403 with
// the rule, and the refusal is audited.
func TestDashboardCSRF(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser(t)
	token := b.login()
	domain := url.Values{"original": {"corp"}, "name": {"corp"}, "suffixes": {testSuffix + ", branch.example.com"}, "cert_id": {e.certID}}
	with := func(extra url.Values) url.Values {
		v := url.Values{}
		for k, vs := range domain {
			v[k] = vs
		}
		for k, vs := range extra {
			v[k] = vs
		}
		return v
	}
	tests := []struct {
		name   string
		form   url.Values
		header http.Header
		status int
	}{
		{"no token", domain, nil, http.StatusForbidden},
		{"another session's token", with(url.Values{"csrf": {"bm90IHRoaXMgc2Vzc2lvbidz"}}), nil, http.StatusForbidden},
		{"the token in the header", domain, http.Header{"X-Csrf-Token": {token}}, http.StatusSeeOther},
		{"the token in the form", with(url.Values{"csrf": {token}}), nil, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d rcs.Domain
			e.call("PUT", "/api/v1/domains/corp", e.token, rcs.Domain{Name: "corp", Suffixes: []string{testSuffix}, CertID: e.certID}, &d)
			resp, page := b.do("POST", "/ui/domains", tt.form, tt.header)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tt.status, page)
			}
			e.call("GET", "/api/v1/domains/corp", e.token, nil, &d)
			changed := len(d.Suffixes) == 2
			if changed != (tt.status == http.StatusSeeOther) {
				t.Fatalf("domain after the POST: %+v; want it changed: %v", d, !changed)
			}
			if tt.status == http.StatusForbidden {
				if !strings.Contains(page, `<dd class="rule">CSRF token</dd>`) || !strings.Contains(page, `<dd class="fix">reload the page`) {
					t.Fatalf("the refusal does not name the rule and the fix:\n%s", page)
				}
				ev, _ := e.st.AuditLog(store.AuditFilter{Action: "ui.csrf", Limit: 1})
				if len(ev) != 1 || ev[0].Outcome != store.OutcomeDenied || ev[0].Subject != "/ui/domains" {
					t.Fatalf("audit of the refusal: %+v", ev)
				}
			}
		})
	}
}

// TestDashboardEdits: edits go through the API's handlers, so a refusal
// is the API's, shown on the page with its rule, seen, wanted and fix.
func TestDashboardEdits(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser(t)
	csrf := b.login()
	tests := []struct {
		name   string
		path   string
		form   url.Values
		status int
		want   []string // in the page
		check  func(t *testing.T)
	}{
		{
			name: "a domain with a certificate that does not exist", path: "/ui/domains",
			form:   url.Values{"name": {"branch"}, "suffixes": {"branch.example.com"}, "cert_id": {"nope"}},
			status: http.StatusUnprocessableEntity, want: []string{`class="refusal"`, `<dd class="fix">`, `value="branch.example.com"`},
			check: func(t *testing.T) {
				if code := e.call("GET", "/api/v1/domains/branch", e.token, nil, nil); code != http.StatusNotFound {
					t.Fatalf("the refused domain was stored: %d", code)
				}
			},
		},
		{
			name: "a new domain", path: "/ui/domains",
			form:   url.Values{"name": {"branch"}, "suffixes": {"branch.example.com"}, "cert_id": {e.certID}},
			status: http.StatusSeeOther,
			check: func(t *testing.T) {
				var d rcs.Domain
				if code := e.call("GET", "/api/v1/domains/branch", e.token, nil, &d); code != http.StatusOK || d.CertID != e.certID || len(d.Suffixes) != 1 {
					t.Fatalf("the new domain: %d %+v", code, d)
				}
				ev, _ := e.st.AuditLog(store.AuditFilter{Action: "api.domain.put", Subject: "branch", Limit: 1})
				if len(ev) != 1 || !strings.HasPrefix(ev[0].Actor, "token:") {
					t.Fatalf("audit of the edit: %+v, want the session's actor", ev)
				}
			},
		},
		{
			name: "a profile that is not JSON", path: "/ui/profiles",
			form:   url.Values{"profile": {"{mode: acm"}},
			status: http.StatusBadRequest, want: []string{`<dd class="rule">request body</dd>`, "{mode: acm"},
		},
		{
			name: "a profile with an unknown mode", path: "/ui/profiles",
			form:   url.Values{"profile": {`{"name": "odd", "mode": "sideways", "admin_password": "random", "mebx_password": "random"}`}},
			status: http.StatusUnprocessableEntity, want: []string{`class="refusal"`, "sideways"},
		},
		{
			name: "a profile with a static password", path: "/ui/profiles",
			form: url.Values{"profile": {`{"name": "static", "mode": "ccm", "admin_password": "static", "mebx_password": "random", "user_consent": "all", "network": {"dhcp": true}}`},
				"admin_password_value": {"Str0ng!Passw0rd"}},
			status: http.StatusSeeOther,
			check: func(t *testing.T) {
				_, page := b.do("GET", "/ui/profiles?edit=static", nil, nil)
				if !strings.Contains(page, "&#34;admin_password&#34;: &#34;static&#34;") || strings.Contains(page, "Str0ng!Passw0rd") {
					t.Fatalf("the stored profile, as the edit page shows it:\n%s", page)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.form.Set("csrf", csrf)
			resp, page := b.do("POST", tt.path, tt.form, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tt.status, page)
			}
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("the page lacks %q:\n%s", w, page)
				}
			}
			if tt.check != nil {
				tt.check(t)
			}
		})
	}
}

// TestDashboardPages: every page answers for a session, and the root
// sends browsers to the dashboard while API clients keep the API's 404.
func TestDashboardPages(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser(t)
	b.login()
	pages := []struct {
		path   string
		status int
		want   string
	}{
		{"/ui/", http.StatusOK, "Search by name, UUID or FQDN"},
		{"/ui/certs", http.StatusOK, "rcs." + testSuffix},
		{"/ui/domains", http.StatusOK, testSuffix},
		{"/ui/domains?edit=corp", http.StatusOK, `name="original" value="corp"`},
		{"/ui/profiles", http.StatusOK, "<h1>Profiles"},
		{"/ui/jobs", http.StatusOK, "<h1>Jobs"},
		{"/ui/audit?action=ui.login", http.StatusOK, "ui.login"},
		{"/ui/audit?since=yesterday", http.StatusBadRequest, `<dd class="rule">since</dd>`},
		{"/ui/devices/no-such-pc", http.StatusNotFound, `class="refusal"`},
		{"/ui/ca.pem", http.StatusNotFound, `<dd class="rule">internal CA</dd>`},
		{"/ui/static/htmx.min.js", http.StatusOK, "htmx"},
	}
	for _, p := range pages {
		t.Run(p.path, func(t *testing.T) {
			resp, page := b.do("GET", p.path, nil, nil)
			if resp.StatusCode != p.status || !strings.Contains(page, p.want) {
				t.Fatalf("%d, want %d with %q:\n%s", resp.StatusCode, p.status, p.want, page)
			}
		})
	}
	resp, _ := b.do("GET", "/", nil, http.Header{"Accept": {"text/html,application/xhtml+xml"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET / from a browser: %d to %q, want 303 to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	var ae rcs.APIError
	if code := e.call("GET", "/", e.token, nil, &ae); code != http.StatusNotFound || ae.Rule != "endpoint" {
		t.Errorf("GET / from an API client: %d %+v, want the API's 404", code, ae)
	}
}
