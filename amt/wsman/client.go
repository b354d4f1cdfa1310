package wsman

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/icholy/digest"
)

// Client calls WS-Management on one AMT device with HTTP digest
// authentication. The digest challenge is reused (nc counts up), so after the
// first call every call is one round trip. A Client is safe for concurrent
// use.
type Client struct {
	endpoint string
	username string
	http     *http.Client
	limits   Limits
	nextID   atomic.Uint64
}

type clientConfig struct {
	transport http.RoundTripper
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
	tls       *tls.Config
	limits    Limits
}

// ClientOption configures NewClient.
type ClientOption func(*clientConfig)

// WithTransport sends requests through rt (for example a transport over an
// agent's relayed stream). Digest authentication is layered on top of it.
func WithTransport(rt http.RoundTripper) ClientOption {
	return func(c *clientConfig) { c.transport = rt }
}

// WithDialer opens connections with dial instead of the network.
func WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) ClientOption {
	return func(c *clientConfig) { c.dial = dial }
}

// WithTLSConfig sets the TLS configuration for https endpoints (ignored with
// WithTransport).
func WithTLSConfig(cfg *tls.Config) ClientOption {
	return func(c *clientConfig) { c.tls = cfg }
}

// WithLimits caps the responses the client accepts.
func WithLimits(l Limits) ClientOption {
	return func(c *clientConfig) { c.limits = l }
}

// NewClient is a client for endpoint (for example http://192.0.2.10:16992/wsman;
// the path defaults to /wsman) that authenticates as username with password.
func NewClient(endpoint, username, password string, opts ...ClientOption) (*Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("wsman: endpoint %q: want http://HOST:16992/wsman or https://HOST:16993/wsman", endpoint)
	}
	if u.Path == "" {
		u.Path = "/wsman"
	}
	var cfg clientConfig
	for _, o := range opts {
		o(&cfg)
	}
	base := cfg.transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil // a device on the local network is never reached through a proxy
		if cfg.dial != nil {
			t.DialContext = cfg.dial
		}
		if cfg.tls != nil {
			t.TLSClientConfig = cfg.tls
		}
		base = t
	}
	return &Client{
		endpoint: u.String(),
		username: username,
		limits:   cfg.limits.withDefaults(),
		http: &http.Client{
			Transport: &digest.Transport{Username: username, Password: password, Transport: base},
			// AMT never redirects; following one would resend credentials elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// Endpoint is the URL the client posts to.
func (c *Client) Endpoint() string { return c.endpoint }

// ReturnError is a method call that the firmware answered with a non-zero
// ReturnValue.
type ReturnError struct {
	Class  string
	Method string
	Code   amt.ReturnCode
}

func (e *ReturnError) Error() string {
	return fmt.Sprintf("%s.%s returned %d (%s)", e.Class, e.Method, uint32(e.Code), amt.ReturnCodeName(e.Class, e.Method, e.Code))
}

// AuthError is an HTTP 401 after the digest exchange: wrong user name or
// password, or an account the firmware has locked.
type AuthError struct {
	Endpoint string
	Username string
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("wsman: %s refused digest credentials for user %q (HTTP 401): use the device's current admin password; AMT locks the account for a while after repeated failures", e.Endpoint, e.Username)
}

// HTTPError is a non-SOAP HTTP failure.
type HTTPError struct {
	Endpoint string
	Status   int
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("wsman: %s answered HTTP %d without a SOAP envelope; want 200 or a SOAP fault (is this an AMT WS-MAN port?)", e.Endpoint, e.Status)
}

// returner is a method output with a ReturnValue.
type returner interface{ returnCode() amt.ReturnCode }

// Do sends m and decodes the response body into out (nil to ignore it).
// Faults are returned as *Fault, a non-zero ReturnValue of a method as
// *ReturnError.
func (c *Client) Do(ctx context.Context, m *Message, out any) (*Header, error) {
	if m.MessageID == "" {
		m.MessageID = "uuid:" + strconv.FormatUint(c.nextID.Add(1), 10)
	}
	// The request body is not pooled: a transport may still read it after
	// the response has arrived.
	var buf bytes.Buffer
	buf.Grow(2048)
	if err := m.appendTo(&buf); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("wsman: %w", err)
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("wsman: %s %s: %w", shortAction(m.Action), c.endpoint, err)
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusUnauthorized:
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, c.limits.MaxBodyBytes))
		return nil, &AuthError{Endpoint: c.endpoint, Username: c.username}
	case res.StatusCode != http.StatusOK && res.StatusCode != http.StatusBadRequest && res.StatusCode != http.StatusInternalServerError:
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, c.limits.MaxBodyBytes))
		return nil, &HTTPError{Endpoint: c.endpoint, Status: res.StatusCode}
	}
	h, present, err := decodeEnvelope(res.Body, c.limits, out)
	if err != nil {
		var f *Fault
		if errors.As(err, &f) {
			return h, f
		}
		if res.StatusCode != http.StatusOK {
			return nil, &HTTPError{Endpoint: c.endpoint, Status: res.StatusCode}
		}
		return nil, fmt.Errorf("%s: %w", shortAction(m.Action), err)
	}
	if res.StatusCode != http.StatusOK {
		return h, &HTTPError{Endpoint: c.endpoint, Status: res.StatusCode}
	}
	if h.RelatesTo != "" && h.RelatesTo != m.MessageID {
		return h, fmt.Errorf("wsman: %s: response relates to message %q, want %q (a proxy or relay mixed up responses)", shortAction(m.Action), h.RelatesTo, m.MessageID)
	}
	if out != nil && !present {
		return h, fmt.Errorf("wsman: %s: response Body is empty, want a %T", shortAction(m.Action), out)
	}
	if r, ok := out.(returner); ok && r.returnCode() != 0 {
		return h, &ReturnError{Class: className(m.ResourceURI), Method: shortAction(m.Action), Code: r.returnCode()}
	}
	return h, nil
}

