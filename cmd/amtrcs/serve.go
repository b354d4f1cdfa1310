package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

func init() { register(newServeCmd) }

type serveFlags struct {
	identityRoots []string
	clientCAs     []string
	debug         bool
	// Listener addresses that override the config's server block.
	listen, agentListen, helloListen, metricsListen string
}

func newServeCmd(a *app) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the RCS: REST API, agent gateway and hello listener",
		Long: "Run the remote configuration server. Without --config it runs on embedded defaults: the\n" +
			"store and a generated KEK in --data-dir, HTTPS on 127.0.0.1:8443 (API) and 127.0.0.1:8444\n" +
			"(agent gateway) with a self-signed certificate kept in the data directory, no hello listener.\n" +
			"On first start it writes an admin token to <data-dir>/admin-token (mode 0600).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, cmd, a, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.identityRoots, "device-identity-root", nil, "PEM file of a root that AMT 19 device TLS certificates chain to, besides Intel's On-Die CA (for example the simulator's, from amtrcs sim --identity-root); repeatable")
	fl.StringArrayVar(&f.clientCAs, "client-ca", nil, "PEM file of a CA whose client certificates authenticate API clients as admins; repeatable")
	fl.BoolVar(&f.debug, "debug", false, "log every step")
	fl.StringVar(&f.listen, "listen", "", "HOST:PORT of the HTTPS API (overrides server.api; default 127.0.0.1:8443)")
	fl.StringVar(&f.agentListen, "agent-listen", "", "HOST:PORT of the agent gateway (overrides server.agent_gateway; default 127.0.0.1:8444)")
	fl.StringVar(&f.helloListen, "hello-listen", "", "HOST:PORT of the legacy hello listener (overrides server.hello; default: none)")
	fl.StringVar(&f.metricsListen, "metrics-listen", "", "HOST:PORT of the plain-HTTP /metrics listener (overrides server.metrics; default: none)")
	return cmd
}

