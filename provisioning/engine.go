package provisioning

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/amt/hello"
	"github.com/amtrcs/amtrcs/store"
)

// Path is an activation path, or deactivation.
type Path string

const (
	PathHostBased  Path = "acm-hostbased" // AdminSetup, AMT 7 to 18
	PathTLS        Path = "acm-tls"       // StartConfigurationHBased + mutual TLS, AMT 19+
	PathCCM        Path = "ccm"           // Setup
	PathUpgrade    Path = "upgrade"       // UpgradeClientToAdmin, CCM to ACM
	PathLegacy     Path = "acm-legacy"    // network setup after a hello
	PathDeactivate Path = "deactivate"
)

// ProvisioningCert is a provisioning certificate as the engine uses it: the
// chain, leaf first and root last, and a signer for the leaf's key. The key
// stays behind Signer (sealed in the store, or in a KMS).
type ProvisioningCert struct {
	ID     string
	Chain  []*x509.Certificate
	Signer crypto.Signer
}

// CertSource gives the provisioning certificates (the csr workshop).
type CertSource interface {
	ProvisioningCert(ctx context.Context, id string) (*ProvisioningCert, error)
	ProvisioningCertIDs(ctx context.Context) ([]string, error)
}

// CertList is a CertSource over certificates held in memory, for the demo,
// tests, and certificates loaded from files.
type CertList []*ProvisioningCert

// ProvisioningCert implements CertSource.
func (l CertList) ProvisioningCert(_ context.Context, id string) (*ProvisioningCert, error) {
	for _, c := range l {
		if c.ID == id {
			return c, nil
		}
	}
	return nil, fmt.Errorf("provisioning certificate %q: %w", id, store.ErrNotFound)
}

// ProvisioningCertIDs implements CertSource.
func (l CertList) ProvisioningCertIDs(context.Context) ([]string, error) {
	ids := make([]string, len(l))
	for i, c := range l {
		ids[i] = c.ID
	}
	return ids, nil
}

// Domain is a set of DNS suffixes served by one provisioning certificate.
type Domain struct {
	Name     string   `json:"name"`
	Suffixes []string `json:"suffixes"`
	CertID   string   `json:"cert_id"`
}

// DomainLookup finds the domain of a device's DNS suffix; ok is false when
// no domain lists it.
type DomainLookup func(ctx context.Context, suffix string) (d Domain, ok bool, err error)

// StaticDomains looks suffixes up in ds, case-insensitively and without a
// trailing dot.
func StaticDomains(ds ...Domain) DomainLookup {
	return func(_ context.Context, suffix string) (Domain, bool, error) {
		s := normSuffix(suffix)
		for _, d := range ds {
			for _, x := range d.Suffixes {
				if normSuffix(x) == s {
					return d, true, nil
				}
			}
		}
		return Domain{}, false, nil
	}
}

func normSuffix(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
}

// Phase says where a StepHook is called: after the step's calls to the
// device, before its completion is recorded, and after that.
type Phase int

const (
	AfterCall Phase = iota
	AfterRecord
)

func (p Phase) String() string {
	if p == AfterCall {
		return "after-call"
	}
	return "after-record"
}

// StepHook is called around each step; a non-nil error makes the engine
// return it at once, doing nothing more (no cleanup, no record): what a
// killed process does. It exists for fault-injection tests.
type StepHook func(path Path, step string, phase Phase) error

// StepObserver is told, after each step of a path, how long its calls to
// the device took and how it ended (OutcomeSuccess or OutcomeFailure from
// store). It runs on the session's goroutine, so it must be quick.
type StepObserver interface {
	ObserveStep(path Path, step, outcome string, took time.Duration)
}

// legacyDialTimeout bounds the connection to a legacy device's port 16993:
// a device that sent a hello answers on its own network at once.
const legacyDialTimeout = 10 * time.Second

