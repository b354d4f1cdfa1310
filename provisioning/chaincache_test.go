package provisioning

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

// TestVerifiedChains: a chain that verified is not verified again while
// every certificate of it is valid; a failure is never kept; another
// chain, or the same one outside its validity, is verified afresh.
func TestVerifiedChains(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cert := func(raw string, from, to time.Time) *x509.Certificate {
		return &x509.Certificate{Raw: []byte(raw), NotBefore: from, NotAfter: to}
	}
	leaf := cert("leaf", t0, t0.Add(48*time.Hour))
	root := cert("root", t0.Add(-time.Hour), t0.Add(24*time.Hour)) // expires first
	other := cert("other leaf", t0, t0.Add(48*time.Hour))
	refused := errors.New("does not verify")

	var v verifiedChains
	calls := 0
	ok := func(chain ...*x509.Certificate) func() ([][]*x509.Certificate, error) {
		return func() ([][]*x509.Certificate, error) { calls++; return [][]*x509.Certificate{chain}, nil }
	}
	fail := func() ([][]*x509.Certificate, error) { calls++; return nil, refused }
	for _, st := range []struct {
		name      string
		presented []*x509.Certificate
		at        time.Time
		verify    func() ([][]*x509.Certificate, error)
		calls     int
		err       error
	}{
		{"first time verifies", []*x509.Certificate{leaf}, t0, ok(leaf, root), 1, nil},
		{"again within validity", []*x509.Certificate{leaf}, t0.Add(time.Hour), fail, 1, nil},
		{"another chain verifies", []*x509.Certificate{other}, t0, fail, 2, refused},
		{"a failure is not kept", []*x509.Certificate{other}, t0, fail, 3, refused},
		{"past the root's end", []*x509.Certificate{leaf}, t0.Add(25 * time.Hour), fail, 4, refused},
		{"before the root's start", []*x509.Certificate{leaf}, t0.Add(-2 * time.Hour), fail, 5, refused},
	} {
		err := v.verify(st.presented, st.at, st.verify)
		if !errors.Is(err, st.err) || calls != st.calls {
			t.Errorf("%s: %v after %d verifications; want %v after %d", st.name, err, calls, st.err, st.calls)
		}
	}
}
