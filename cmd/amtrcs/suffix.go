package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/dnssuffix"
)

func init() { register(newSuffixCmd) }

func newSuffixCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "suffix",
		Short: "Check certificate names against device DNS suffixes, and plan which certificate to buy",
		Long: `The AMT firmware configures a device only when the provisioning certificate's
name (CN or a SAN DNS name) fits the device's DNS suffix (DHCP option 15, or the
MEBx PKI DNS suffix). These commands apply that rule before a certificate is bought.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newSuffixCheckCmd(a), newSuffixPlanCmd(a))
	return cmd
}

// suffixVersion reads --amt-version; empty means amt.DefaultVersion.
func suffixVersion(s string) (amt.Version, error) {
	if s == "" {
		return amt.DefaultVersion, nil
	}
	v, err := amt.ParseVersion(s)
	if err != nil {
		return amt.Version{}, usageError(fmt.Errorf("--amt-version: %w", err))
	}
	return v, nil
}

func newSuffixCheckCmd(a *app) *cobra.Command {
	var certName, deviceSuffix, version string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Say whether a certificate name can configure devices with a DNS suffix, and why",
		Long: `check applies the AMT suffix rule of one firmware version to a certificate name and a
device DNS suffix, and prints the verdict, the reason and the fix.
Exit status: 0 when the name matches, 1 when it does not, 2 on invalid input.`,
		Example: `  amtrcs suffix check --cert-name rcs01.vprodemo.com --device-suffix amt.vprodemo.com
  amtrcs suffix check --cert-name '*.corp.example.co.uk' --device-suffix corp.local --amt-version 11 --json`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if certName == "" {
				return usageError(errors.New("--cert-name is required: give the certificate's CN or SAN DNS name, such as rcs.corp.example.com"))
			}
			if deviceSuffix == "" {
				return usageError(errors.New("--device-suffix is required: give the devices' DNS suffix (DHCP option 15 or MEBx PKI DNS suffix), such as corp.example.com"))
			}
			if _, err := dnssuffix.ValidateCertName(certName); err != nil {
				return usageError(fmt.Errorf("--cert-name: %w", err))
			}
			if _, err := dnssuffix.ValidateName(deviceSuffix); err != nil {
				return usageError(fmt.Errorf("--device-suffix: %w", err))
			}
			v, err := suffixVersion(version)
			if err != nil {
				return err
			}
			r := dnssuffix.Match(certName, deviceSuffix, v)
			if a.json {
				err = a.printJSON(r)
			} else {
				err = writeSuffixCheck(a.stdout, r)
			}
			if err != nil {
				return err
			}
			if !r.Match {
				return verdictError(nil)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&certName, "cert-name", "", "the certificate's CN or SAN DNS name, such as rcs.corp.example.com or *.corp.example.com")
	f.StringVar(&deviceSuffix, "device-suffix", "", "the devices' DNS suffix: DHCP option 15, or the MEBx PKI DNS suffix")
	f.StringVar(&version, "amt-version", amt.DefaultVersion.String(), "AMT firmware version whose rule applies, such as 11.8 or 16.1")
	return cmd
}

func writeSuffixCheck(w io.Writer, r dnssuffix.Result) error {
	verdict := "no"
	if r.Match {
		verdict = "yes"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "match:  %s\n", verdict)
	fmt.Fprintf(&b, "rule:   %s (AMT %s)\n", r.Rule, r.AMTVersion)
	if r.Registrable != "" {
		if r.Rule == dnssuffix.RuleOutsideTLDTable {
			fmt.Fprintf(&b, "own domain: %s\n", r.Registrable)
		} else {
			fmt.Fprintf(&b, "cut to: %s\n", r.Registrable)
		}
	}
	fmt.Fprintf(&b, "reason: %s\n", r.Reason)
	if r.Fix != "" {
		fmt.Fprintf(&b, "fix:    %s\n", r.Fix)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func newSuffixPlanCmd(a *app) *cobra.Command {
	var suffixes []string
	var host, version string
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Propose the fewest certificate names that configure a fleet's DNS suffixes",
		Long: `plan takes the DNS suffixes of a fleet (DHCP option 15 or MEBx PKI DNS suffix) and
proposes the fewest provisioning certificate names to buy, with a table of which
suffixes each covers. Suffixes no public certificate can cover (.local, single
labels) are listed with the fix. Give the oldest AMT version of the fleet.
Exit status: 0 when every suffix is covered, 1 when some cannot be, 2 on invalid input.`,
		Example: `  amtrcs suffix plan --device-suffix amt.vprodemo.com --device-suffix vprodemo.com --device-suffix eu.vprodemo.com
  amtrcs suffix plan --device-suffix a.example.com,b.example.net,corp.local --host amt --json`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			v, err := suffixVersion(version)
			if err != nil {
				return err
			}
			p, err := dnssuffix.Plan(suffixes, host, v)
			if err != nil {
				return usageError(err)
			}
			if a.json {
				err = a.printJSON(p)
			} else {
				err = writeSuffixPlan(a.stdout, p)
			}
			if err != nil {
				return err
			}
			if !p.Complete() {
				return verdictError(nil)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&suffixes, "device-suffix", nil, "a device DNS suffix of the fleet; repeat or separate with commas")
	f.StringVar(&host, "host", "rcs", "host label put in front of each proposed domain")
	f.StringVar(&version, "amt-version", amt.DefaultVersion.String(), "oldest AMT firmware version of the fleet, such as 11.8")
	return cmd
}

func writeSuffixPlan(w io.Writer, p dnssuffix.PlanResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Certificate plan for %d device %s, AMT %s (%s rule)\n\n",
		len(p.Suffixes), suffixPlural(len(p.Suffixes), "suffix", "suffixes"), p.AMTVersion, p.Rule)
	switch len(p.Certificates) {
	case 0:
		b.WriteString("No public certificate can configure any of these suffixes.\n")
	default:
		fmt.Fprintf(&b, "Buy %d %s:\n", len(p.Certificates), suffixPlural(len(p.Certificates), "certificate", "certificates"))
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, c := range p.Certificates {
			if c.Registrable != "" {
				fmt.Fprintf(tw, "  %s\tcut to %s\tcovers %s\n", c.Name, c.Registrable, strings.Join(c.Covers, ", "))
			} else {
				fmt.Fprintf(tw, "  %s\tcovers %s\n", c.Name, strings.Join(c.Covers, ", "))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SUFFIX\tCOVERED BY")
	var uncovered []dnssuffix.SuffixCoverage
	for _, s := range p.Suffixes {
		by := strings.Join(s.CoveredBy, ", ")
		if by == "" {
			by = "none (" + s.Rule + ")"
			uncovered = append(uncovered, s)
		}
		fmt.Fprintf(tw, "%s\t%s\n", s.Suffix, by)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(uncovered) > 0 {
		b.WriteString("\nNot coverable by a public certificate:\n")
		for _, s := range uncovered {
			fmt.Fprintf(&b, "  %s\n    fix: %s\n", s.Reason, s.Fix)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func suffixPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
