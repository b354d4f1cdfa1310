package rcs

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/store"
)

// Token kinds. A token is "<prefix><id>.<secret>": the id finds the record,
// the SHA-256 of the whole token is what the store keeps.
const (
	kindAdmin  = "admin"  // API clients with every right
	kindEnroll = "enroll" // one-time: buys an agent credential
	kindAgent  = "agent"  // an enrolled agent's own credential
)

var tokenPrefix = map[string]string{
	kindAdmin:  "amtrcs-admin-",
	kindEnroll: "amtrcs-enroll-",
	kindAgent:  "amtrcs-agent-",
}

// tokenRecord is a stored admin or enrollment token: never the token, only
// its hash.
type tokenRecord struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name,omitempty"`
	SHA256    string    `json:"sha256"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
	Used      time.Time `json:"used,omitzero"`     // enrollment tokens: when spent
	UsedBy    string    `json:"used_by,omitempty"` // the agent it made
	Revoked   time.Time `json:"revoked,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

// agentRecord is an enrolled agent: its credential's hash, the device it
// speaks for, and what it last said.
type agentRecord struct {
	ID       string    `json:"id"`
	Hostname string    `json:"hostname,omitempty"`
	SHA256   string    `json:"sha256"`
	Created  time.Time `json:"created"`
	Enrolled string    `json:"enrolled_with"` // enrollment token id
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Device is the device the credential speaks for: bound at its first
	// report, moved only by an admin (rebind).
	Device        string    `json:"device,omitempty"`
	Bound         time.Time `json:"bound,omitzero"`
	BoundHostname string    `json:"bound_hostname,omitempty"` // the host name of the binding report
	Revoked       bool      `json:"revoked,omitempty"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	RevokedBy     string    `json:"revoked_by,omitempty"`
	// Refused is the agent's last refused report (what it claimed), for
	// the admin's list.
	Refused   string    `json:"refused,omitempty"`
	RefusedAt time.Time `json:"refused_at,omitzero"`
}

// newToken makes a token of kind and returns it with its id and hash.
func newToken(kind string) (token, id, sum string, err error) {
	var idb [8]byte
	var sec [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", "", "", err
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return "", "", "", err
	}
	id = hex.EncodeToString(idb[:])
	token = tokenPrefix[kind] + id + "." + base64.RawURLEncoding.EncodeToString(sec[:])
	return token, id, hashToken(token), nil
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// parseToken splits a presented token into kind and id; ok is false for
// anything that is not one of ours.
func parseToken(t string) (kind, id string, ok bool) {
	for k, p := range tokenPrefix {
		if rest, found := strings.CutPrefix(t, p); found {
			id, _, ok := strings.Cut(rest, ".")
			if !ok || len(id) != 16 {
				return "", "", false
			}
			return k, id, true
		}
	}
	return "", "", false
}

func hashEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// principal is who made a request.
type principal struct {
	Kind    string // kindAdmin or kindAgent
	Actor   string // for the audit log: "token:<id>", "cert:<CN>", "agent:<id>"
	ByToken bool   // authenticated by a bearer token (not a client certificate)
	AgentID string
}

var (
	errNoCredentials = apiErr(http.StatusUnauthorized, "authentication required", "no bearer token and no client certificate", "Authorization: Bearer <token>, or a client certificate from a trusted CA", "pass --token or the token file written at first start (<data-dir>/admin-token)")
	errBadToken      = apiErr(http.StatusUnauthorized, "authentication failed", "the bearer token is unknown, revoked or expired", "a token this server issued", "use the token in <data-dir>/admin-token, or ask an admin for a new one")
)

// authenticate finds who made r, or returns a 401 APIError.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && s.clientCAs != nil {
			leaf := r.TLS.VerifiedChains[0][0]
			return &principal{Kind: kindAdmin, Actor: "cert:" + leaf.Subject.CommonName}, nil
		}
		return nil, errNoCredentials
	}
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return nil, apiErr(http.StatusUnauthorized, "authentication scheme", schemeSeen(h), "Bearer", "send Authorization: Bearer <token>")
	}
	tok = strings.TrimSpace(tok)
	if s.cfg.API.TokenMatches(tok) {
		return &principal{Kind: kindAdmin, Actor: "config-token", ByToken: true}, nil
	}
	if env := s.cfg.API.TokenEnv; env != "" {
		if v, ok := s.lookupEnv(env); ok && v != "" && hashEqual(hashToken(v), hashToken(tok)) {
			return &principal{Kind: kindAdmin, Actor: "env-token", ByToken: true}, nil
		}
	}
	kind, id, ok := parseToken(tok)
	if !ok {
		return nil, errBadToken
	}
	sum := hashToken(tok)
	switch kind {
	case kindAdmin:
		var rec tokenRecord
		if err := s.st.Get(store.Tokens, id, &rec); err != nil || rec.Kind != kindAdmin || !hashEqual(rec.SHA256, sum) {
			return nil, errBadToken
		}
		if !rec.Expires.IsZero() && s.now().After(rec.Expires) {
			return nil, errBadToken
		}
		return &principal{Kind: kindAdmin, Actor: "token:" + id, ByToken: true}, nil
	case kindAgent:
		var rec agentRecord
		if err := s.st.Get(store.Agents, id, &rec); err != nil || rec.Revoked || !hashEqual(rec.SHA256, sum) {
			return nil, errBadToken
		}
		return &principal{Kind: kindAgent, Actor: "agent:" + id, ByToken: true, AgentID: id}, nil
	}
	// Enrollment tokens authenticate nothing but their own exchange.
	return nil, apiErr(http.StatusUnauthorized, "authentication failed", "an enrollment token used as a bearer token", "an admin token or an agent credential", "enrollment tokens go in the body of POST /api/v1/agents/enroll (amtrcs agent --token does that)")
}

// requireAdmin wraps h for admin-only endpoints: 401 without valid
// credentials, 403 for an agent.
func (s *Server) requireAdmin(h func(w http.ResponseWriter, r *http.Request, p *principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			writeError(w, err)
			return
		}
		if p.Kind != kindAdmin {
			why := apiErr(http.StatusForbidden, "admin endpoint", "an agent credential", "an admin token or client certificate", "agents may only enroll and connect; call this endpoint with an admin token")
			s.auditDenied(p, r, why)
			writeError(w, why)
			return
		}
		h(w, r, p)
	}
}

// ensureAdminToken makes the first admin token when the store has none and
// writes it to path with mode 0600. The log names the file, never the token.
func (s *Server) ensureAdminToken(path string) error {
	has := false
	err := s.st.View(func(tx *store.Tx) error {
		return tx.ForEach(store.Tokens, func(_ string, raw []byte) error {
			if strings.Contains(string(raw), `"kind":"admin"`) {
				has = true
			}
			return nil
		})
	})
	if err != nil || has {
		return err
	}
	tok, id, sum, err := newToken(kindAdmin)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("admin token file: %w", err)
	}
	// The file first: a token in the store that nobody holds would lock the
	// admin out.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("admin token file: %w", err)
	}
	err = s.st.Update(func(tx *store.Tx) error {
		if err := tx.Create(store.Tokens, id, tokenRecord{ID: id, Kind: kindAdmin, Name: "first admin token", SHA256: sum, Created: s.now(), CreatedBy: "rcs"}); err != nil {
			return err
		}
		return tx.Audit(store.Event{Actor: "rcs", Action: "token.create", Subject: id, Outcome: store.OutcomeSuccess, Detail: map[string]string{"kind": kindAdmin, "file": path}})
	})
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("admin token file: %w", err)
	}
	s.log.Info("created the first admin token; keep the file safe, it grants every right", "file", path, "token_id", id)
	return nil
}

// NewEnrollToken makes a one-time agent enrollment token valid for ttl.
func (s *Server) NewEnrollToken(actor string, ttl time.Duration) (token, id string, expires time.Time, err error) {
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	token, id, sum, err := newToken(kindEnroll)
	if err != nil {
		return "", "", time.Time{}, err
	}
	now := s.now()
	expires = now.Add(ttl)
	err = s.st.Batch(func(tx *store.Tx) error {
		if err := tx.Create(store.Tokens, id, tokenRecord{ID: id, Kind: kindEnroll, SHA256: sum, Created: now, CreatedBy: actor, Expires: expires}); err != nil {
			return err
		}
		return tx.Audit(store.Event{Actor: actor, Action: "token.create", Subject: id, Outcome: store.OutcomeSuccess, Detail: map[string]string{"kind": kindEnroll, "expires": expires.UTC().Format(time.RFC3339)}})
	})
	return token, id, expires, err
}

var errEnroll = apiErr(http.StatusUnauthorized, "agent enrollment", "the enrollment token is unknown, spent, revoked or expired", "a fresh one-time token", "make a new one with POST /api/v1/agents/tokens and give it to amtrcs agent --token")

// enroll spends an enrollment token and makes an agent with its own
// credential, in one transaction so a token buys exactly one agent.
func (s *Server) enroll(token, hostname string) (id, credential string, err error) {
	kind, tid, ok := parseToken(token)
	if !ok || kind != kindEnroll {
		return "", "", enrollWrongKind(kind)
	}
	sum := hashToken(token)
	cred, aid, csum, err := newToken(kindAgent)
	if err != nil {
		return "", "", err
	}
	now := s.now()
	// Batch may run this more than once; it reads the token afresh each time.
	err = s.st.Batch(func(tx *store.Tx) error {
		var rec tokenRecord
		if err := tx.Get(store.Tokens, tid, &rec); err != nil || rec.Kind != kindEnroll || !hashEqual(rec.SHA256, sum) {
			return errEnroll
		}
		if !rec.Used.IsZero() || !rec.Revoked.IsZero() || now.After(rec.Expires) {
			return errEnroll
		}
		rec.Used, rec.UsedBy = now, aid
		if err := tx.Put(store.Tokens, tid, rec); err != nil {
			return err
		}
		if err := tx.Create(store.Agents, aid, agentRecord{ID: aid, Hostname: hostname, SHA256: csum, Created: now, Enrolled: tid}); err != nil {
			return err
		}
		return tx.Audit(store.Event{Actor: "agent:" + aid, Action: "agent.enroll", Subject: aid, Outcome: store.OutcomeSuccess, Detail: map[string]string{"token_id": tid, "hostname": hostname}})
	})
	if err != nil {
		// A refusal is audited, in aggregate, by auditRefusals.
		return "", "", err
	}
	return aid, cred, nil
}

// schemeSeen names the scheme of an Authorization header that is not
// Bearer, for a refusal: a known scheme by name, anything else by its
// length only, since a token sent without "Bearer " must never come back
// in a response or a log.
func schemeSeen(h string) string {
	first, _, _ := strings.Cut(h, " ")
	switch strings.ToLower(first) {
	case "basic", "digest", "negotiate", "ntlm", "bearer":
		return "scheme " + first
	}
	return fmt.Sprintf("a value of %d characters without the Bearer scheme", len(h))
}
