package wsman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
)

func TestClientDigestReusesChallenge(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	gs := loadFixture[GeneralSettings](t, "amt/general/get.xml")
	ts.mux.Handle(ResourceGeneralSettings, ActionGet, static(gs))
	ctx := context.Background()

	want := []int64{2, 3, 4, 5} // 401 + retry, then one trip per call
	for i, w := range want {
		got, err := ts.client.GetGeneralSettings(ctx)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got.DigestRealm != gs.DigestRealm || got.HostName != "Test Host Name" {
			t.Errorf("call %d: got %+v", i, got)
		}
		if n := ts.trips.n.Load(); n != w {
			t.Errorf("after call %d: %d round trips, want %d", i, n, w)
		}
	}
}

func TestClientDigestStaleNonce(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.auth.NonceTTL = time.Minute
	ts.mux.Handle(ResourceGeneralSettings, ActionGet, static(loadFixture[GeneralSettings](t, "amt/general/get.xml")))
	ctx := context.Background()
	if _, err := ts.client.GetGeneralSettings(ctx); err != nil {
		t.Fatal(err)
	}
	ts.clock.Advance(2 * time.Minute)
	before := ts.trips.n.Load()
	if _, err := ts.client.GetGeneralSettings(ctx); err != nil {
		t.Fatalf("after nonce expiry: %v", err)
	}
	if n := ts.trips.n.Load() - before; n != 2 {
		t.Errorf("stale nonce cost %d round trips, want 2 (stale 401, retry)", n)
	}
}

func TestClientDigestFailure(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.mux.Handle(ResourceGeneralSettings, ActionGet, static(loadFixture[GeneralSettings](t, "amt/general/get.xml")))
	const wrong = "wrong-secret-42"
	c, _ := ts.newClient(t, wrong)
	_, err := c.GetGeneralSettings(context.Background())
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want *AuthError", err)
	}
	if strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), `"admin"`) {
		t.Errorf("error %q must name the user and never the password", err)
	}
}