// Options configure an Engine. The zero value works for the agent path.
type Options struct {
	// Clock is the RCS's clock (nil: time.Now).
	Clock func() time.Time
	// Logger gets structured progress lines, never a secret (nil: discard).
	Logger *slog.Logger
	// Domains maps a device's DNS suffix to its domain and certificate. With
	// none, or no entry, the engine picks the first stored certificate that
	// passes the preflight.
	Domains DomainLookup
	// DeviceIdentityRoots are the roots a device's TLS certificate (AMT 19
	// setup) may chain to besides Intel's On-Die root, which is always
	// trusted (firmware does not send it); DeviceIdentityRootSHA256 are
	// SHA-256 pins of roots a device sends in its chain, given only by
	// hash (uppercase or lowercase hex).
	DeviceIdentityRoots      []*x509.Certificate
	DeviceIdentityRootSHA256 []string
	// HelloProfile picks the profile for a legacy hello (nil: the stored
	// profile "default").
	HelloProfile func(ctx context.Context, m hello.Message, source netip.Addr) (Profile, error)
	// DialNetwork opens TCP connections to legacy devices (nil: net.Dialer
	// with a 10 s timeout).
	DialNetwork func(ctx context.Context, network, addr string) (net.Conn, error)
	// LookupAddr names a legacy device by reverse DNS (nil: no lookup).
	LookupAddr func(ctx context.Context, addr string) ([]string, error)
	// StepHook is for fault-injection tests.
	StepHook StepHook
	// Steps is told of each step's end (nil: no one), for the server's
	// metrics.
	Steps StepObserver
	// Actor is the audit actor (default "rcs").
	Actor string
	// StartConfigRetries and StartConfigRetryDelay: a failed
	// StartConfigurationHBased is retried (default 3 times, 2 s apart).
	StartConfigRetries    int
	StartConfigRetryDelay time.Duration
	// TimeSyncThreshold: the device clock is set when off by more (10 s).
	TimeSyncThreshold time.Duration
	// TLS is the internal CA that issues devices' TLS certificates, for
	// ConfigureTLS and the maintenance tasks (tls.go).
	TLS TLSOptions
	// PasswordMaxAge is the oldest a device's sealed admin or MEBx
	// password may be before the enforce task rotates it (0: no limit).
	// The server sets it to the password rotation period.
	PasswordMaxAge time.Duration
}

// Engine runs provisioning sessions. It is safe for concurrent use, with at
// most one session per device.
type Engine struct {
	st    Store
	certs CertSource
	opts  Options
	log   *slog.Logger
	pins  [][]byte

	mu   sync.Mutex
	busy map[string]bool

	checks certChecks
	chains verifiedChains
}

// New returns an engine over st that takes provisioning certificates from
// certs (nil when only CCM is used).
func New(st Store, certs CertSource, opts Options) (*Engine, error) {
	if st == nil {
		return nil, errors.New("provisioning: no store")
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Actor == "" {
		opts.Actor = "rcs"
	}
	if opts.StartConfigRetries == 0 {
		opts.StartConfigRetries = 3
	}
	if opts.StartConfigRetryDelay == 0 {
		opts.StartConfigRetryDelay = 2 * time.Second
	}
	if opts.TimeSyncThreshold == 0 {
		opts.TimeSyncThreshold = 10 * time.Second
	}
	if opts.DialNetwork == nil {
		// A session's context has no deadline; a legacy device that went
		// away must not hold the session for the system's TCP timeout.
		d := net.Dialer{Timeout: legacyDialTimeout}
		opts.DialNetwork = d.DialContext
	}
	if certs == nil {
		certs = CertList(nil)
	}
	certs = cacheSigners(certs)
	e := &Engine{st: st, certs: certs, opts: opts, log: opts.Logger, busy: map[string]bool{}}
	for _, h := range opts.DeviceIdentityRootSHA256 {
		b, err := hex.DecodeString(strings.TrimSpace(h))
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("provisioning: device-identity root pin %q: want 64 hex digits (a SHA-256)", h)
		}
		e.pins = append(e.pins, b)
	}
	return e, nil
}

// TLSIssuer is the internal CA that signs devices' TLS certificates (nil
// when none is configured), for the server to hand out its bundle.
func (e *Engine) TLSIssuer() TLSIssuer { return e.opts.TLS.Issuer }

// acquireFresh rereads what the host interface reports, when the device
// has one, then marks the device busy: Resume and Deactivate decide from
// the device's present state, never from an earlier read.
func (e *Engine) acquireFresh(ctx context.Context, dev *Device) (release func(), err error) {
	if dev.Host != nil {
		if err := dev.ReadInfo(ctx); err != nil {
			return nil, err
		}
	}
	return e.acquire(dev.ID())
}

// acquire marks a device busy, or fails with ErrBusy.
func (e *Engine) acquire(id string) (release func(), err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.busy[id] {
		return nil, fmt.Errorf("device %s: %w; wait for it to finish", id, ErrBusy)
	}
	e.busy[id] = true
	return func() {
		e.mu.Lock()
		delete(e.busy, id)
		e.mu.Unlock()
	}, nil
}

// Store is what the engine needs of the store: transactions that commit a
// session record with the secrets it sealed and the audit events it
// queued, group commits, reads, sealed secrets opened on their own, and
// the audit log. *store.Store is one, on either backend.
type Store interface {
	Update(fn func(tx *store.Tx) error) error
	View(fn func(tx *store.Tx) error) error
	Batch(fn func(tx *store.Tx) error) error
	Get(b store.Bucket, id string, v any) error
	Secret(name string) ([]byte, error)
	Audit(ev store.Event) error
	AuditLog(f store.AuditFilter) ([]store.Event, error)
}

var _ Store = (*store.Store)(nil)
