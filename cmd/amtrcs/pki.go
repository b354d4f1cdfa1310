package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/pki"
	"github.com/amtrcs/amtrcs/store"
	"github.com/spf13/cobra"
)

func init() { register(newPKICmd) }

func newPKICmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pki",
		Short: "The internal CA that issues AMT TLS, agent and server certificates",
	}
	cmd.AddCommand(newPKIBundleCmd(a))
	return cmd
}

// pkiBundleReport is the --json form of pki bundle. It lists public
// certificates only.
type pkiBundleReport struct {
	File         string          `json:"file"`
	Mode         string          `json:"mode"`
	Created      bool            `json:"created"`
	Certificates []pkiBundleCert `json:"certificates"`
}

type pkiBundleCert struct {
	Role      string    `json:"role"` // root or intermediate
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	SHA256    string    `json:"sha256"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

func newPKIBundleCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "bundle --out FILE",
		Short: "Write the CA's root and intermediates as PEM, root first, for consoles and KVM viewers",
		Long: "bundle writes the certificates a console or KVM viewer must trust to talk TLS to configured\n" +
			"AMT devices: the root first, then the intermediates top-down. With the embedded CA (the\n" +
			"default) it opens the store in --data-dir and creates the CA on first use; with\n" +
			"ca.mode = \"external\" in --config it asks the step-ca, pinned by its root fingerprint.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError(errors.New("pki bundle: --out is missing: give the file to write, e.g. --out amtrcs-ca.pem"))
			}
			ca, closeCA, err := a.openCA(cmd)
			if err != nil {
				return err
			}
			defer closeCA()
			if err := writeFileAtomic(out, ca.Bundle(), 0o644); err != nil {
				return usageError(fmt.Errorf("pki bundle: write %s: %v: give a writable path for --out", out, err))
			}
			rep := pkiBundleReport{File: out, Mode: string(ca.Mode()), Created: ca.Created()}
			for i, c := range append(ca.Roots(), ca.Intermediates()...) {
				role := "intermediate"
				if i == 0 {
					role = "root"
				}
				rep.Certificates = append(rep.Certificates, pkiBundleCert{Role: role, Subject: c.Subject.CommonName, Issuer: c.Issuer.CommonName,
					SHA256: pki.Fingerprint(c), NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC()})
			}
			if a.json {
				return a.printJSON(rep)
			}
			if rep.Created {
				fmt.Fprintf(a.stdout, "created a new embedded CA: give its root to every console that manages AMT over TLS\n")
			}
			fmt.Fprintf(a.stdout, "wrote %s: %d certificates, root first (%s CA)\n", out, len(rep.Certificates), rep.Mode)
			for _, c := range rep.Certificates {
				fmt.Fprintf(a.stdout, "  %-12s  %s\n  %-12s  sha256 %s, valid until %s\n", c.Role, c.Subject, "", c.SHA256, c.NotAfter.Format("2006-01-02"))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the PEM bundle to")
	return cmd
}

// openCA opens the CA the configuration names: the embedded one over the
// store of the data directory, or the external step-ca. The returned func
// closes what was opened.
func (a *app) openCA(cmd *cobra.Command) (*pki.CA, func(), error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	dataDir := cfg.DataDir
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if cfg.CA.Mode != config.CAExternal {
		st, err := openStoreWith(cfg, dataDir, slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
		if err != nil {
			return nil, nil, err
		}
		ca, err := openConfiguredCA(cmd.Context(), cfg, dataDir, st, log)
		if err != nil {
			st.Close()
			return nil, nil, err
		}
		return ca, func() { ca.Close(); st.Close() }, nil
	}
	ca, err := openConfiguredCA(cmd.Context(), cfg, dataDir, nil, log)
	if err != nil {
		return nil, nil, err
	}
	return ca, func() { ca.Close() }, nil
}

// openConfiguredCA opens the CA of the configuration: the embedded one,
// whose keys st seals, or the external step-ca (st unused). serve and
// pki bundle share it so that both reach the same authority.
func openConfiguredCA(ctx context.Context, cfg *config.Config, dataDir string, st *store.Store, log *slog.Logger) (*pki.CA, error) {
	pcfg := pki.Config{
		Mode:     pki.Mode(cfg.CA.Mode),
		DataDir:  dataDir,
		Validity: pki.Validity{AMTTLS: cfg.CA.AMTTLSValidity, Agent: cfg.CA.AgentValidity, Server: cfg.CA.ServerValidity},
		Logger:   log,
	}
	var sealer pki.Sealer
	if pcfg.Mode == pki.External {
		pw, err := cfg.CA.JWKPassword.Read(os.LookupEnv)
		if err != nil {
			return nil, usageError(fmt.Errorf("external CA provisioner password: %v", err))
		}
		defer clear(pw)
		pcfg.External = pki.ExternalCA{URL: cfg.CA.URL, Provisioner: cfg.CA.Provisioner, Password: pw, RootFingerprint: cfg.CA.RootFingerprint}
	} else {
		sealer = st
		if cfg.Store.Backend == config.StorePostgres {
			// The CA's tables sit beside the store's, so any server signs.
			pcfg.Postgres = cfg.Store.URL
		}
	}
	ca, err := pki.Open(ctx, pcfg, sealer, nil)
	if err != nil {
		return nil, usageError(err)
	}
	return ca, nil
}

// writeFileAtomic replaces path with data so that a reader never sees half
// a bundle.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
