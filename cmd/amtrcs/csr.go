package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/dnssuffix"
	"github.com/amtrcs/amtrcs/store"
)

func init() { register(newCSRCmd) }

func newCSRCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "csr",
		Short: "Make the key and CSR for an AMT provisioning certificate; list, show and delete them",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newCSRNewCmd(a), newCSRListCmd(a), newCSRShowCmd(a), newCSRDeleteCmd(a))
	return cmd
}

func newCSRNewCmd(a *app) *cobra.Command {
	var (
		subj     csr.Subject
		host     string
		suffixes []string
		keyType  string
		out      string
		rf       remoteFlags
	)
	cmd := &cobra.Command{
		Use:   "new (--cn NAME | --host LABEL --device-suffix S...)",
		Short: "Generate a key (sealed in the store) and a PEM CSR for a provisioning certificate",
		Long: `new generates an RSA key, seals it in the store, and writes a PEM CSR to send to the
certificate vendor. Give the name with --cn, or give --host and the fleet's DNS suffixes
to have the planner choose it. When suffixes are given the name must cover them all.
Exit status: 0 made, 1 the name does not cover a suffix, 2 on invalid input.`,
		Example: `  amtrcs csr new --cn rcs.corp.example.com --org "Example Corp" --country US --out rcs.csr
  amtrcs csr new --host rcs --device-suffix corp.example.com --device-suffix eu.example.com --ou-marking`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			kt, err := csr.ParseKeyType(keyType)
			if err != nil {
				return usageError(err)
			}
			for _, s := range suffixes {
				if _, err := dnssuffix.ValidateName(s); err != nil {
					return usageError(fmt.Errorf("--device-suffix: %w", err))
				}
			}
			switch {
			case subj.CommonName != "" && host != "":
				return usageError(errors.New("--cn and --host exclude each other: give the name with --cn, or a host label with --device-suffix to have it planned"))
			case host != "":
				if len(suffixes) == 0 {
					return usageError(errors.New("--host needs --device-suffix: the planner puts the label in front of the fleet's domain"))
				}
				name, err := planName(host, suffixes)
				if err != nil {
					return err
				}
				subj.CommonName = name
			}
			if err := subj.Validate(); err != nil {
				return usageError(err)
			}
			// Judged before the store is opened or created: a name that
			// cannot serve the fleet leaves nothing behind.
			if err := csr.CheckCoverage(subj.CommonName, suffixes); err != nil {
				return verdictError(err)
			}
			w, done, err := a.csrBook(&rf, false)
			if err != nil {
				return err
			}
			defer done()
			rec, err := w.NewCSR(csr.CSRRequest{Subject: subj, KeyType: kt, Suffixes: suffixes})
			if err != nil {
				return workshopError(err)
			}
			if err := a.writeCSR(rec, out); err != nil {
				return err
			}
			a.csrNextSteps(rec, out, rf.server)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&subj.CommonName, "cn", "", "the certificate's name, such as rcs.corp.example.com")
	f.StringVar(&host, "host", "", "host label the planner puts in front of the fleet's domain, such as rcs")
	f.StringArrayVar(&suffixes, "device-suffix", nil, "a device DNS suffix the name must cover (repeatable)")
	f.StringVar(&subj.Organization, "org", "", "organization (O)")
	f.StringVar(&subj.Locality, "locality", "", "locality (L)")
	f.StringVar(&subj.State, "state", "", "state or province (ST)")
	f.StringVar(&subj.Country, "country", "", "two-letter country code (C)")
	f.StringVar(&keyType, "key", "rsa2048", "rsa2048, rsa3072 or rsa4096 (AMT takes no ECDSA)")
	f.BoolVar(&subj.OUMarking, "ou-marking", false, "add OU=Intel(R) Client Setup Certificate, the AMT marking for vendors that cannot add the AMT EKU")
	f.StringVar(&out, "out", "", "file to write the CSR to (default: stdout)")
	rf.register(cmd)
	return cmd
}

// planName asks the planner for the one name that covers every suffix.
func planName(host string, suffixes []string) (string, error) {
	p, err := dnssuffix.Plan(suffixes, host, amt.DefaultVersion)
	if err != nil {
		return "", usageError(err)
	}
	var problems []string
	for _, s := range p.Suffixes {
		if len(s.CoveredBy) == 0 {
			problems = append(problems, fmt.Sprintf("%s: %s; fix: %s", s.Suffix, s.Reason, s.Fix))
		}
	}
	if len(problems) > 0 {
		return "", verdictError(fmt.Errorf("no certificate name can cover every suffix:\n  %s", strings.Join(problems, "\n  ")))
	}
	if len(p.Certificates) != 1 {
		var names []string
		for _, c := range p.Certificates {
			names = append(names, fmt.Sprintf("%s (covers %s)", c.Name, strings.Join(c.Covers, ", ")))
		}
		return "", verdictError(fmt.Errorf("the suffixes need %d certificates: %s; fix: make one CSR per name, each with --cn NAME and the --device-suffix values it covers",
			len(p.Certificates), strings.Join(names, "; ")))
	}
	return p.Certificates[0].Name, nil
}

