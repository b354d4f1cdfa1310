package rcs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/amt/hostif"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/store"
)

// AdminTokenFile is the file in the data directory that receives the first
// admin token.
const AdminTokenFile = "admin-token"

// Options configure a Server. Config and Store are required.
type Options struct {
	Config *config.Config
	Store  *store.Store
	// Engine is the provisioning engine's configuration; New fills
	// Domains, Logger, Clock and HelloProfile from the server's own.
	Engine provisioning.Options
	// Certs gives the provisioning certificates (nil: the csr workshop
	// over Store).
	Certs provisioning.CertSource
	// TLS gives the server certificate (nil: server.tls_cert/tls_key when
	// configured, else a self-signed certificate in the data directory).
	TLS CertProvider
	// ClientCAs are the CAs whose client certificates authenticate API
	// clients as admins (api.client_certificates); nil accepts none.
	ClientCAs *x509.CertPool
	Logger    *slog.Logger
	Now       func() time.Time
	LookupEnv func(string) (string, bool)
	// Hello tunes the hello listener (zero: defaults).
	Hello HelloOptions
	// MaxJobs bounds concurrent activations (default 256).
	MaxJobs int
	// ReadTimeout bounds the read of one request, headers and body, on
	// the API and gateway listeners (default 30 s): a client trickling a
	// body holds a connection that long at most. The agents' websocket is
	// not bound by it (the upgrade clears it).
	ReadTimeout time.Duration
}

// Server is a running RCS.
type Server struct {
	cfg       *config.Config
	st        *store.Store
	id        string // this server's id among those sharing the store (fleet.go)
	eng       *provisioning.Engine
	workshop  *csr.Workshop
	log       *slog.Logger
	now       func() time.Time
	lookupEnv func(string) (string, bool)
	clientCAs *x509.CertPool
	certProv  CertProvider
	tlsCert   *tls.Certificate
	readTO    time.Duration

	gw        *gateway
	denials   *denials
	stopDeny  chan struct{}
	jobs      *jobRunner
	hello     *HelloListener
	helloOpts HelloOptions
	helloWarn warnLimiter
	maint     *Maintenance
	metrics   *metrics

	mu        sync.Mutex
	listeners map[string]net.Listener
	servers   []*http.Server
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closed    bool
}

// New prepares a server: it seeds the store with the configuration's
// profiles and domains, makes the first admin token, and loads the TLS
// certificate. Start opens the listeners.
func New(opts Options) (*Server, error) {
	if opts.Config == nil || opts.Store == nil {
		return nil, errors.New("rcs: Config and Store are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	s := &Server{
		cfg: opts.Config, st: opts.Store, log: opts.Logger, now: opts.Now,
		lookupEnv: opts.LookupEnv, clientCAs: opts.ClientCAs,
		listeners: map[string]net.Listener{}, helloOpts: opts.Hello,
		readTO: opts.ReadTimeout, id: newJobID(),
	}
	if s.readTO <= 0 {
		s.readTO = DefaultReadTimeout
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.workshop = csr.NewWorkshop(opts.Store, csr.WorkshopOptions{Now: opts.Now, Actor: "rcs"})
	// Trailing bytes in firmware replies are counted at debug level.
	hostif.SetDebugLogger(opts.Logger)
	certs := opts.Certs
	if certs == nil {
		certs = provisioning.WorkshopCerts{W: s.workshop}
	}
	s.metrics = newMetrics(s)
	opts.Store.OnCommit(func(took time.Duration, _ int) { s.metrics.commits.Observe(took.Seconds()) })
	eo := opts.Engine
	eo.Domains = s.lookupDomain
	if eo.Steps == nil {
		eo.Steps = s.metrics
	}
	if eo.Logger == nil {
		eo.Logger = opts.Logger
	}
	if eo.Clock == nil {
		eo.Clock = opts.Now
	}
	if eo.PasswordMaxAge == 0 {
		// The enforce task holds passwords to the rotation schedule.
		eo.PasswordMaxAge = opts.Config.Maintenance.PasswordRotation
	}
	eng, err := provisioning.New(opts.Store, certs, eo)
	if err != nil {
		return nil, err
	}
	s.eng = eng
	if err := s.seed(); err != nil {
		return nil, err
	}
	if err := s.ensureAdminToken(filepath.Join(s.cfg.DataDir, AdminTokenFile)); err != nil {
		return nil, err
	}
	s.certProv = opts.TLS
	if s.certProv == nil {
		if s.cfg.Server.TLSCert != "" {
			s.certProv = FileCert{CertFile: s.cfg.Server.TLSCert, KeyFile: s.cfg.Server.TLSKey}
		} else {
			s.certProv = SelfSigned{Store: s.st, Dir: s.cfg.DataDir, Now: s.now,
				Hosts: serverHosts(s.cfg.Server.AdvertiseAddresses, s.cfg.Server.API, s.cfg.Server.AgentGateway)}
		}
	}
	if s.tlsCert, err = s.certProv.ServerCertificate(); err != nil {
		return nil, err
	}
	maxJobs := opts.MaxJobs
	if maxJobs <= 0 {
		maxJobs = 256
	}
	s.helloWarn = warnLimiter{every: time.Minute, log: s.log}
	s.gw = newGateway(s)
	s.denials = newDenials(s)
	s.jobs = newJobRunner(s, maxJobs)
	if s.maint, err = s.NewMaintenance(); err != nil {
		return nil, err
	}
	return s, nil
}

// Engine is the server's provisioning engine.
func (s *Server) Engine() *provisioning.Engine { return s.eng }

// Store is the server's store.
func (s *Server) Store() *store.Store { return s.st }

// Certificate is the server's TLS certificate, for clients to trust.
func (s *Server) Certificate() *x509.Certificate { return s.tlsCert.Leaf }

func (s *Server) tlsConfig() *tls.Config {
	c := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*s.tlsCert},
		NextProtos:   []string{"http/1.1"},
		CipherSuites: aeadSuites,
	}
	if s.clientCAs != nil {
		c.ClientCAs = s.clientCAs
		c.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return c
}

// aeadSuites are the TLS 1.2 suites the API and gateway offer: forward
// secret and authenticated encryption only, no CBC with SHA-1 MACs (TLS 1.3
// suites are AEAD by design and not configurable).
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Start opens the listeners of the configuration: the API (HTTPS), the
// agent gateway (HTTPS; its paths are served on the API listener too), and
// the hello and metrics listeners when configured.
func (s *Server) Start() error {
	// Before anything is served: a store left over its limits by a
	// previous process is brought back within them first.
	if err := s.Housekeep(); err != nil {
		s.log.Warn("housekeeping", "err", err)
	}
	apiLn, err := s.listen("api", s.cfg.Server.API)
	if err != nil {
		return err
	}
	s.serveHTTP(apiLn, s.auditRefusals(s.Handler()))
	if gw := s.cfg.Server.AgentGateway; gw != "" && (gw != s.cfg.Server.API || strings.HasSuffix(gw, ":0")) {
		gwLn, err := s.listen("agent_gateway", gw)
		if err != nil {
			s.Close()
			return err
		}
		s.serveHTTP(newAdmission(maxAdmitting).listener(gwLn), s.auditRefusals(s.gatewayHandler()))
	}
	if h := s.cfg.Server.Hello; h != "" {
		ln, err := s.listen("hello", h)
		if err != nil {
			s.Close()
			return err
		}
		ho := s.helloOpts
		ho.Logger = s.log
		ho.Handle = s.handleHello
		hl := NewHelloListener(ho)
		s.mu.Lock()
		s.hello = hl
		s.mu.Unlock()
		s.wg.Add(1)
		go func() { defer s.wg.Done(); _ = hl.Serve(s.ctx, ln) }()
	}
	if m := s.cfg.Server.Metrics; m != "" {
		ln, err := s.listen("metrics", m)
		if err != nil {
			s.Close()
			return err
		}
		s.serveMetrics(ln)
	}
	s.stopDeny = make(chan struct{})
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.denials.run(s.stopDeny) }()
	s.log.Info("server started", "server_id", s.id, "store", s.st.Backend(), "lease_ttl", s.leaseTTL())
	s.jobs.resumeOrphans()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.keepLeases() }()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.serveRequests() }()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.housekeep(HousekeepingInterval) }()
	s.maint.Start(MaintenanceInterval)
	return nil
}

