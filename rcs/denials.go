package rcs

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/store"
)

// Refusals are audited in aggregate: the first of a kind in a period at
// once, the rest as one record with their count when the period ends. A
// flood of bad credentials, of agents calling admin endpoints or of hellos
// from unknown devices then writes a bounded number of records instead of
// one per request.
const (
	// ActionRefused is the audit action of refused unauthenticated
	// requests (401s and enrollments).
	ActionRefused = "api.refused"
	// ActionDenied is the audit action of authenticated callers refused
	// an endpoint (403s).
	ActionDenied = "api.denied"
	// ActionHelloRefused is the audit action of hellos refused beyond the
	// limits of pending devices.
	ActionHelloRefused = "hello.refused"
	// denialPeriod is how often the counts are written.
	denialPeriod = 10 * time.Minute
	// maxDenialKeys bounds the kinds counted at once; beyond it, refusals
	// are counted under source and actor "*".
	maxDenialKeys = 64
)

type denialKey struct {
	action, actor, route, rule, source string
	status                             int
}

type denialCount struct {
	n           int // not yet written
	first, last time.Time
	why         *APIError // the last refusal's reason, when it is safe to record
}

type denials struct {
	s      *Server
	mu     sync.Mutex
	counts map[denialKey]*denialCount
}

func newDenials(s *Server) *denials { return &denials{s: s, counts: map[denialKey]*denialCount{}} }

// note counts one refusal; the first of its kind in the period is written
// at once. why, when not nil, gives the seen, wanted and fix of the
// record: it must hold nothing the caller sent that could be a secret.
func (d *denials) note(k denialKey, why *APIError) {
	now := d.s.now()
	d.mu.Lock()
	c, ok := d.counts[k]
	if !ok && len(d.counts) >= maxDenialKeys {
		k.source, k.actor = "*", "*"
		c, ok = d.counts[k]
	}
	if ok {
		c.n++
		c.last, c.why = now, why
		d.mu.Unlock()
		return
	}
	d.counts[k] = &denialCount{first: now, last: now}
	d.mu.Unlock()
	d.write(k, 1, now, now, why)
}

// flush writes the counts of the period and starts a new one.
func (d *denials) flush() {
	d.mu.Lock()
	counts := d.counts
	d.counts = map[denialKey]*denialCount{}
	d.mu.Unlock()
	for k, c := range counts {
		if c.n > 0 {
			d.write(k, c.n, c.first, c.last, c.why)
		}
	}
}

func (d *denials) write(k denialKey, n int, first, last time.Time, why *APIError) {
	detail := map[string]string{"rule": k.rule, "source": k.source, "count": strconv.Itoa(n),
		"first": first.UTC().Format(time.RFC3339), "last": last.UTC().Format(time.RFC3339)}
	if k.status != 0 {
		detail["status"] = strconv.Itoa(k.status)
	}
	if why != nil {
		detail["seen"], detail["want"], detail["fix"] = why.Seen, why.Want, why.Fix
	}
	actor := k.actor
	if actor == "" {
		actor = "anonymous"
	}
	err := d.s.st.Batch(func(tx *store.Tx) error {
		return tx.Audit(store.Event{Actor: actor, Action: k.action, Subject: k.route, Outcome: store.OutcomeDenied, Detail: detail})
	})
	if err != nil {
		d.s.log.Warn("audit refused requests", "action", k.action, "route", k.route, "count", n, "err", err)
	}
}

func (d *denials) run(stop <-chan struct{}) {
	t := time.NewTicker(denialPeriod)
	defer t.Stop()
	for {
		select {
		case <-stop:
			d.flush()
			return
		case <-t.C:
			d.flush()
		}
	}
}

// sourceOf is the address of a request's client, "" when unknown.
func sourceOf(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return ""
}

// routeOf is the route a request matched, not its path: a bounded set.
func routeOf(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.Method
}

// auditDenied counts an authenticated caller refused an endpoint (403).
func (s *Server) auditDenied(p *principal, r *http.Request, why *APIError) {
	s.denials.note(denialKey{action: ActionDenied, actor: p.Actor, route: routeOf(r), rule: why.Rule, source: sourceOf(r), status: why.Status}, why)
}

// auditRefusals wraps the API so that every 401 it answers is counted.
func (s *Server) auditRefusals(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &refusalRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status != http.StatusUnauthorized {
			return
		}
		// No reason is recorded: a 401's "seen" may echo what the
		// client sent as its credential.
		s.denials.note(denialKey{action: ActionRefused, route: routeOf(r), rule: rec.rule, source: sourceOf(r), status: rec.status}, nil)
	})
}

// refusalRecorder notes the status and the rule of an answer.
type refusalRecorder struct {
	http.ResponseWriter
	status int
	rule   string
}

func (r *refusalRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *refusalRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack lets the agents' websocket upgrade through.
func (r *refusalRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if hj, ok := r.ResponseWriter.(http.Hijacker); ok {
		return hj.Hijack()
	}
	return nil, nil, errors.New("hijack not supported")
}

// enrollWrongKind refuses an enrollment with a credential of another kind
// (kind is "" for a string that is no token of ours), naming that kind.
func enrollWrongKind(kind string) *APIError {
	seen := "a string that is no amtrcs token"
	if kind != "" {
		seen = "an " + kind + " credential"
		if kind == kindAdmin {
			seen = "an admin token"
		}
	}
	return apiErr(http.StatusUnauthorized, "enrollment credential", seen, "a one-time enrollment token (amtrcs-enroll-...)", "make one with POST /api/v1/agents/tokens and give it to amtrcs agent --token")
}