// csrNextSteps says, on stderr when the PEM went to stdout, which key was
// made, what to do next, and what the suffix rules say of the name.
func (a *app) csrNextSteps(rec *csr.CSRRecord, out, server string) {
	via := ""
	if server != "" {
		via = " --server " + server
	}
	w := a.stdout
	if out == "" || a.json {
		w = a.stderr
	}
	fmt.Fprintf(w, "  key:  %s, sealed in the store; key id (SHA-256 of the public key) %s\n", rec.KeyType, rec.KeyID)
	where := "the CSR above"
	if out != "" {
		where = out
	}
	fmt.Fprintf(w, "  next: send %s to the certificate vendor, then import what they send: amtrcs cert import%s FILE... (matched to this key by its key id)\n", where, via)
	fmt.Fprintf(w, "        made in error? amtrcs csr delete%s %s removes the CSR and its key\n", via, rec.ID)
	if zone, why, ok := dnssuffix.PrivateZone(rec.Subject.CommonName); ok {
		fmt.Fprintf(w, "  warning: %s is under .%s, %s: no public CA issues a certificate for it; "+
			"only a private CA can, and every device must then hold that CA's root hash (added in MEBx). "+
			"To buy one, make the CSR for a name under a public domain and set the devices' MEBx PKI DNS suffix to that domain (amtrcs suffix plan)\n",
			rec.Subject.CommonName, zone, why)
	}
}

// writeCSR prints a new CSR: the PEM to --out or stdout, the record with
// --json. The key never leaves the store.
func (a *app) writeCSR(rec *csr.CSRRecord, out string) error {
	if a.json {
		return a.printJSON(rec)
	}
	if out != "" {
		if err := os.WriteFile(out, []byte(rec.PEM), 0o644); err != nil {
			return usageError(fmt.Errorf("--out: %w", err))
		}
		fmt.Fprintf(a.stdout, "CSR %s for %s written to %s\n", rec.ID, rec.Subject.CommonName, out)
		return nil
	}
	fmt.Fprintf(a.stderr, "CSR %s for %s (PEM on stdout)\n", rec.ID, rec.Subject.CommonName)
	_, err := fmt.Fprint(a.stdout, rec.PEM)
	return err
}

func newCSRListCmd(a *app) *cobra.Command {
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the CSRs made in this store",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			w, done, err := a.csrBook(&rf, true)
			if err != nil {
				return err
			}
			defer done()
			recs, err := w.CSRs()
			if err != nil {
				return err
			}
			if a.json {
				if recs == nil {
					recs = []csr.CSRRecord{}
				}
				return a.printJSON(recs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCN\tKEY\tSTATUS\tCREATED\tNOTE")
			for _, r := range recs {
				note := ""
				switch {
				case r.IssuedAs != "":
					note = "issued as " + r.IssuedAs
				case r.Renews != "":
					note = "renews " + r.Renews
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Subject.CommonName, r.KeyType, r.Status, r.CreatedAt.Format(time.RFC3339), note)
			}
			return tw.Flush()
		},
	}
	rf.register(cmd)
	return cmd
}

func newCSRShowCmd(a *app) *cobra.Command {
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one CSR and its PEM",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			w, done, err := a.csrBook(&rf, true)
			if err != nil {
				return err
			}
			defer done()
			r, err := w.CSR(args[0])
			if err != nil {
				return workshopError(err)
			}
			if a.json {
				return a.printJSON(r)
			}
			n := r.Subject.Name()
			fmt.Fprintf(a.stdout, "id:       %s\nsubject:  %s\nkey:      %s\nstatus:   %s\ncreated:  %s\n",
				r.ID, n.String(), r.KeyType, r.Status, r.CreatedAt.Format(time.RFC3339))
			if len(r.Suffixes) > 0 {
				fmt.Fprintf(a.stdout, "suffixes: %s\n", strings.Join(r.Suffixes, ", "))
			}
			if r.Renews != "" {
				fmt.Fprintf(a.stdout, "renews:   %s\n", r.Renews)
			}
			if r.IssuedAs != "" {
				fmt.Fprintf(a.stdout, "issued:   %s\n", r.IssuedAs)
			}
			fmt.Fprint(a.stdout, "\n"+r.PEM)
			return nil
		},
	}
	rf.register(cmd)
	return cmd
}

func newCSRDeleteCmd(a *app) *cobra.Command {
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a pending CSR and its sealed key (audited); refused once a certificate matched it",
		Long: `delete removes a CSR still waiting for its certificate, and the private key sealed for it,
in one audited step: for a CSR made in error (a wrong name, a typo) that no vendor will issue.
A CSR whose certificate has been imported is refused: its key is the certificate's key.
Exit status: 0 deleted, 1 refused, 2 unknown id or no store.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			w, done, err := a.csrBook(&rf, true)
			if err != nil {
				return err
			}
			defer done()
			rec, err := w.DeleteCSR(args[0])
			if errors.Is(err, store.ErrNotFound) {
				return usageError(fmt.Errorf("%w; want the id of a CSR in this store; fix: see amtrcs csr list", err))
			}
			if err != nil {
				return workshopError(err)
			}
			if a.json {
				return a.printJSON(rec)
			}
			fmt.Fprintf(a.stdout, "deleted CSR %s for %s and its sealed key\n", rec.ID, rec.Subject.CommonName)
			return nil
		},
	}
	rf.register(cmd)
	return cmd
}
