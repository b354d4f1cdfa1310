package wsman

import (
	"crypto/md5" //nolint:gosec // HTTP digest as AMT speaks it is MD5 by definition
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HA1 is the digest secret hex(MD5(username:realm:password)). A server may
// store it instead of the password; AMT's SetAdminAclEntryEx carries the
// same value as raw bytes.
func HA1(username, realm, password string) string {
	sum := md5.Sum([]byte(username + ":" + realm + ":" + password)) //nolint:gosec // see import
	return hex.EncodeToString(sum[:])
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s)) //nolint:gosec // see import
	return hex.EncodeToString(sum[:])
}

// DigestAuth is the server side of HTTP digest authentication as AMT
// firmware does it: MD5, qop=auth, a realm of its own, nonces that expire
// and nonce counts that may not repeat.
type DigestAuth struct {
	// Realm is sent in every challenge and must come back unchanged.
	Realm string
	// Lookup returns HA1 (see HA1) for username, or ok false for an unknown
	// user. It is called on every request, so the simulator can change
	// credentials at any time.
	Lookup func(username string) (ha1 string, ok bool)
	// NonceTTL is how long a nonce is accepted (default 5 minutes); after
	// that the client is told its nonce is stale and re-authenticates.
	NonceTTL time.Duration
	// MaxNonces bounds the nonces remembered (default 4096), so a flood of
	// unauthenticated requests cannot grow memory without limit.
	MaxNonces int
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu     sync.Mutex
	nonces map[string]*nonceState
}

// nonceState tracks the counts seen for a nonce in a 64-wide window, so that
// concurrent requests arriving out of order are accepted and replays are not.
type nonceState struct {
	expires time.Time
	max     uint64 // highest nc seen
	seen    uint64 // bit i set: nc max-i seen
}

func (a *DigestAuth) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *DigestAuth) ttl() time.Duration {
	if a.NonceTTL > 0 {
		return a.NonceTTL
	}
	return 5 * time.Minute
}

func (a *DigestAuth) newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	nonce := hex.EncodeToString(b[:])
	limit := a.MaxNonces
	if limit <= 0 {
		limit = 4096
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.nonces == nil {
		a.nonces = make(map[string]*nonceState)
	}
	if len(a.nonces) >= limit {
		var oldest string
		var oldestExp time.Time
		for n, s := range a.nonces {
			if now.After(s.expires) {
				delete(a.nonces, n)
				continue
			}
			if oldest == "" || s.expires.Before(oldestExp) {
				oldest, oldestExp = n, s.expires
			}
		}
		if len(a.nonces) >= limit {
			delete(a.nonces, oldest)
		}
	}
	a.nonces[nonce] = &nonceState{expires: now.Add(a.ttl())}
	return nonce
}

// Challenge writes a 401 with a fresh challenge, as AMT does.
func (a *DigestAuth) Challenge(w http.ResponseWriter, stale bool) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Digest realm=%q, nonce=%q, stale="%t", qop="auth"`, a.Realm, a.newNonce(), stale))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte("401 Unauthorized: digest authentication required\n"))
}

// Authenticate checks r's digest credentials. On success it returns the user
// name; otherwise it has written the 401 challenge and returns ok false.
func (a *DigestAuth) Authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	user, stale, ok := a.verify(r)
	if !ok {
		a.Challenge(w, stale)
		return "", false
	}
	return user, true
}

// verify reports the user on success, and whether a failure is only a stale
// nonce (the credentials were right).
func (a *DigestAuth) verify(r *http.Request) (user string, stale, ok bool) {
	auth := r.Header.Get("Authorization")
	scheme, rest, found := strings.Cut(auth, " ")
	if !found || !strings.EqualFold(scheme, "Digest") {
		return "", false, false
	}
	p := parseDigestParams(rest)
	user = p["username"]
	if user == "" || p["realm"] != a.Realm || p["nonce"] == "" || p["response"] == "" || p["cnonce"] == "" {
		return "", false, false
	}
	if alg := p["algorithm"]; alg != "" && !strings.EqualFold(alg, "MD5") {
		return "", false, false
	}
	if p["qop"] != "auth" || p["uri"] != r.URL.RequestURI() {
		return "", false, false
	}
	nc, err := strconv.ParseUint(p["nc"], 16, 64)
	if err != nil || len(p["nc"]) != 8 || nc == 0 {
		return "", false, false
	}
	if a.Lookup == nil {
		return "", false, false
	}
	ha1, known := a.Lookup(user)
	if !known {
		return "", false, false
	}
	ha2 := md5hex(r.Method + ":" + p["uri"])
	want := md5hex(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(p["response"]))) != 1 {
		return "", false, false
	}
	// The credentials are right; now the nonce must be ours, fresh, and this
	// count unused.
	a.mu.Lock()
	defer a.mu.Unlock()
	s, mine := a.nonces[p["nonce"]]
	if !mine || a.now().After(s.expires) {
		delete(a.nonces, p["nonce"])
		return "", true, false
	}
	if !s.accept(nc) {
		return "", false, false
	}
	return user, false, true
}

func (s *nonceState) accept(nc uint64) bool {
	switch {
	case nc > s.max:
		shift := nc - s.max
		if shift >= 64 {
			s.seen = 0
		} else {
			s.seen <<= shift
		}
		s.seen |= 1
		s.max = nc
		return true
	case s.max-nc >= 64:
		return false
	default:
		bit := uint64(1) << (s.max - nc)
		if s.seen&bit != 0 {
			return false
		}
		s.seen |= bit
		return true
	}
}

// unquote reads the quoted string at the start of s, with backslash
// escapes, and returns it and what follows the closing quote.
func unquote(s string) (string, string) {
	var b strings.Builder
	i := 1
	for ; i < len(s) && s[i] != '"'; i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	if i < len(s) {
		i++
	}
	return b.String(), s[i:]
}

// parseDigestParams reads the comma-separated name=value pairs of a digest
// header, values quoted or not.
func parseDigestParams(s string) map[string]string {
	out := make(map[string]string)
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \t,")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if rest, quoted := strings.CutPrefix(s, `"`); quoted {
			if end := strings.IndexByte(rest, '"'); end >= 0 && strings.IndexByte(rest[:end], '\\') < 0 {
				// A quoted value without escapes, the usual case, is a
				// slice of the header.
				val, s = rest[:end], rest[end+1:]
			} else {
				val, s = unquote(s)
			}
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val = strings.TrimSpace(s[:end])
			s = s[end:]
		}
		if _, dup := out[name]; !dup {
			out[name] = val
		}
	}
	return out
}