func className(resourceURI string) string {
	return resourceURI[strings.LastIndexByte(resourceURI, '/')+1:]
}

func shortAction(action string) string {
	return action[strings.LastIndexByte(action, '/')+1:]
}

// Get reads the instance of resourceURI that selectors pick.
func Get[T any](ctx context.Context, c *Client, resourceURI string, selectors ...Selector) (*T, error) {
	var v T
	_, err := c.Do(ctx, &Message{Action: ActionGet, ResourceURI: resourceURI, Selectors: selectors}, &v)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// Put replaces the instance that selectors pick with body and returns the
// instance as the firmware now holds it, a T. body is an instance, or an
// instance with its elements put in a class's schema order (inOrder): a
// class's Put wants that order, while the firmware answers alphabetically.
func Put[T any](ctx context.Context, c *Client, resourceURI string, body any, selectors ...Selector) (*T, error) {
	var out T
	_, err := c.Do(ctx, &Message{Action: ActionPut, ResourceURI: resourceURI, Selectors: selectors, Body: body}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete removes the instance that selectors pick.
func (c *Client) Delete(ctx context.Context, resourceURI string, selectors ...Selector) error {
	_, err := c.Do(ctx, &Message{Action: ActionDelete, ResourceURI: resourceURI, Selectors: selectors}, nil)
	return err
}

// Invoke calls method of the class at resourceURI with input in (a
// *..._INPUT struct) and decodes the output into out.
func (c *Client) Invoke(ctx context.Context, resourceURI, method string, in, out any, selectors ...Selector) error {
	_, err := c.Do(ctx, &Message{Action: MethodAction(resourceURI, method), ResourceURI: resourceURI, Selectors: selectors, Body: in}, out)
	return err
}

// invokeReturn calls a method whose output is only a ReturnValue.
func (c *Client) invokeReturn(ctx context.Context, resourceURI, method string, in any, selectors ...Selector) error {
	var out ReturnOutput
	if err := c.Invoke(ctx, resourceURI, method, in, &out, selectors...); err != nil {
		return err
	}
	return out.check(resourceURI, method)
}

// MaxPages bounds EnumerateAll, so a device that never ends an enumeration
// cannot keep the caller forever.
const MaxPages = 1000

// EnumerateAll enumerates resourceURI and pulls until EndOfSequence,
// following the EnumerationContext each page returns.
func EnumerateAll[T any](ctx context.Context, c *Client, resourceURI string) ([]T, error) {
	var er EnumerateResponse
	if _, err := c.Do(ctx, &Message{Action: ActionEnumerate, ResourceURI: resourceURI, Body: &EnumerateRequest{}}, &er); err != nil {
		return nil, err
	}
	ec := strings.TrimSpace(er.EnumerationContext)
	var all []T
	for range MaxPages {
		if ec == "" {
			return nil, fmt.Errorf("wsman: enumerate %s: empty EnumerationContext before EndOfSequence", className(resourceURI))
		}
		var pr PullResponse[T]
		if _, err := c.Do(ctx, &Message{Action: ActionPull, ResourceURI: resourceURI, Body: &PullRequest{EnumerationContext: ec, MaxElements: 999, MaxCharacters: 99999}}, &pr); err != nil {
			return nil, err
		}
		all = append(all, pr.Items.Items...)
		if pr.End() {
			return all, nil
		}
		ec = strings.TrimSpace(pr.EnumerationContext)
	}
	return nil, fmt.Errorf("wsman: enumerate %s: no EndOfSequence after %d pulls; the device keeps the enumeration open", className(resourceURI), MaxPages)
}
