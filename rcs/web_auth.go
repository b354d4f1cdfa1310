package rcs

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/store"
)

// Dashboard sessions: a random id in a cookie that scripts cannot read
// (HttpOnly), sent over TLS only (Secure) and never on a request another
// site starts (SameSite=Strict); the server keeps the session in memory
// under the id's hash, so a restart logs everyone out. Every POST carries
// the session's CSRF token as well, in a form field or a header.
const (
	sessionCookie = "amtrcs_session"
	// loginCookie holds the CSRF token of the login form, before there is
	// a session (double submit: the cookie and the field must agree).
	loginCookie = "amtrcs_login"
	csrfField   = "csrf"
	csrfHeader  = "X-CSRF-Token"
	// sessionIdle ends a session nobody used for this long; sessionMax
	// ends any session.
	sessionIdle = 2 * time.Hour
	sessionMax  = 12 * time.Hour
	// maxWebForm bounds a dashboard form: the largest is a profile.
	maxWebForm = 64 << 10
)

// webSession is one logged-in browser.
type webSession struct {
	actor   string // as the audit log names the principal
	byToken bool
	csrf    string
	created time.Time
	seen    time.Time
}

// principal is who the session acts as, for the API handlers.
func (ws *webSession) principal() *principal {
	return &principal{Kind: kindAdmin, Actor: ws.actor, ByToken: ws.byToken}
}

type webSessions struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*webSession // by the SHA-256 of the cookie's id
}

func newWebSessions(now func() time.Time) *webSessions {
	return &webSessions{now: now, m: map[string]*webSession{}}
}

// randomToken is 32 random bytes, base64url.
func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// create starts a session and returns the cookie's id.
func (ss *webSessions) create(actor string, byToken bool) (string, *webSession, error) {
	id, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	now := ss.now()
	ws := &webSession{actor: actor, byToken: byToken, csrf: csrf, created: now, seen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, v := range ss.m {
		if ss.expired(v, now) {
			delete(ss.m, k)
		}
	}
	ss.m[hashToken(id)] = ws
	return id, ws, nil
}

func (ss *webSessions) expired(ws *webSession, now time.Time) bool {
	return now.Sub(ws.seen) > sessionIdle || now.Sub(ws.created) > sessionMax
}

// get finds the live session of id and marks it used.
func (ss *webSessions) get(id string) *webSession {
	if id == "" {
		return nil
	}
	key := hashToken(id)
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ws, ok := ss.m[key]
	if !ok {
		return nil
	}
	if ss.expired(ws, now) {
		delete(ss.m, key)
		return nil
	}
	ws.seen = now
	return ws
}

func (ss *webSessions) end(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, hashToken(id))
}

// webCookie is a cookie of the dashboard with the flags the issue asks
// for; maxAge < 0 deletes it.
func webCookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/ui", MaxAge: maxAge, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode}
}

func cookieValue(r *http.Request, name string) string {
	if c, err := r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}

// Refusals of the dashboard's own rules.
var (
	errCSRF = func(seen string) *APIError {
		return apiErr(http.StatusForbidden, "CSRF token", seen, "the token of this session's pages, in the csrf form field or the "+csrfHeader+" header", "reload the page and submit the form again")
	}
	errNoSession = apiErr(http.StatusUnauthorized, "dashboard session", "no session, or one that ended", "a session from the login page", "log in at "+webPath+"login")
)

// csrfSeen says what a request carried in place of the token, or "" when
// it carried want. It never echoes what it got.
func csrfSeen(r *http.Request, want string) string {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	switch {
	case got == "":
		return "no " + csrfHeader + " header and no csrf form field"
	case want == "" || !hashEqual(hashToken(got), hashToken(want)):
		return "a token that is not this session's"
	}
	return ""
}

// session wraps the dashboard's pages: no session sends the browser to the
// login page; a POST without the session's CSRF token is refused (403) and
// audited.
func (u *webUI) session(h func(http.ResponseWriter, *http.Request, *webSession)) http.Handler {
	return u.headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws := u.sessions.get(cookieValue(r, sessionCookie))
		if ws == nil {
			if r.Method == http.MethodGet && !isHTMX(r) {
				http.Redirect(w, r, webPath+"login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			w.Header().Set("HX-Redirect", webPath+"login")
			u.render(w, errNoSession.Status, "login", webPage{Title: "Log in", Refusal: errNoSession})
			return
		}
		if r.Method != http.MethodGet {
			r.Body = http.MaxBytesReader(w, r.Body, maxWebForm)
			if seen := csrfSeen(r, ws.csrf); seen != "" {
				why := errCSRF(seen)
				_ = u.s.st.Audit(store.Event{Actor: ws.actor, Action: "ui.csrf", Subject: r.URL.Path, Outcome: store.OutcomeDenied, Detail: map[string]string{"rule": why.Rule, "seen": seen}})
				u.render(w, why.Status, "error", webPage{Title: "Refused", CSRF: ws.csrf, Actor: ws.actor, Refusal: why})
				return
			}
		}
		h(w, r, ws)
	}))
}

