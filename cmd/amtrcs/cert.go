package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/store"
)

func init() { register(newCertCmd) }

// certClock is the time certificates are judged at; tests pin it.
var certClock = time.Now

func newCertCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Check, import, list, export and renew AMT provisioning certificates",
		Long: `The certificate workshop: check what a vendor delivered against the rules of each AMT
version, import it (matched to its pending CSR, or with the key of a PFX), list the
provisioning certificates with their expiry, export them for other tools, and renew.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newCertCheckCmd(a), newCertImportCmd(a), newCertListCmd(a), newCertExportCmd(a), newCertRenewCmd(a))
	return cmd
}

// checkFlags are the options of a check, shared by check and import.
type checkFlags struct {
	suffixes     []string
	versions     []string
	trustHashes  []string
	passwordFile string
}

func (f *checkFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.suffixes, "device-suffix", nil, "a device DNS suffix the certificate must cover (repeatable)")
	fl.StringArrayVar(&f.versions, "amt-version", nil, "an AMT version to judge for, such as 11 or 16.1 (repeatable; default: every profile)")
	fl.StringArrayVar(&f.trustHashes, "trust-hash", nil, "a custom root hash added in MEBx, hex SHA-256/384/1 (repeatable, at most 3)")
	fl.StringVar(&f.passwordFile, "password-file", "", "file holding the PFX password")
}

func (f *checkFlags) options() (csr.CheckOptions, error) {
	opts, err := csr.ParseCheckOptions(certClock(), f.suffixes, f.versions, f.trustHashes)
	if err != nil {
		return opts, usageError(fmt.Errorf("--%w", err))
	}
	return opts, nil
}

// read is the start check and import share: the flags are judged before
// any file is opened, then the files are read with the PFX password.
func (f *checkFlags) read(paths []string) (csr.CheckOptions, *csr.Delivery, error) {
	opts, err := f.options()
	if err != nil {
		return opts, nil, err
	}
	pw, err := readPasswordFile(f.passwordFile)
	if err != nil {
		return opts, nil, err
	}
	d, err := readDelivery(paths, pw)
	return opts, d, err
}

// readPasswordFile reads a password from a file, without its line ending.
// The password itself is never printed, even in an error.
func readPasswordFile(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usageError(fmt.Errorf("--password-file: %w; want a readable file holding the PFX password; "+
			"fix: write the password to that file, for example (umask 077; openssl rand -base64 24 > %s), or correct the path", err, filepath.Base(path)))
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// readDelivery reads the files given, mapping unreadable input to exit 2.
func readDelivery(paths []string, password string) (*csr.Delivery, error) {
	d, err := csr.ReadDelivery(paths, csr.DecodeOptions{Password: password})
	if err != nil {
		return nil, usageError(err)
	}
	return d, nil
}

// checkOutput is the JSON form of `cert check`.
type checkOutput struct {
	Sources  []string   `json:"sources"`
	Skipped  []string   `json:"skipped,omitempty"`
	RootFrom string     `json:"root_from,omitempty"`
	Unused   []string   `json:"unused,omitempty"`
	Report   csr.Report `json:"report"`
}

func newCertCheckCmd(a *app) *cobra.Command {
	var cf checkFlags
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   "check FILE...",
		Short: "Report whether a certificate delivery can provision AMT, per AMT version",
		Long: `check reads a delivery (.cer/.crt/.pem in PEM or DER, .p7b/.p7c, .zip of those, or
.pfx/.p12 with --password-file), builds the chain whatever the file order, completes a
missing root from the Mozilla roots, and reports every certificate, the root's
thumbprints and AMT catalog name, the AMT marking, server-auth EKU, key sizes, SHA-1
use, validity now and in 30 days, and suffix coverage; then a verdict per AMT version.
It stores nothing.
Exit status: 0 when usable for every version checked, 1 when not, 2 on unreadable input.`,
		Example: `  amtrcs cert check delivery.zip --device-suffix corp.example.com
  amtrcs cert check leaf.crt chain.p7b --amt-version 11 --amt-version 16 --json
  amtrcs cert check test.pem --trust-hash 3F2A...C9 --amt-version 19`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if rf.remote() {
				return a.remoteCertCheck(&rf, &cf, args)
			}
			opts, d, err := cf.read(args)
			if err != nil {
				return err
			}
			var leafKey any
			if d.Key != nil {
				leafKey = d.Key.Public()
			}
			ch, err := csr.BuildChain(d.Certificates, csr.ChainOptions{Leaf: leafKey})
			if err != nil {
				return usageError(err)
			}
			out := checkOutput{Sources: d.Sources, Skipped: d.Skipped, RootFrom: ch.RootFrom, Report: csr.Check(ch.Certs, opts)}
			for _, c := range ch.Unused {
				out.Unused = append(out.Unused, c.Subject.String())
			}
			return a.writeCheck(out)
		},
	}
	cf.register(cmd)
	rf.register(cmd)
	return cmd
}

// writeCheck prints a check and exits 1 when the chain is not usable.
func (a *app) writeCheck(out checkOutput) error {
	var err error
	if a.json {
		err = a.printJSON(out)
	} else {
		err = writeCheckReport(a.stdout, out)
	}
	if err != nil {
		return err
	}
	if !out.Report.Usable {
		return verdictError(nil)
	}
	return nil
}

func writeCheckReport(w io.Writer, o checkOutput) error {
	var b strings.Builder
	r := o.Report
	b.WriteString("Read:\n")
	for _, s := range o.Sources {
		fmt.Fprintf(&b, "  %s\n", s)
	}
	for _, s := range o.Skipped {
		fmt.Fprintf(&b, "  skipped %s\n", s)
	}
	b.WriteString("\nChain (leaf to root):\n")
	for i, c := range r.Certificates {
		fmt.Fprintf(&b, "  %d. %s: %s\n", i+1, c.Role, c.Subject)
		fmt.Fprintf(&b, "     issuer:     %s\n", c.Issuer)
		fmt.Fprintf(&b, "     serial:     %s\n", c.Serial)
		fmt.Fprintf(&b, "     key:        %s %d\n", c.KeyType, c.KeyBits)
		fmt.Fprintf(&b, "     signature:  %s\n", c.SignatureAlgorithm)
		fmt.Fprintf(&b, "     valid:      %s to %s\n", c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
	}
	if o.RootFrom != "" {
		fmt.Fprintf(&b, "  (root added from the %s)\n", o.RootFrom)
	}
	for _, u := range o.Unused {
		fmt.Fprintf(&b, "  not on the chain: %s\n", u)
	}
	if r.Root != nil {
		b.WriteString("\nRoot:\n")
		fmt.Fprintf(&b, "  subject:  %s\n", r.Root.Subject)
		fmt.Fprintf(&b, "  SHA-1:    %s\n", r.Root.SHA1)
		fmt.Fprintf(&b, "  SHA-256:  %s\n", r.Root.SHA256)
		fmt.Fprintf(&b, "  SHA-384:  %s\n", r.Root.SHA384)
		switch {
		case r.Root.CatalogName != "":
			fmt.Fprintf(&b, "  AMT name: %s\n", r.Root.CatalogName)
		case r.Root.CustomName != "":
			fmt.Fprintf(&b, "  AMT name: none in the catalog; matches %s\n", r.Root.CustomName)
		default:
			b.WriteString("  AMT name: not trusted by AMT firmware\n")
		}
	} else if r.MissingIssuer != "" {
		fmt.Fprintf(&b, "\nRoot: none; missing issuer %s\n", r.MissingIssuer)
	}
	b.WriteString("\nChecks:\n")
	for _, f := range r.Checks {
		fmt.Fprintf(&b, "  %-5s %s: %s\n", strings.ToUpper(f.Status), f.Check, f.Detail)
	}
	b.WriteString("\nVerdict:\n")
	for _, v := range r.Verdicts {
		if v.Usable {
			fmt.Fprintf(&b, "  %-8s usable\n", v.Profile)
			continue
		}
		fmt.Fprintf(&b, "  %-8s NOT usable\n", v.Profile)
		for _, rs := range v.Reasons {
			fmt.Fprintf(&b, "           - %s\n", rs.Error())
		}
	}
	if r.Usable {
		b.WriteString("\nUsable for every AMT version checked.\n")
	} else {
		var bad []string
		for _, v := range r.Verdicts {
			if !v.Usable {
				bad = append(bad, v.Profile)
			}
		}
		fmt.Fprintf(&b, "\nNot usable for %s.\n", strings.Join(bad, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// workshop opens the store, creating it on first use, and a workshop over
// it; readWorkshop opens only a store that exists.
func (a *app) workshop() (*csr.Workshop, func(), error) { return a.workshopMode(false) }

func (a *app) readWorkshop() (*csr.Workshop, func(), error) { return a.workshopMode(true) }

func (a *app) workshopMode(mustExist bool) (*csr.Workshop, func(), error) {
	st, err := a.openStoreMode(mustExist)
	if err != nil {
		return nil, nil, err
	}
	w := csr.NewWorkshop(st, csr.WorkshopOptions{Now: certClock, Actor: "cli"})
	return w, func() { st.Close() }, nil
}

// workshopError gives an error of the workshop its exit status: a refusal
// is a verdict (1), bad input or an unknown id a usage error (2).
func workshopError(err error) error {
	var (
		re  *csr.RefusedError
		ce  *csr.CoverageError
		rsn amt.RuleError
	)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, csr.ErrUnreadable), errors.Is(err, store.ErrNotFound):
		return usageError(err)
	case errors.As(err, &re), errors.As(err, &ce), errors.As(err, &rsn):
		return verdictError(err)
	}
	return err
}

func newCertImportCmd(a *app) *cobra.Command {
	var cf checkFlags
	var rf remoteFlags
	var force bool
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import a vendor's delivery as a provisioning certificate",
		Long: `import reads a delivery like check does, finds its private key (the pending CSR whose
public key the leaf holds, or the key inside a PFX, which is then sealed in the store),
and refuses, with the reasons of check, a chain that no AMT version can use unless
--force. It stores the chain as a provisioning certificate; the CSR becomes issued.
Exit status: 0 imported, 1 refused, 2 on unreadable input.`,
		Example: `  amtrcs cert import delivery.zip
  amtrcs cert import rcs.pfx --password-file pfx.pass
  amtrcs cert import leaf.crt intermediate.crt --trust-hash 3F2A...C9`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if rf.remote() {
				return a.remoteCertImport(&rf, &cf, force, args)
			}
			opts, d, err := cf.read(args)
			if err != nil {
				return err
			}
			w, done, err := a.workshop()
			if err != nil {
				return err
			}
			defer done()
			res, err := w.Import(d, csr.ImportOptions{Force: force, Check: opts})
			if err != nil {
				return workshopError(err)
			}
			csrID := ""
			if res.CSR != nil {
				csrID = res.CSR.ID
			}
			return a.writeImported(res.Cert, res.Report, res.Chain.RootFrom, csrID)
		},
	}
	cf.register(cmd)
	rf.register(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "store a chain that no AMT version can use")
	return cmd
}

// writeImported reports an import, done here or by a running server.
func (a *app) writeImported(pc *csr.ProvisioningCert, report csr.Report, rootFrom, csrID string) error {
	if a.json {
		return a.printJSON(struct {
			Cert   *csr.ProvisioningCert `json:"certificate"`
			Report csr.Report            `json:"report"`
		}{pc, report})
	}
	fmt.Fprintf(a.stdout, "imported %s: %s, root %s, not after %s, %d certificates\n",
		pc.ID, pc.CommonName, pc.RootName, pc.NotAfter.Format(time.RFC3339), len(pc.ChainDER))
	if rootFrom != "" {
		fmt.Fprintf(a.stdout, "  root added from the %s\n", rootFrom)
	}
	if csrID != "" {
		fmt.Fprintf(a.stdout, "  key: CSR %s (now issued)\n", csrID)
	} else {
		fmt.Fprintln(a.stdout, "  key: from the PFX, sealed in the store")
	}
	if pc.Renews != "" {
		fmt.Fprintf(a.stdout, "  supersedes %s\n", pc.Renews)
	}
	for _, v := range report.Verdicts {
		if !v.Usable {
			fmt.Fprintf(a.stdout, "  %s: NOT usable\n", v.Profile)
			for _, rs := range v.Reasons {
				fmt.Fprintf(a.stdout, "    - %s\n", rs.Error())
			}
		}
	}
	if pc.Forced {
		fmt.Fprintln(a.stdout, "  stored with --force: no AMT version checked can use it")
	}
	return nil
}

func newCertListCmd(a *app) *cobra.Command {
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List provisioning certificates and pending CSRs with their expiry",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if rf.remote() {
				return a.remoteCertList(&rf)
			}
			w, done, err := a.readWorkshop()
			if err != nil {
				return err
			}
			defer done()
			entries, err := w.List()
			if err != nil {
				return err
			}
			return a.writeCertList(entries)
		},
	}
	rf.register(cmd)
	return cmd
}

// writeCertList prints the rows of the workshop, read here or from a server.
func (a *app) writeCertList(entries []csr.Entry) error {
	if a.json {
		return a.printJSON(entries)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCN\tROOT\tNOT AFTER\tDAYS LEFT\tSTATUS")
	for _, e := range entries {
		na, days := "-", "-"
		if e.NotAfter != nil {
			na = e.NotAfter.Format("2006-01-02")
			days = fmt.Sprint(*e.DaysLeft)
		}
		root := e.RootName
		if root == "" {
			root = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.CommonName, root, na, days, e.Status)
	}
	return tw.Flush()
}

func newCertExportCmd(a *app) *cobra.Command {
	var format, out, passwordFile string
	cmd := &cobra.Command{
		Use:   "export ID --format pfx|pem|console-pem --out FILE",
		Short: "Write a provisioning certificate as PFX, chain PEM, or console PEM",
		Long: `export writes a stored provisioning certificate:
  pfx          key and chain, encrypted with AES-256 (needs --password-file)
  pem          the chain, leaf first, no key
  console-pem  what AMT consoles load: root first, then intermediates top-down; no leaf, no key`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			f, err := csr.ParseExportFormat(format)
			if err != nil {
				return usageError(err)
			}
			if out == "" {
				return usageError(errors.New("--out is required: give the file to write"))
			}
			pw, err := readPasswordFile(passwordFile)
			if err != nil {
				return err
			}
			w, done, err := a.readWorkshop()
			if err != nil {
				return err
			}
			defer done()
			data, err := w.Export(args[0], f, pw)
			if err != nil {
				if _, ok := amt.AsRefusal(err); ok {
					return usageError(err)
				}
				return workshopError(err)
			}
			// A PFX holds the private key: it is written to a new file of
			// mode 0600 and renamed over out, because os.WriteFile keeps the
			// mode of a file that already exists, readable by others or not.
			mode := os.FileMode(0o644)
			if f == csr.ExportPFX {
				mode = 0o600
			}
			if err := writeFileAtomic(out, data, mode); err != nil {
				return usageError(fmt.Errorf("--out: %w", err))
			}
			fmt.Fprintf(a.stdout, "wrote %s (%s, %d bytes)\n", out, f, len(data))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&format, "format", "", "pfx, pem or console-pem")
	fl.StringVar(&out, "out", "", "file to write")
	fl.StringVar(&passwordFile, "password-file", "", "file holding the password of the PFX to write")
	return cmd
}

func newCertRenewCmd(a *app) *cobra.Command {
	var out string
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   "renew ID",
		Short: "Make a new key and CSR with the same subject as a provisioning certificate",
		Long: `renew makes the CSR for a certificate's successor: a new key, sealed in the store, and
the same subject. The certificate stays active until the successor is imported; it is
then marked superseded.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if rf.remote() {
				return a.remoteCertRenew(&rf, args[0], out)
			}
			w, done, err := a.workshop()
			if err != nil {
				return err
			}
			defer done()
			rec, err := w.Renew(args[0])
			if err != nil {
				return workshopError(err)
			}
			return a.writeCSR(rec, out)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the CSR to (default: stdout)")
	rf.register(cmd)
	return cmd
}