// TestDigestServerRejects drives the server side with hand-made headers.
func TestDigestServerRejects(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.mux.Handle(ResourceGeneralSettings, ActionGet, static(loadFixture[GeneralSettings](t, "amt/general/get.xml")))

	// Get a nonce from a challenge.
	res, err := http.Post(ts.srv.URL+"/wsman", "application/soap+xml", strings.NewReader("<x/>"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	chal := res.Header.Get("WWW-Authenticate")
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(chal, `realm="`+testRealm+`"`) || !strings.Contains(chal, `qop="auth"`) {
		t.Fatalf("challenge %d %q", res.StatusCode, chal)
	}
	nonce := parseDigestParams(strings.TrimPrefix(chal, "Digest "))["nonce"]

	authHeader := func(user, password, realm, nc, uri string) string {
		ha1 := HA1(user, realm, password)
		ha2 := md5hex("POST:" + uri)
		resp := md5hex(ha1 + ":" + nonce + ":" + nc + ":abc:auth:" + ha2)
		return fmt.Sprintf(`Digest username=%q, realm=%q, nonce=%q, uri=%q, response=%q, qop=auth, nc=%s, cnonce="abc"`, user, realm, nonce, uri, resp, nc)
	}
	var body strings.Builder
	if err := (&Message{Action: ActionGet, ResourceURI: ResourceGeneralSettings, MessageID: "1"}).Encode(&body); err != nil {
		t.Fatal(err)
	}
	post := func(auth string) int {
		req, _ := http.NewRequest(http.MethodPost, ts.srv.URL+"/wsman", strings.NewReader(body.String()))
		req.Header.Set("Authorization", auth)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	steps := []struct {
		name string
		auth string
		want int
	}{
		{"good nc 2", authHeader(testUser, testPassword, testRealm, "00000002", "/wsman"), 200},
		{"out of order nc 1", authHeader(testUser, testPassword, testRealm, "00000001", "/wsman"), 200},
		{"replayed nc 2", authHeader(testUser, testPassword, testRealm, "00000002", "/wsman"), 401},
		{"wrong password", authHeader(testUser, "nope", testRealm, "00000003", "/wsman"), 401},
		{"unknown user", authHeader("root", testPassword, testRealm, "00000004", "/wsman"), 401},
		{"other realm", authHeader(testUser, testPassword, "Digest:00", "00000005", "/wsman"), 401},
		{"other uri", authHeader(testUser, testPassword, testRealm, "00000006", "/other"), 401},
		{"basic", "Basic YWRtaW46eA==", 401},
		{"good nc 7", authHeader(testUser, testPassword, testRealm, "00000007", "/wsman"), 200},
	}
	for _, s := range steps {
		if got := post(s.auth); got != s.want {
			t.Errorf("%s: HTTP %d, want %d", s.name, got, s.want)
		}
	}
}

func TestNonceWindow(t *testing.T) {
	t.Parallel()
	var s nonceState
	seq := []struct {
		nc   uint64
		want bool
	}{{1, true}, {1, false}, {3, true}, {2, true}, {2, false}, {100, true}, {36, false}, {37, true}, {37, false}, {101, true}}
	for _, c := range seq {
		if got := s.accept(c.nc); got != c.want {
			t.Errorf("accept(%d) = %v, want %v", c.nc, got, c.want)
		}
	}
}

func TestDigestNonceMemoryBounded(t *testing.T) {
	t.Parallel()
	a := &DigestAuth{Realm: testRealm, MaxNonces: 8}
	for range 100 {
		a.newNonce()
	}
	if n := len(a.nonces); n > 8 {
		t.Errorf("%d nonces remembered, want at most 8", n)
	}
}

func TestClientFaults(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.mux.Handle(ResourcePublicKeyCertificate, ActionGet, func(_ context.Context, r *Request) (any, error) {
		id, ok := r.Header.Selector("InstanceID")
		if !ok || id != "Intel(r) AMT Certificate: Handle: 0" {
			return nil, NewFault(SubcodeInvalidSelectors, DetailInsufficientSelectors)
		}
		return loadFixture[PublicKeyCertificate](t, "amt/publickey/certificate/get.xml"), nil
	})
	ts.mux.Handle(ResourceRedirectionService, ActionGet, func(context.Context, *Request) (any, error) {
		return nil, errors.New("database exploded with secret s3cr3t")
	})
	ts.mux.Handle(ResourceAuthorizationService, ActionGet, func(context.Context, *Request) (any, error) {
		return nil, NewFault(SubcodeAccessDenied, "")
	})
	ctx := context.Background()
	c := ts.client

	if _, err := c.GetPublicKeyCertificate(ctx, "Intel(r) AMT Certificate: Handle: 0"); err != nil {
		t.Fatalf("good selector: %v", err)
	}
	cases := []struct {
		name string
		call func() error
		want *Fault
		code string
	}{
		{"unknown resource", func() error { _, err := c.GetOptInService(ctx); return err }, ErrDestinationUnreachable, "Sender"},
		{"method of a class not served", func() error { return c.CommitChanges(ctx) }, ErrDestinationUnreachable, "Sender"},
		{"unsupported action", func() error {
			_, err := c.PutRedirectionService(ctx, &RedirectionService{})
			return err
		}, ErrActionNotSupported, "Sender"},
		{"bad selector", func() error { _, err := c.GetPublicKeyCertificate(ctx, "nope"); return err }, ErrInvalidSelectors, "Sender"},
		{"handler error", func() error { _, err := c.GetRedirectionService(ctx); return err }, ErrInternal, "Receiver"},
		{"access denied", func() error { _, err := c.GetAuthorizationService(ctx); return err }, ErrAccessDenied, "Sender"},
	}
	for _, tc := range cases {
		err := tc.call()
		var f *Fault
		if !errors.As(err, &f) || !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want fault %s", tc.name, err, tc.want.Subcode)
			continue
		}
		if f.Code != tc.code || f.Reason == "" || f.Action == "" {
			t.Errorf("%s: fault %+v, want code %s, a reason and an action", tc.name, f, tc.code)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: handler error text leaked to the client: %v", tc.name, err)
		}
	}
	_, err := c.GetPublicKeyCertificate(ctx, "nope")
	if f := (*Fault)(nil); errors.As(err, &f) && f.Detail != DetailInsufficientSelectors {
		t.Errorf("detail %q, want %q", f.Detail, DetailInsufficientSelectors)
	}
}

func TestClientReturnError(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.mux.HandleMethod(ResourceSetupAndConfigurationService, "CommitChanges", static(NewReturnOutput(ResourceSetupAndConfigurationService, "CommitChanges", amt.PTDataMissing)))
	ts.mux.HandleMethod(ResourceHostBasedSetupService, "AddNextCertInChain", func(_ context.Context, r *Request) (any, error) {
		var in AddNextCertInChainInput
		if err := r.Decode(&in); err != nil {
			return nil, err
		}
		if in.NextCertificate != "AQID" || !in.IsLeafCertificate || in.IsRootCertificate {
			return NewReturnOutput(ResourceHostBasedSetupService, "AddNextCertInChain", amt.CertChainInvalidParam), nil
		}
		return NewReturnOutput(ResourceHostBasedSetupService, "AddNextCertInChain", amt.CertChainTooLong), nil
	})
	// A handler answering with another method's output must not pass.
	ts.mux.HandleMethod(ResourceSetupAndConfigurationService, "SetMEBxPassword", static(NewReturnOutput(ResourceSetupAndConfigurationService, "CommitChanges", 0)))
	ctx := context.Background()

	cases := []struct {
		name string
		err  error
		want ReturnError
		text string
	}{
		{"commit", ts.client.CommitChanges(ctx), ReturnError{"AMT_SetupAndConfigurationService", "CommitChanges", amt.PTDataMissing}, "data missing"},
		{"chain", ts.client.AddNextCertInChain(ctx, []byte{1, 2, 3}, true, false), ReturnError{"IPS_HostBasedSetupService", "AddNextCertInChain", amt.CertChainTooLong}, "certificate chain too long"},
	}
	for _, tc := range cases {
		var re *ReturnError
		if !errors.As(tc.err, &re) || *re != tc.want || !strings.Contains(tc.err.Error(), tc.text) {
			t.Errorf("%s: err = %v, want %+v naming %q", tc.name, tc.err, tc.want, tc.text)
		}
	}
	if err := ts.client.SetMEBxPassword(ctx, "Mebx-Pass1!"); err == nil || !strings.Contains(err.Error(), "CommitChanges_OUTPUT") || strings.Contains(err.Error(), "Mebx-Pass1!") {
		t.Errorf("mismatched output: err = %v, want a refusal naming the element and not the password", err)
	}
}

func TestClientEnumerationPaging(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.mux.PageSize = 3
	base := loadFixture[PublicKeyCertificate](t, "amt/publickey/certificate/get.xml")
	var items []any
	for i := range 7 {
		c := *base
		c.InstanceID = fmt.Sprintf("Intel(r) AMT Certificate: Handle: %d", i)
		items = append(items, &c)
	}
	var pulls int
	ts.mux.HandleEnumeration(ResourcePublicKeyCertificate, func(context.Context, *Request) ([]any, error) { return items, nil })
	inner, _ := ts.mux.route(ResourcePublicKeyCertificate, ActionPull)
	ts.mux.Handle(ResourcePublicKeyCertificate, ActionPull, func(ctx context.Context, r *Request) (any, error) {
		pulls++
		return inner(ctx, r)
	})
	got, err := ts.client.PublicKeyCertificates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 || pulls != 3 {
		t.Fatalf("%d certificates in %d pulls, want 7 in 3", len(got), pulls)
	}
	for i, c := range got {
		if want := fmt.Sprintf("Intel(r) AMT Certificate: Handle: %d", i); c.InstanceID != want || c.X509Certificate == "" {
			t.Errorf("item %d: %q, want %q with a certificate", i, c.InstanceID, want)
		}
	}
	// A finished context is closed.
	var pr PullResponse[PublicKeyCertificate]
	_, err = ts.client.Do(context.Background(), &Message{Action: ActionPull, ResourceURI: ResourcePublicKeyCertificate, Body: &PullRequest{EnumerationContext: "gone"}}, &pr)
	if !errors.Is(err, ErrInvalidEnumerationContext) {
		t.Errorf("pull of unknown context: %v, want InvalidEnumerationContext", err)
	}
}

func TestFirmwareVersionOverWire(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	pull := loadFixture[PullResponse[SoftwareIdentity]](t, "cim/software/identity/pull.xml")
	var items []any
	for i := range pull.Items.Items {
		items = append(items, &pull.Items.Items[i])
	}
	ts.mux.HandleEnumeration(ResourceSoftwareIdentity, func(context.Context, *Request) ([]any, error) { return items, nil })
	v, err := ts.client.FirmwareVersion(context.Background())
	if err != nil || v != (amt.Version{Major: 12, Minor: 0, Build: 67}) {
		t.Errorf("FirmwareVersion = %v, %v; want 12.0.67", v, err)
	}
}

func TestNewClientRefusesBadEndpoint(t *testing.T) {
	t.Parallel()
	for _, ep := range []string{"", "ftp://x/wsman", "192.0.2.1:16992", "http://"} {
		if _, err := NewClient(ep, "admin", "pw"); err == nil {
			t.Errorf("NewClient(%q): no error", ep)
		}
	}
	c, err := NewClient("http://192.0.2.1:16992", "admin", "pw")
	if err != nil || c.Endpoint() != "http://192.0.2.1:16992/wsman" {
		t.Errorf("default path: %v %v", c, err)
	}
}

// TestClientWithDialer reaches the device through a dial function (as the
// agent relay does), whatever host the endpoint names.
func TestClientWithDialer(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.mux.Handle(ResourceGeneralSettings, ActionGet, static(loadFixture[GeneralSettings](t, "amt/general/get.xml")))
	var dials int
	addr := strings.TrimPrefix(ts.srv.URL, "http://")
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		dials++
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	c, err := NewClient("http://device-0042.invalid:16992/wsman", testUser, testPassword, WithDialer(dial))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetGeneralSettings(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dials == 0 {
		t.Error("the dial function was not used")
	}
}