// safeNext keeps a post-login target on the dashboard.
func safeNext(next string) string {
	if !strings.HasPrefix(next, webPath) || strings.ContainsAny(next, "\\\r\n") {
		return webPath
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return webPath
	}
	return next
}

// loginView is the login page's data.
type loginView struct {
	Next string
	Cert string // the client certificate's CN, when one was presented and verified
}

func (u *webUI) loginView(r *http.Request) loginView {
	v := loginView{Next: safeNext(r.FormValue("next"))}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && u.s.clientCAs != nil {
		v.Cert = r.TLS.VerifiedChains[0][0].Subject.CommonName
	}
	return v
}

func (u *webUI) loginPage(w http.ResponseWriter, r *http.Request) {
	if u.sessions.get(cookieValue(r, sessionCookie)) != nil {
		http.Redirect(w, r, webPath, http.StatusSeeOther)
		return
	}
	u.renderLogin(w, r, http.StatusOK, nil)
}

// renderLogin shows the login form with a fresh login CSRF token.
func (u *webUI) renderLogin(w http.ResponseWriter, r *http.Request, status int, why *APIError) {
	tok, err := randomToken()
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, webCookie(loginCookie, tok, 600))
	u.render(w, status, "login", webPage{Title: "Log in", CSRF: tok, Refusal: why, Data: u.loginView(r)})
}

// login takes the admin token (checked by authenticate, as the API checks
// a bearer token) or the client certificate the TLS handshake verified.
func (u *webUI) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxWebForm)
	if seen := csrfSeen(r, cookieValue(r, loginCookie)); seen != "" {
		why := errCSRF(seen)
		_ = u.s.st.Audit(store.Event{Actor: "ui", Action: "ui.login", Outcome: store.OutcomeDenied, Detail: map[string]string{"rule": why.Rule, "seen": seen}})
		u.renderLogin(w, r, why.Status, why)
		return
	}
	method := "certificate"
	probe := r.Clone(r.Context())
	probe.Header = http.Header{}
	if tok := strings.TrimSpace(r.PostFormValue("token")); tok != "" {
		method = "token"
		probe.Header.Set("Authorization", "Bearer "+tok)
	}
	p, err := u.s.authenticate(probe)
	if err == nil && p.Kind != kindAdmin {
		err = apiErr(http.StatusForbidden, "dashboard login", "an agent credential", "an admin token or client certificate", "log in with the admin token (<data-dir>/admin-token)")
	}
	if err != nil {
		why := toAPIError(err)
		_ = u.s.st.Audit(store.Event{Actor: "ui", Action: "ui.login", Outcome: store.OutcomeDenied, Detail: map[string]string{"method": method, "rule": why.Rule}})
		u.renderLogin(w, r, why.Status, why)
		return
	}
	id, _, err := u.sessions.create(p.Actor, p.ByToken)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := u.s.st.Audit(store.Event{Actor: p.Actor, Action: "ui.login", Outcome: store.OutcomeSuccess, Detail: map[string]string{"method": method}}); err != nil {
		// No audit record, no session.
		u.sessions.end(id)
		u.renderLogin(w, r, http.StatusInternalServerError, toAPIError(err))
		return
	}
	http.SetCookie(w, webCookie(loginCookie, "", -1))
	http.SetCookie(w, webCookie(sessionCookie, id, int(sessionMax/time.Second)))
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (u *webUI) logout(w http.ResponseWriter, r *http.Request, ws *webSession) {
	u.sessions.end(cookieValue(r, sessionCookie))
	_ = u.s.st.Audit(store.Event{Actor: ws.actor, Action: "ui.logout", Outcome: store.OutcomeSuccess})
	http.SetCookie(w, webCookie(sessionCookie, "", -1))
	http.Redirect(w, r, webPath+"login", http.StatusSeeOther)
}

// page is the start of every page's data for the session.
func (ws *webSession) page(title, nav string) webPage {
	return webPage{Title: title, Nav: nav, CSRF: ws.csrf, Actor: ws.actor}
}