// readPEMCerts reads a root or CA file with csr's size limit and decoder
// (PEM, or DER), the one reader of certificate files.
func readPEMCerts(path string) ([]*x509.Certificate, error) {
	b, err := csr.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	certs, err := csr.ParsePEMOrDER(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}

func runServe(ctx context.Context, cmd *cobra.Command, a *app, f *serveFlags) (err error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	if err := f.applyListeners(cmd, cfg); err != nil {
		return err
	}
	level := slog.LevelInfo
	if f.debug {
		level = slog.LevelDebug
	}
	log, err := a.newLogger(level)
	if err != nil {
		return err
	}
	opts := rcs.Options{Config: cfg, Logger: log}
	for _, p := range f.identityRoots {
		certs, err := readPEMCerts(p)
		if err != nil {
			return usageError(fmt.Errorf("--device-identity-root: %w", err))
		}
		opts.Engine.DeviceIdentityRoots = append(opts.Engine.DeviceIdentityRoots, certs...)
	}
	// Extra roots do not replace Intel's On-Die root, which the engine
	// always trusts: real AMT 19 devices keep working.
	if len(f.clientCAs) > 0 {
		opts.ClientCAs = x509.NewCertPool()
		for _, p := range f.clientCAs {
			certs, err := readPEMCerts(p)
			if err != nil {
				return usageError(fmt.Errorf("--client-ca: %w", err))
			}
			for _, c := range certs {
				opts.ClientCAs.AddCert(c)
			}
		}
	}
	// A start that fails leaves the data directory as it found it: no
	// KEK, CA or admin token of a server that never served. The flags'
	// files, a lost store and the ports are checked before anything is
	// created, so that the common failures create nothing at all;
	// whatever fails later is undone.
	if err := checkStoreNotLost(cfg.DataDir); err != nil {
		return usageError(err)
	}
	if db := filepath.Join(cfg.DataDir, storeFile); fileExists(db) {
		if err := store.CheckFile(db); err != nil {
			return usageError(err)
		}
	}
	if err := checkListeners(cfg); err != nil {
		return err
	}
	created := snapshotCreated(cfg.DataDir, cfg.KEKPath())
	serving := false
	defer func() {
		// A store held by another process is that process's: nothing of
		// the directory is this start's to remove.
		if err != nil && !serving && !errors.Is(err, store.ErrLocked) {
			if undone := created.undo(); len(undone) > 0 {
				fmt.Fprintf(a.stderr, "amtrcs: the start failed; removed what it had created: %s\n", strings.Join(undone, ", "))
			}
		}
	}()
	st, err := openStoreWith(cfg, cfg.DataDir, log)
	if err != nil {
		return err
	}
	defer st.Close()
	opts.Store = st
	// The internal CA issues each device's AMT TLS certificate after
	// activation and again when maintenance renews it.
	ca, err := openConfiguredCA(ctx, cfg, cfg.DataDir, st, log)
	if err != nil {
		return err
	}
	defer ca.Close()
	opts.Engine.TLS = provisioning.TLSOptions{Issuer: ca, RenewBefore: cfg.Maintenance.TLSRenewBefore}
	srv, err := rcs.New(opts)
	if err != nil {
		return usageError(err)
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		return usageError(err)
	}
	serving = true
	fmt.Fprintf(a.stderr, "amtrcs serving: API %s, agent gateway %s", srv.URL(), "https://"+addrString(srv, "agent_gateway"))
	if h := srv.Addr("hello"); h != nil {
		fmt.Fprintf(a.stderr, ", hello listener %s", h)
	}
	if m := srv.Addr("metrics"); m != nil {
		fmt.Fprintf(a.stderr, ", metrics http://%s/metrics", m)
	}
	fmt.Fprintf(a.stderr, "\n  dashboard %s/ui/ (log in with the admin token)\n  data directory %s; admin token in %s; server certificate %s\n",
		srv.URL(), cfg.DataDir, filepath.Join(cfg.DataDir, rcs.AdminTokenFile), filepath.Join(cfg.DataDir, rcs.ServerCertFile))
	<-ctx.Done()
	log.Info("stopping")
	return srv.Close()
}

func addrString(srv *rcs.Server, name string) string {
	if a := srv.Addr(name); a != nil {
		return a.String()
	}
	return srv.Addr("api").String()
}

// applyListeners puts the listener flags given over the config's server
// block, each checked as HOST:PORT before anything is opened.
func (f *serveFlags) applyListeners(cmd *cobra.Command, cfg *config.Config) error {
	for _, l := range []struct {
		flag string
		val  string
		dst  *string
	}{{"listen", f.listen, &cfg.Server.API}, {"agent-listen", f.agentListen, &cfg.Server.AgentGateway},
		{"hello-listen", f.helloListen, &cfg.Server.Hello}, {"metrics-listen", f.metricsListen, &cfg.Server.Metrics}} {
		if !cmd.Flags().Changed(l.flag) {
			continue
		}
		if _, _, err := net.SplitHostPort(l.val); err != nil {
			return usageError(fmt.Errorf("--%s %q: %v; want HOST:PORT, such as 127.0.0.1:8443 or :8443", l.flag, l.val, err))
		}
		*l.dst = l.val
	}
	return nil
}

// checkListeners binds each listener address once and lets it go, so that
// a port in use is refused before the store, the KEK or the CA is made.
// (The server binds again when it starts; a port taken in between is
// caught there, and what the start created is removed.)
func checkListeners(cfg *config.Config) error {
	seen := map[string]bool{}
	for _, l := range []struct{ name, addr string }{{"api", cfg.Server.API}, {"agent_gateway", cfg.Server.AgentGateway},
		{"hello", cfg.Server.Hello}, {"metrics", cfg.Server.Metrics}} {
		if l.addr == "" || seen[l.addr] {
			continue
		}
		seen[l.addr] = true
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			return usageError(fmt.Errorf("server.%s = %q: %w; want a free address; fix: stop what holds the port (another amtrcs serve?), "+
				"or choose another with --%s or in the config's server block", l.name, l.addr, err, listenFlag[l.name]))
		}
		ln.Close()
	}
	return nil
}

// listenFlag is the serve flag of each listener of the config.
var listenFlag = map[string]string{"api": "listen", "agent_gateway": "agent-listen", "hello": "hello-listen", "metrics": "metrics-listen"}

// startFiles is what existed of a data directory (and of a KEK file kept
// outside it) before a start, so that a failed start can remove exactly
// what it created and nothing else.
type startFiles struct {
	dataDir    string
	dirExisted bool
	entries    map[string]bool
	kek        string
	kekExisted bool
}

func snapshotCreated(dataDir, kek string) *startFiles {
	s := &startFiles{dataDir: dataDir, entries: map[string]bool{}, kek: kek}
	if des, err := os.ReadDir(dataDir); err == nil {
		s.dirExisted = true
		for _, de := range des {
			s.entries[de.Name()] = true
		}
	}
	_, err := os.Stat(kek)
	s.kekExisted = err == nil
	return s
}

// undo removes what appeared since the snapshot and says what it removed.
func (s *startFiles) undo() []string {
	var removed []string
	if !s.kekExisted {
		if err := os.Remove(s.kek); err == nil {
			removed = append(removed, s.kek)
		}
	}
	des, err := os.ReadDir(s.dataDir)
	if err != nil {
		return removed
	}
	for _, de := range des {
		if s.entries[de.Name()] {
			continue
		}
		p := filepath.Join(s.dataDir, de.Name())
		if err := os.RemoveAll(p); err == nil {
			removed = append(removed, p)
		}
	}
	if !s.dirExisted {
		if err := os.Remove(s.dataDir); err == nil {
			removed = append(removed, s.dataDir)
		}
	}
	return removed
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
