package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
)

// Version is sent in the report, so the RCS can tell agents apart.
const Version = "amtrcs-agent/1"

// Options configure an agent. Server and Backend are required, and one of
// Credential, a StateFile holding one, or EnrollToken.
type Options struct {
	// Server is the RCS base URL, https://host:port. Several servers
	// sharing one store are given comma-separated: the agent starts with
	// the first and moves to the next whenever a connection fails.
	Server string
	// EnrollToken is the one-time token that buys a credential on first
	// contact (POST /api/v1/agents/tokens makes one).
	EnrollToken string
	// Credential is the agent's own credential, when the caller keeps it.
	Credential string
	// StateFile keeps the credential across runs (mode 0600); empty keeps
	// it in memory only.
	StateFile string
	// Profile asks for a profile by name; empty lets the RCS choose.
	Profile string
	// Hostname and FQDN are the OS names to report; empty means
	// os.Hostname.
	Hostname, FQDN string

	Backend Backend
	TLS     *tls.Config
	Logger  *slog.Logger
	// Events receives the RCS's progress events, in order.
	Events func(wire.Event)
	// Once makes Run return after the first final event instead of staying
	// connected for later jobs.
	Once bool
	// MinBackoff and MaxBackoff bound the wait between reconnections
	// (defaults 500 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// Retrying, when set, is called with the error of each connection that
	// failed before it reached a job's end (refused, reset, timed out),
	// before the wait to reconnect: for counting.
	Retrying func(err error)
}

// JobError is returned by Run with Once when the RCS reports a failed job.
type JobError struct{ Event wire.Event }

func (e *JobError) Error() string {
	msg := e.Event.Error
	// A refusal of several reasons carries each one's fix in its line.
	if e.Event.Fix != "" && !strings.Contains(msg, "fix: "+e.Event.Fix) {
		msg += "; fix: " + e.Event.Fix
	}
	return "activation failed: " + msg
}

// ErrRejected wraps a refusal by the RCS that reconnecting cannot cure: a
// spent or unknown enrollment token, a revoked credential, a report for a
// device the credential does not speak for.
var ErrRejected = errors.New("rejected by the RCS")

// ErrPermanent wraps a failure on this side that reconnecting cannot cure:
// no host interface to read (no /dev/mei0 or HECI device, or no right to
// open it), or an RCS certificate this agent does not trust. Run returns
// it at once, with the fix; only a lost connection is retried.
var ErrPermanent = errors.New("cannot run")

// RefusalError is the RCS's refusal of this device's report, as its event
// said it (the rule and the fix, which Events has already shown). It is
// ErrRejected.
type RefusalError struct{ Event wire.Event }

func (e *RefusalError) Error() string {
	msg := "report refused: " + e.Event.Error
	if e.Event.Fix != "" {
		msg += "; fix: " + e.Event.Fix
	}
	return msg
}

// Unwrap makes a refusal ErrRejected.
func (e *RefusalError) Unwrap() error { return ErrRejected }

// permanent wraps err in ErrPermanent, with the fix, when reconnecting
// cannot cure it; else it returns err.
func permanent(err error, server string) error {
	var certErr *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid):
		return fmt.Errorf("%w: the RCS certificate at %s is not trusted (%v); fix: give --ca with the RCS certificate or its CA (the server's <data-dir>/rcs-server.crt)", ErrPermanent, server, err)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		// The error names the device and how to get it.
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	return err
}

type state struct {
	AgentID    string `json:"agent_id"`
	Credential string `json:"credential"`
	Server     string `json:"server"`
}

// Agent is one running agent.
type Agent struct {
	opts       Options
	log        *slog.Logger
	httpClient *http.Client
	mu         sync.Mutex
	cred       string
	servers    []string // Options.Server, split
	next       int      // index in servers of the one to use
}

// serverList splits Options.Server into its URLs.
func serverList(s string) ([]string, error) {
	var out []string
	for _, one := range strings.Split(s, ",") {
		one = strings.TrimSpace(one)
		u, err := url.Parse(one)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("server URL %q: want https://HOST:PORT of the RCS (several servers: comma-separated)", one)
		}
		out = append(out, strings.TrimRight(one, "/"))
	}
	return out, nil
}

// server is the RCS URL to use now.
func (a *Agent) server() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.servers[a.next]
}

// moveOn makes the next server of the list the one to use, after a
// connection failed.
func (a *Agent) moveOn() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.next = (a.next + 1) % len(a.servers)
}

