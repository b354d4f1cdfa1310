package rcs

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The dashboard is server-rendered HTML (html/template) with htmx for the
// parts that update in place; its templates and static files are embedded,
// so the binary serves it with no build step. It reads through the same
// functions as the API, and every change it makes goes through the API's
// own handlers in-process (webUI.call), so a change from the page is
// validated, refused and audited exactly as the same change over REST.
// It must never put a token, password or key in a page, URL or log.

//go:embed web/templates/*.html web/static/*
var webFiles embed.FS

// webPath is where the dashboard lives on the API listener.
const webPath = "/ui/"

// webUI is the dashboard: its templates and its sessions.
type webUI struct {
	s        *Server
	pages    map[string]*template.Template
	sessions *webSessions
}

// webRoutes adds the dashboard to the API mux.
func (s *Server) webRoutes(m *http.ServeMux) {
	u := &webUI{s: s, pages: parseWebPages(), sessions: newWebSessions(s.now)}
	static, _ := fs.Sub(webFiles, "web/static")
	m.Handle("GET /ui/static/", u.headers(http.StripPrefix("/ui/static/", http.FileServerFS(static))))
	m.Handle("GET /ui", http.RedirectHandler(webPath, http.StatusSeeOther))
	m.Handle("GET /ui/login", u.headers(http.HandlerFunc(u.loginPage)))
	m.Handle("POST /ui/login", u.headers(http.HandlerFunc(u.login)))
	m.Handle("POST /ui/logout", u.session(u.logout))
	m.Handle("GET /ui/{$}", u.session(u.fleet))
	m.Handle("GET /ui/devices/{id}", u.session(u.devicePage))
	m.Handle("GET /ui/devices/{id}/progress", u.session(u.deviceProgress))
	m.Handle("POST /ui/devices/{id}/activate", u.session(u.deviceAction(JobActivate)))
	m.Handle("POST /ui/devices/{id}/deactivate", u.session(u.deviceAction(JobDeactivate)))
	m.Handle("POST /ui/devices/{id}/maintain", u.session(u.deviceAction("maintain")))
	m.Handle("GET /ui/certs", u.session(u.certsPage))
	m.Handle("GET /ui/ca.pem", u.session(u.caBundle))
	m.Handle("GET /ui/domains", u.session(u.domainsPage))
	m.Handle("POST /ui/domains", u.session(u.saveDomain))
	m.Handle("GET /ui/profiles", u.session(u.profilesPage))
	m.Handle("POST /ui/profiles", u.session(u.saveProfile))
	m.Handle("GET /ui/jobs", u.session(u.jobsPage))
	m.Handle("GET /ui/audit", u.session(u.auditPage))
}

// wantsDashboard says whether a request of "/" comes from a browser, which
// is sent to the dashboard; API clients keep the API's 404.
func wantsDashboard(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Path == "/" && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// headers sets what every dashboard answer carries: scripts and styles
// from this server only, no framing, no caching of pages that show the
// fleet.
func (u *webUI) headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/ui/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

// webPage is what every page template gets.
type webPage struct {
	Title   string
	Nav     string // the nav entry to mark
	CSRF    string
	Actor   string
	Refusal *APIError
	Notice  string
	Data    any
}

var webFuncs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"join": strings.Join,
	"deref": func(p *int) string {
		if p == nil {
			return "—"
		}
		return fmt.Sprint(*p)
	},
	"query": url.QueryEscape,
	"list":  func(s ...string) []string { return s },
}

// parseWebPages parses each page with the layout; fragments are the pages'
// own named templates. A template that does not parse is a bug caught by
// every test that starts a server.
func parseWebPages() map[string]*template.Template {
	base := template.Must(template.New("").Funcs(webFuncs).ParseFS(webFiles, "web/templates/layout.html", "web/templates/parts.html"))
	names, _ := fs.Glob(webFiles, "web/templates/*.html")
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "web/templates/"), ".html")
		if name == "layout" || name == "parts" {
			continue
		}
		pages[name] = template.Must(template.Must(base.Clone()).ParseFS(webFiles, n))
	}
	return pages
}

// render writes a whole page.
func (u *webUI) render(w http.ResponseWriter, status int, name string, p webPage) {
	u.write(w, status, name, "layout", p)
}

// renderPart writes one named template of a page, for htmx swaps.
func (u *webUI) renderPart(w http.ResponseWriter, status int, page, part string, p webPage) {
	u.write(w, status, page, part, p)
}

func (u *webUI) write(w http.ResponseWriter, status int, page, tmpl string, p webPage) {
	var b bytes.Buffer
	t, ok := u.pages[page]
	if !ok {
		u.s.log.Error("dashboard: no such page", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&b, tmpl, p); err != nil {
		u.s.log.Error("dashboard: render", "page", page, "err", err)
		http.Error(w, "internal error: see the server log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// apiHandler is the signature of the API's admin handlers.
type apiHandler func(http.ResponseWriter, *http.Request, *principal)

// call runs an API handler in-process as p: the dashboard changes nothing
// by a path of its own. path is the API path the handler would answer
// (path values are taken from vals), body is sent as the JSON body (raw
// bytes are sent as they are). A refusal comes back as *APIError; a
// success is decoded into out.
func (u *webUI) call(r *http.Request, p *principal, h apiHandler, method, path string, vals map[string]string, body, out any) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		raw, ok := body.([]byte)
		if !ok {
			var err error
			if raw, err = json.Marshal(body); err != nil {
				return err
			}
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(r.Context(), method, path, rd)
	if err != nil {
		return err
	}
	req.RemoteAddr, req.TLS = r.RemoteAddr, r.TLS
	req.Header.Set("Content-Type", "application/json")
	for k, v := range vals {
		req.SetPathValue(k, v)
	}
	rec := &capture{header: http.Header{}}
	h(rec, req, p)
	if rec.status >= 400 {
		ae := &APIError{}
		if err := json.Unmarshal(rec.body.Bytes(), ae); err != nil {
			return fmt.Errorf("%s %s: status %d", method, path, rec.status)
		}
		ae.Status = rec.status
		return ae
	}
	if out != nil && rec.body.Len() > 0 {
		return json.Unmarshal(rec.body.Bytes(), out)
	}
	return nil
}

// capture is the response of an in-process API call.
type capture struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *capture) Header() http.Header { return c.header }

func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.body.Write(b)
}

func (c *capture) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

// isHTMX says whether the request was made by htmx (it wants a fragment).
func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }
