package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
)

func init() { register(newServeCmd) }

type serveFlags struct {
	identityRoots []string
	clientCAs     []string
	debug         bool
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

func runServe(ctx context.Context, cmd *cobra.Command, a *app, f *serveFlags) error {
	cfg, err := a.loadConfig()
	if err != nil {
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
		return usageError(err)
	}
	fmt.Fprintf(a.stderr, "amtrcs serving: API %s, agent gateway %s", srv.URL(), "https://"+addrString(srv, "agent_gateway"))
	if h := srv.Addr("hello"); h != nil {
		fmt.Fprintf(a.stderr, ", hello listener %s", h)
	}
	if m := srv.Addr("metrics"); m != nil {
		fmt.Fprintf(a.stderr, ", metrics http://%s/metrics", m)
	}
	fmt.Fprintf(a.stderr, "\n  data directory %s; admin token in %s; server certificate %s\n",
		cfg.DataDir, filepath.Join(cfg.DataDir, rcs.AdminTokenFile), filepath.Join(cfg.DataDir, rcs.ServerCertFile))
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