// New checks opts and returns an agent.
func New(opts Options) (*Agent, error) {
	if opts.Backend == nil {
		return nil, errors.New("agent: no backend: give --backend mei or --backend sim")
	}
	servers, err := serverList(opts.Server)
	if err != nil {
		return nil, err
	}
	opts.Server = servers[0]
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	if opts.FQDN == "" && strings.Contains(opts.Hostname, ".") {
		opts.FQDN = opts.Hostname
	}
	a := &Agent{opts: opts, log: opts.Logger, cred: opts.Credential, servers: servers}
	hostif.SetDebugLogger(opts.Logger)
	a.httpClient = &http.Client{
		Transport: &http.Transport{TLSClientConfig: opts.TLS, ForceAttemptHTTP2: false, Proxy: http.ProxyFromEnvironment},
	}
	if a.cred == "" && opts.StateFile != "" {
		st, err := readState(opts.StateFile)
		if err != nil {
			return nil, err
		}
		a.cred = st.Credential
	}
	if a.cred == "" && opts.EnrollToken == "" {
		return nil, errors.New("agent: no credential and no enrollment token: give --token with a token from `POST /api/v1/agents/tokens`")
	}
	return a, nil
}

func readState(path string) (state, error) {
	var st state
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("agent state file: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("agent state file %s is not JSON (%v): delete it and enroll again with a new token", path, err)
	}
	return st, nil
}

func writeState(path string, st state) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("agent state file: %w", err)
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("agent state file: %w", err)
	}
	return os.Rename(tmp, path)
}

// Run reports to the RCS and relays its streams, reconnecting with back-off
// until ctx ends, or (with Once) until the first job ends.
func (a *Agent) Run(ctx context.Context) error {
	// Connections the agent no longer uses (the enrollment request's
	// keep-alive) would otherwise hold a descriptor and buffers on the RCS
	// until its idle timeout; a fleet starting together multiplies that.
	defer a.httpClient.CloseIdleConnections()
	backoff := a.opts.MinBackoff
	for {
		final, err := a.session(ctx)
		if err != nil {
			err = permanent(err, a.server())
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrRejected), errors.Is(err, ErrPermanent):
			return err
		case final != nil && a.opts.Once:
			if final.Kind == wire.EventFailed {
				return &JobError{Event: *final}
			}
			return nil
		case final != nil:
			// A session that got as far as a job was healthy.
			backoff = a.opts.MinBackoff
		}
		if err != nil {
			// The error says what failed: the RCS connection, or this
			// side (the host interface, a simulator that refused).
			a.log.Warn("agent: session ended; trying again", "server", a.server(), "err", err, "in", backoff)
			if a.opts.Retrying != nil {
				a.opts.Retrying(err)
			}
			a.moveOn()
		}
		// Full jitter, anywhere from nothing to the back-off: a fleet that
		// lost the RCS at once comes back spread over the window, which
		// doubles with each failed attempt, rather than in waves.
		wait := randDuration(backoff + 1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(backoff*2, a.opts.MaxBackoff)
	}
}

func randDuration(n time.Duration) time.Duration {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0
	}
	return time.Duration(v.Int64())
}

// enrollTimeout bounds the enrollment exchange, as the websocket dial is
// bounded: an RCS that accepts and stays silent must not hang the agent.
var enrollTimeout = 30 * time.Second

func (a *Agent) credential(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cred != "" {
		return a.cred, nil
	}
	body, _ := json.Marshal(wire.EnrollRequest{Token: a.opts.EnrollToken, Hostname: a.opts.Hostname})
	// The client has no timeout of its own (the websocket it also dials
	// lives for hours), so the exchange gets one here.
	ctx, cancel := context.WithTimeout(ctx, enrollTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.servers[a.next]+wire.EnrollPath, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.httpClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("enroll: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("enroll: %s: %s", resp.Status, apiMessage(data))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return "", fmt.Errorf("%w: %v", ErrRejected, err)
		}
		return "", err
	}
	var er wire.EnrollResponse
	if err := json.Unmarshal(data, &er); err != nil || er.Credential == "" {
		return "", fmt.Errorf("enroll: the RCS answered without a credential")
	}
	a.cred = er.Credential
	if a.opts.StateFile != "" {
		if err := writeState(a.opts.StateFile, state{AgentID: er.AgentID, Credential: er.Credential, Server: a.servers[a.next]}); err != nil {
			return "", err
		}
	}
	a.log.Info("agent: enrolled", "agent", er.AgentID)
	return a.cred, nil
}

