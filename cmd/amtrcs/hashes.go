package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/spf13/cobra"
)

func init() { register(newHashesCmd) }

// hashRow is one line of the hashes report, text or JSON.
type hashRow struct {
	Name      string             `json:"name"`
	Algorithm amt.HashAlgorithm  `json:"algorithm"`
	Hash      string             `json:"hash"`
	Versions  []amt.VersionRange `json:"versions"`
	Profiles  []string           `json:"profiles"`
	InDebian  bool               `json:"in_debian"`
}

type hashesReport struct {
	AMTVersion string    `json:"amt_version,omitempty"`
	Profile    string    `json:"profile,omitempty"`
	Entries    []hashRow `json:"entries"`
}

func newHashesCmd(a *app) *cobra.Command {
	var version string
	cmd := &cobra.Command{
		Use:   "hashes",
		Short: "List the default trusted root hashes of AMT firmware",
		Long: "List the root-certificate hashes that AMT firmware carries as factory defaults, with the\n" +
			"versions that carry each. A provisioning certificate must chain to one of these roots\n" +
			"(or to a custom hash added in MEBx). With --amt-version, list only that version's table.\n" +
			"Profiles: " + strings.Join(amt.ProfileNames(), ", ") + ".",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep := hashesReport{Entries: []hashRow{}}
			filter := func(amt.CatalogEntry) bool { return true }
			if cmd.Flags().Changed("amt-version") {
				v, p, err := amt.ParseProfileVersion(version)
				if err != nil {
					return usageError(fmt.Errorf("--amt-version: %w", err))
				}
				rep.AMTVersion, rep.Profile = v.String(), p.Name
				filter = func(e amt.CatalogEntry) bool { return e.In(v) }
			}
			for _, e := range amt.Catalog() {
				if !filter(e) {
					continue
				}
				profiles := e.Carriers()
				if profiles == nil {
					profiles = []string{}
				}
				rep.Entries = append(rep.Entries, hashRow{
					Name: e.Name, Algorithm: e.Algorithm, Hash: e.HashHex(),
					Versions: e.Versions, Profiles: profiles, InDebian: e.InDebian,
				})
			}
			if a.json {
				return a.printJSON(rep)
			}
			printHashes(a, rep)
			return nil
		},
	}
	cmd.Flags().StringVar(&version, "amt-version", "", "AMT firmware version, for example 16 or 11.8.65; lists only that version's default table")
	return cmd
}

func printHashes(a *app, rep hashesReport) {
	if rep.AMTVersion != "" {
		fmt.Fprintf(a.stdout, "Default root hashes of AMT %s (profile %s): %d entries\n\n", rep.AMTVersion, rep.Profile, len(rep.Entries))
	} else {
		fmt.Fprintf(a.stdout, "Default root hashes of AMT firmware, all versions: %d entries\n\n", len(rep.Entries))
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tALGORITHM\tHASH\tVERSIONS\tPROFILES")
	for _, r := range rep.Entries {
		vs := make([]string, len(r.Versions))
		for i, v := range r.Versions {
			vs[i] = v.String()
		}
		profiles := strings.Join(r.Profiles, ", ")
		if profiles == "" {
			profiles = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Algorithm, r.Hash, strings.Join(vs, ", "), profiles)
	}
	tw.Flush()
}
