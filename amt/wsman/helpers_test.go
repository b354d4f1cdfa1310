package wsman

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadFixture decodes the reference response name into v.
func loadFixture[T any](t testing.TB, name string) *T {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(responsesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	v := new(T)
	if _, err := DecodeEnvelope(bytes.NewReader(data), Limits{}, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// countingTransport counts HTTP round trips, so tests can see that the
// digest challenge is reused.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// fakeClock is a settable clock for nonce expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	testRealm    = "Digest:F3EB554784E729164447A89F60B641C5"
	testUser     = "admin"
	testPassword = "P@ssw0rd-not-in-errors"
)

type testServer struct {
	mux    *Mux
	auth   *DigestAuth
	clock  *fakeClock
	srv    *httptest.Server
	trips  *countingTransport
	client *Client
}

// newTestServer starts a Mux with digest auth on loopback and a client for
// it with the right password.
func newTestServer(t *testing.T) *testServer {
	t.Helper()
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	ha1 := HA1(testUser, testRealm, testPassword)
	auth := &DigestAuth{
		Realm: testRealm,
		Lookup: func(u string) (string, bool) {
			if u == testUser {
				return ha1, true
			}
			return "", false
		},
		Now: clock.Now,
	}
	mux := NewMux()
	mux.Auth = auth
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ts := &testServer{mux: mux, auth: auth, clock: clock, srv: srv}
	ts.client, ts.trips = ts.newClient(t, testPassword)
	return ts
}

func (ts *testServer) newClient(t *testing.T, password string, opts ...ClientOption) (*Client, *countingTransport) {
	t.Helper()
	trips := &countingTransport{base: ts.srv.Client().Transport}
	c, err := NewClient(ts.srv.URL+"/wsman", testUser, password, append([]ClientOption{WithTransport(trips)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c, trips
}

func static(v any) Handler {
	return func(context.Context, *Request) (any, error) { return v, nil }
}