// apiMessage extracts the one-line refusal from an RCS error body.
func apiMessage(body []byte) string {
	var e struct {
		Error string `json:"error"`
		Fix   string `json:"fix"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		if e.Fix != "" {
			return e.Error + "; fix: " + e.Fix
		}
		return e.Error
	}
	return strings.TrimSpace(string(body))
}

// session runs one connection. It returns the final event when a job ended
// during it.
func (a *Agent) session(ctx context.Context) (*wire.Event, error) {
	report, err := a.report(ctx)
	if err != nil {
		return nil, err
	}
	cred, err := a.credential(ctx)
	if err != nil {
		return nil, err
	}
	// The enrollment's keep-alive connection is not the websocket's: left
	// open it would hold a descriptor and buffers on the RCS until its
	// idle timeout, for every agent of a fleet that starts together.
	a.httpClient.CloseIdleConnections()
	wsURL := "ws" + strings.TrimPrefix(a.server(), "http") + wire.ConnectPath
	dialCtx, cancelDial := context.WithTimeout(ctx, 30*time.Second)
	c, resp, err := websocket.Dial(dialCtx, wsURL, &websocket.DialOptions{
		HTTPClient: a.httpClient,
		HTTPHeader: http.Header{"Authorization": {"Bearer " + cred}},
	})
	cancelDial()
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return nil, fmt.Errorf("%w: connect: %s: the agent credential is unknown or revoked; delete the state file and enroll again with a new token", ErrRejected, resp.Status)
		}
		return nil, fmt.Errorf("connect to %s: %w", wsURL, err)
	}
	c.SetReadLimit(wire.MaxWebsocketMessage)
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	nc := websocket.NetConn(connCtx, c, websocket.MessageBinary)
	sess, err := yamux.Client(wire.Coalesce(nc), wire.MuxConfig(nil))
	if err != nil {
		nc.Close()
		return nil, err
	}
	var relays sync.WaitGroup
	// The session closes before the relays are awaited: closing it is
	// what ends them.
	defer func() {
		sess.Close()
		relays.Wait()
	}()
	go func() {
		for {
			s, err := sess.AcceptStream()
			if err != nil {
				return
			}
			relays.Add(1)
			go func() { defer relays.Done(); relayStream(connCtx, a.opts.Backend, s, a.log) }()
		}
	}()

	ctl, err := sess.OpenStream()
	if err != nil {
		return nil, fmt.Errorf("open the control stream: %w", err)
	}
	defer ctl.Close()
	if err := wire.NewLineWriter(ctl).Write(report); err != nil {
		return nil, fmt.Errorf("send the report: %w", err)
	}
	go func() {
		<-connCtx.Done()
		sess.Close()
	}()
	lr := wire.NewLineReader(ctl)
	var final *wire.Event
	for {
		var ev wire.Event
		if err := lr.Read(&ev); err != nil {
			if final != nil {
				return final, nil
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("the RCS closed the control stream")
			}
			return nil, err
		}
		a.log.Debug("agent: event", "kind", ev.Kind, "step", ev.Step, "msg", ev.Message, "err", ev.Error)
		if a.opts.Events != nil {
			a.opts.Events(ev)
		}
		if ev.Kind == wire.EventFailed && (ev.Status == http.StatusUnauthorized || ev.Status == http.StatusForbidden) {
			return nil, &RefusalError{Event: ev}
		}
		if ev.Final() {
			e := ev
			final = &e
			if a.opts.Once {
				return final, nil
			}
		}
	}
}

// report reads the host interface for the report that opens each session:
// the device state may have changed since the last one.
func (a *Agent) report(ctx context.Context) (wire.Report, error) {
	info, err := ReadReportInfo(ctx, a.opts.Backend)
	if err != nil {
		return wire.Report{}, err
	}
	if info.AMTState == nil {
		a.log.Debug("manageability client unavailable or silent; the report carries no operational or TLS state")
	}
	return wire.Report{Info: info, Hostname: a.opts.Hostname, FQDN: a.opts.FQDN, Profile: a.opts.Profile, Agent: Version}, nil
}

// ReadReportInfo reads, on the device's side of the relay, the facts the
// report carries: versions, UUID, states, suffix, the whole hash table and
// the manageability client's flags, so that the RCS reads over the relay
// only what must be read live. It reads no secret: the local system
// account is read by the RCS when it needs it, never reported.
func ReadReportInfo(ctx context.Context, b Backend) (hostif.Info, error) {
	p, err := b.OpenPTHI(ctx)
	if err != nil {
		return hostif.Info{}, err
	}
	defer p.Close()
	info, err := hostif.NewClient(p).ReadInfo(ctx)
	if err != nil {
		return hostif.Info{}, fmt.Errorf("read the host interface (%s): %w", b.Name(), err)
	}
	info.AMTState = readAMTState(ctx, b)
	return info, nil
}

// readAMTState reads the manageability client's flags for the report; nil
// when the firmware has no such client (before ME 16.1 some hosts do not
// expose it), which the RCS then judges by version, as rpc-go continues
// when it cannot read them.
func readAMTState(ctx context.Context, b Backend) *amt.AMTState {
	m, err := b.OpenManageability(ctx)
	if err != nil {
		return nil
	}
	defer m.Close()
	st, err := hostif.NewManageability(m).AMTState(ctx)
	if err != nil {
		return nil
	}
	return &st
}