// DefaultReadTimeout bounds the read of one API request: the largest body is
// 64 KiB, which any client sends in far less.
const DefaultReadTimeout = 30 * time.Second

// MaintenanceInterval is how often the scheduler looks for due maintenance
// tasks; each task's own period comes from the config's maintenance block.
const MaintenanceInterval = time.Minute

func (s *Server) listen(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("server.%s = %q: %w: free the port or choose another address in the config", name, addr, err)
	}
	s.mu.Lock()
	s.listeners[name] = ln
	s.mu.Unlock()
	s.log.Info("listening", "listener", name, "addr", ln.Addr().String())
	return ln, nil
}

func (s *Server) serveHTTP(ln net.Listener, h http.Handler) {
	cfg := s.tlsConfig()
	s.serve(tls.NewListener(ln, cfg), h, cfg)
}

// serve runs an HTTP server for h on ln (already TLS when tlsCfg is set)
// with the server's read deadlines, until Close.
func (s *Server) serve(ln net.Listener, h http.Handler, tlsCfg *tls.Config) {
	hs := &http.Server{
		Handler:           h,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: min(10*time.Second, s.readTO),
		ReadTimeout:       s.readTO,
		IdleTimeout:       2 * time.Minute,
		ConnState:         releaseAdmitted, // the agent gateway's, see admission
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	s.mu.Lock()
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// Addr returns the address of a listener ("api", "agent_gateway", "hello",
// "metrics"), or nil when it is not open.
func (s *Server) Addr(name string) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ln, ok := s.listeners[name]; ok {
		return ln.Addr()
	}
	return nil
}

// URL is the API's base URL.
func (s *Server) URL() string {
	a := s.Addr("api")
	if a == nil {
		return ""
	}
	return "https://" + a.String()
}

// Close stops the listeners, ends agent sessions and waits for running jobs
// to stop. A job interrupted here is resumed at the next start.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	servers := s.servers
	s.mu.Unlock()
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, hs := range servers {
		_ = hs.Shutdown(ctx)
	}
	s.mu.Lock()
	for _, ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.maint.Stop()
	s.gw.closeAll()
	s.jobs.wait()
	if s.stopDeny != nil {
		close(s.stopDeny) // writes the counts not yet written
	}
	s.wg.Wait()
	return nil
}
