package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amtsim"
)

func newSimDevice(t *testing.T, version string) *amtsim.Device {
	t.Helper()
	v, err := amt.ParseVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	d, err := amtsim.New(amtsim.Config{Version: v, DHCPSuffix: "corp.example.com", OSHostname: "pc1"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fakeRCS plays the RCS's side of the protocol: it enrolls with one token,
// accepts the agent's report, uses the relay, then sends events.
type fakeRCS struct {
	t        *testing.T
	srv      *httptest.Server
	token    string
	cred     string
	enrolls  atomic.Int32
	connects atomic.Int32
	open     atomic.Int32 // TCP connections the agent holds open now
	// session runs against each connected agent; it returns the events to
	// send, or drops the connection when drop is true.
	session func(sess *yamux.Session, r wire.Report) (events []wire.Event, drop bool)
}

func newFakeRCS(t *testing.T) *fakeRCS {
	f := &fakeRCS{t: t, token: "amtrcs-enroll-0123456789abcdef.secret", cred: "amtrcs-agent-fedcba9876543210.secret"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wire.EnrollPath, func(w http.ResponseWriter, r *http.Request) {
		var req wire.EnrollRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if req.Token != f.token || f.enrolls.Add(1) > 1 {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"agent enrollment: spent","fix":"make a new token"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(wire.EnrollResponse{AgentID: "fedcba9876543210", Credential: f.cred})
	})
	mux.HandleFunc("GET "+wire.ConnectPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.cred {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.connects.Add(1)
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		nc := websocket.NetConn(context.Background(), c, websocket.MessageBinary)
		sess, err := yamux.Server(nc, wire.MuxConfig(nil))
		if err != nil {
			return
		}
		defer sess.Close()
		ctl, err := sess.AcceptStream()
		if err != nil {
			return
		}
		rep, err := wire.ReadReport(wire.NewLineReader(ctl))
		if err != nil {
			t.Errorf("fake RCS: report: %v", err)
			return
		}
		events, drop := f.session(sess, rep)
		if drop {
			return
		}
		lw := wire.NewLineWriter(ctl)
		for _, ev := range events {
			_ = lw.Write(ev)
		}
		// Let the agent read the events before the session closes.
		_, _ = io.Copy(io.Discard, ctl)
	})
	f.srv = httptest.NewUnstartedServer(mux)
	f.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			f.open.Add(1)
		case http.StateClosed, http.StateHijacked:
			f.open.Add(-1)
		}
	}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func openChannel(sess *yamux.Session, ch wire.Channel) (net.Conn, error) {
	s, err := sess.OpenStream()
	if err != nil {
		return nil, err
	}
	if err := wire.WriteChannel(s, ch); err != nil {
		return nil, err
	}
	if err := wire.ReadAnswer(s); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func TestAgentRelaysPTHIAndLMS(t *testing.T) {
	dev := newSimDevice(t, "16.1.25")
	f := newFakeRCS(t)
	var gotUUIDs [2]amt.UUID
	var httpStatus string
	f.session = func(sess *yamux.Session, rep wire.Report) ([]wire.Event, bool) {
		if rep.Info.UUID != dev.ID() || rep.Info.Version.Major != 16 || rep.Hostname != "pc1" || rep.Profile != "office" {
			t.Errorf("report = %+v", rep)
		}
		// Two PTHI streams and an LMS stream at once, over one connection.
		var wg sync.WaitGroup
		for i := range gotUUIDs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := openChannel(sess, wire.ChannelPTHI)
				if err != nil {
					t.Errorf("pthi: %v", err)
					return
				}
				defer c.Close()
				u, err := hostif.NewClient(wire.NewFramedTransport(c)).UUID(context.Background())
				if err != nil {
					t.Errorf("UUID over the relay: %v", err)
				}
				gotUUIDs[i] = u
			}()
		}
		c, err := openChannel(sess, wire.ChannelLMS16992)
		if err != nil {
			t.Errorf("lms: %v", err)
		} else {
			_, _ = io.WriteString(c, "POST /wsman HTTP/1.1\r\nHost: 127.0.0.1:16992\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Errorf("HTTP over the LMS relay: %v", err)
			} else {
				httpStatus = resp.Status
				resp.Body.Close()
			}
			c.Close()
		}
		if _, err := openChannel(sess, "lms:22"); err == nil || !errors.Is(err, wire.ErrRefused) {
			t.Errorf("a bad channel was not refused: %v", err)
		}
		wg.Wait()
		return []wire.Event{
			{Kind: wire.EventProgress, Step: "seal-passwords"},
			{Kind: wire.EventDone, Message: "activate done"},
		}, false
	}
	state := filepath.Join(t.TempDir(), "agent.json")
	var events []wire.Event
	a, err := New(Options{
		Server: f.srv.URL, EnrollToken: f.token, StateFile: state, Profile: "office", Hostname: "pc1",
		Backend: OnDevice("pc1", dev),
		TLS:     f.srv.Client().Transport.(*http.Transport).TLSClientConfig,
		Events:  func(ev wire.Event) { events = append(events, ev) },
		Once:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, u := range gotUUIDs {
		if u != dev.ID() {
			t.Errorf("UUID over the relay %v, want %v", u, dev.ID())
		}
	}
	// The simulator answers an unauthenticated WS-MAN request with 401.
	if !strings.HasPrefix(httpStatus, "401") {
		t.Errorf("HTTP status over the relay %q, want 401 (digest challenge)", httpStatus)
	}
	if len(events) != 2 || events[1].Kind != wire.EventDone {
		t.Errorf("events %+v", events)
	}
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v", err, fi.Mode())
	}
	b, _ := os.ReadFile(state)
	if !strings.Contains(string(b), f.cred) || strings.Contains(string(b), f.token) {
		t.Errorf("state file holds %s", b)
	}

	// A second run uses the stored credential: no second enrollment (the
	// fake refuses one), and a failed job ends Run with its reason.
	f.session = func(*yamux.Session, wire.Report) ([]wire.Event, bool) {
		return []wire.Event{{Kind: wire.EventFailed, Error: "preflight refused", Fix: "import a certificate"}}, false
	}
	a2, err := New(Options{Server: f.srv.URL, StateFile: state, Backend: OnDevice("pc1", dev),
		TLS: f.srv.Client().Transport.(*http.Transport).TLSClientConfig, Once: true})
	if err != nil {
		t.Fatal(err)
	}
	var je *JobError
	if err := a2.Run(ctx); !errors.As(err, &je) || !strings.Contains(err.Error(), "fix: import a certificate") {
		t.Fatalf("Run with a failed job: %v", err)
	}
	if n := f.enrolls.Load(); n != 1 {
		t.Errorf("%d enrollments, want 1", n)
	}
}

func TestAgentReconnects(t *testing.T) {
	dev := newSimDevice(t, "11.8.50")
	f := newFakeRCS(t)
	var n atomic.Int32
	f.session = func(*yamux.Session, wire.Report) ([]wire.Event, bool) {
		if n.Add(1) < 3 {
			return nil, true // drop the connection: the agent must come back
		}
		return []wire.Event{{Kind: wire.EventIdle, Message: "nothing to do"}}, false
	}
	a, err := New(Options{Server: f.srv.URL, EnrollToken: f.token, Backend: OnDevice("pc", dev),
		TLS: f.srv.Client().Transport.(*http.Transport).TLSClientConfig, Once: true, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := f.connects.Load(); got != 3 {
		t.Errorf("%d connections, want 3", got)
	}
}

func TestAgentRejected(t *testing.T) {
	dev := newSimDevice(t, "11.8.50")
	f := newFakeRCS(t)
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"unknown enrollment token", Options{EnrollToken: "amtrcs-enroll-0000000000000000.x"}, "make a new token"},
		{"revoked credential", Options{Credential: "amtrcs-agent-0000000000000000.x"}, "enroll again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.Server = f.srv.URL
			o.Backend = OnDevice("pc", dev)
			o.TLS = f.srv.Client().Transport.(*http.Transport).TLSClientConfig
			o.MinBackoff = time.Millisecond
			a, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = a.Run(ctx)
			if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want a rejection saying %q", err, tt.want)
			}
		})
	}
}

// An agent that is done leaves no connection open on the RCS: a fleet of
// agents that enroll and finish together must not pile up idle keep-alive
// connections on the server until its idle timeout.
func TestAgentLeavesNoIdleConnection(t *testing.T) {
	dev := newSimDevice(t, "16.1.25")
	f := newFakeRCS(t)
	f.session = func(*yamux.Session, wire.Report) ([]wire.Event, bool) {
		return []wire.Event{{Kind: wire.EventDone, Message: "nothing to do"}}, false
	}
	a, err := New(Options{Server: f.srv.URL, EnrollToken: f.token, Once: true,
		Backend: OnDevice("pc", dev),
		TLS:     f.srv.Client().Transport.(*http.Transport).TLSClientConfig})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if f.enrolls.Load() != 1 || f.connects.Load() != 1 {
		t.Fatalf("enrolls %d, connects %d; want 1 and 1", f.enrolls.Load(), f.connects.Load())
	}
	// The server learns of the close asynchronously; the bound is generous.
	for deadline := time.Now().Add(2 * time.Minute); f.open.Load() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open on the RCS after the agent finished", f.open.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	b := &InProcess{Label: "x"}
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no backend", Options{Server: "https://x", EnrollToken: "t"}, "no backend"},
		{"bad URL", Options{Server: "ftp://x", EnrollToken: "t", Backend: b}, "want https://"},
		{"no credential", Options{Server: "https://x", Backend: b}, "no credential"},
	}
	for _, tt := range tests {
		if _, err := New(tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestEnrollTimesOut: an RCS that accepts the connection and never
// answers fails the enrollment after enrollTimeout, even when the caller's
// context has no deadline.
func TestEnrollTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent, until the test ends
		}
	}()
	defer func(d time.Duration) { enrollTimeout = d }(enrollTimeout)
	enrollTimeout = 200 * time.Millisecond
	a, err := New(Options{Server: "http://" + ln.Addr().String(), EnrollToken: "amtrcs-enroll-0123456789abcdef.x", Backend: &InProcess{Label: "pc"}})
	if err != nil {
		t.Fatal(err)
	}
	// The server never answers, so only the enrollment deadline can end
	// the call: the error says which one fired, no clock is read.
	_, err = a.credential(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("credential = %v, want the enrollment deadline", err)
	}
}
