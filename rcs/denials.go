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

// Refusals of unauthenticated callers are audited in aggregate: the first
// of a kind in a period at once, the rest as one record with their count
// when the period ends. A flood of bad credentials then writes a bounded
// number of records instead of one per request.
const (
	// ActionRefused is the audit action of refused requests.
	ActionRefused = "api.refused"
	// denialPeriod is how often the counts are written.
	denialPeriod = 10 * time.Minute
	// maxDenialKeys bounds the kinds counted at once; beyond it, refusals
	// are counted under source "*".
	maxDenialKeys = 64
)

type denialKey struct {
	route, rule, source string
	status              int
}

type denialCount struct {
	n           int // not yet written
	first, last time.Time
}

type denials struct {
	s      *Server
	mu     sync.Mutex
	counts map[denialKey]*denialCount
}

func newDenials(s *Server) *denials { return &denials{s: s, counts: map[denialKey]*denialCount{}} }

// note counts one refusal; the first of its kind in the period is written
// at once.
func (d *denials) note(k denialKey) {
	now := d.s.now()
	d.mu.Lock()
	c, ok := d.counts[k]
	if !ok && len(d.counts) >= maxDenialKeys {
		k.source = "*"
		c, ok = d.counts[k]
	}
	if ok {
		c.n++
		c.last = now
		d.mu.Unlock()
		return
	}
	d.counts[k] = &denialCount{first: now, last: now}
	d.mu.Unlock()
	d.write(k, 1, now, now)
}

// flush writes the counts of the period and starts a new one.
func (d *denials) flush() {
	d.mu.Lock()
	counts := d.counts
	d.counts = map[denialKey]*denialCount{}
	d.mu.Unlock()
	for k, c := range counts {
		if c.n > 0 {
			d.write(k, c.n, c.first, c.last)
		}
	}
}

func (d *denials) write(k denialKey, n int, first, last time.Time) {
	err := d.s.st.Batch(func(tx *store.Tx) error {
		return tx.Audit(store.Event{Actor: "anonymous", Action: ActionRefused, Subject: k.route, Outcome: store.OutcomeDenied,
			Detail: map[string]string{"status": strconv.Itoa(k.status), "rule": k.rule, "source": k.source, "count": strconv.Itoa(n),
				"first": first.UTC().Format(time.RFC3339), "last": last.UTC().Format(time.RFC3339)}})
	})
	if err != nil {
		d.s.log.Warn("audit refused requests", "route", k.route, "count", n, "err", err)
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

// auditRefusals wraps the API so that every 401 it answers is counted.
func (s *Server) auditRefusals(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &refusalRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status != http.StatusUnauthorized {
			return
		}
		route := r.Pattern // the route, not the path: a bounded set
		if route == "" {
			route = r.Method
		}
		src := ""
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			src = ap.Addr().Unmap().String()
		}
		s.denials.note(denialKey{route: route, rule: rec.rule, source: src, status: rec.status})
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
