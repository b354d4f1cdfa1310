package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/agent"
)

func newAgentInfoCmd(a *app, f *agentFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Print what the host interface says about this PC's AMT, writing nothing to the firmware",
		Long: "Read the AMT facts of this PC (or of a simulated device) through the same backend as the agent:\n" +
			"versions, UUID, control mode, provisioning state, PKI DNS suffix, the trusted-root hash table,\n" +
			"the manageability flags and the wired LAN settings. Every call is a read; nothing is sent to\n" +
			"an RCS. With --capture the exchanges are recorded (secrets blanked) for `amtrcs sim --replay`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runAgentInfo(ctx, a, f)
		},
	}
}

func runAgentInfo(ctx context.Context, a *app, f *agentFlags) (err error) {
	backend, _, done, err := f.openBackend(a)
	if err != nil {
		return err
	}
	defer func() {
		if derr := done(); err == nil {
			err = derr
		}
	}()
	facts, err := agent.ReadFacts(ctx, backend)
	if err != nil {
		return verdictError(err)
	}
	if a.json {
		return a.printJSON(facts)
	}
	printFacts(a.stdout, facts)
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func printFacts(w io.Writer, f agent.Facts) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("Backend", f.Backend)
	row("AMT version", f.Version)
	row("Build", f.Build)
	row("SKU", f.SKU)
	for _, cv := range f.CodeVersions {
		switch cv.Description {
		case "AMT", "Build Number", "Sku":
		default:
			row(cv.Description, cv.Version)
		}
	}
	row("UUID", f.UUID.String())
	row("Control mode", f.ControlMode)
	row("Provisioning state", f.ProvisioningState)
	suffix := f.DNSSuffix
	if suffix == "" {
		suffix = "(none)"
	}
	row("PKI DNS suffix", suffix)
	if m := f.Manageability; m != nil {
		row("Operational", yesNo(m.Operational))
		row("TLS enforced", yesNo(m.TLSEnforced))
		row("New interface", fmt.Sprintf("%s (flags %s)", yesNo(m.NewInterface), m.Flags))
	} else {
		row("Manageability", "not read: "+f.ManageabilityError)
	}
	if l := f.LAN; l != nil {
		row("LAN (wired)", fmt.Sprintf("enabled %s, DHCP %s, link %s", yesNo(l.Enabled), yesNo(l.DHCP), map[bool]string{true: "up", false: "down"}[l.LinkUp]))
		row("  IPv4", l.IPv4)
		row("  MAC", l.MAC)
	} else {
		row("LAN (wired)", "not read: "+f.LANError)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nTrusted root hashes (%d)\n", len(f.Hashes))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tALGORITHM\tDEFAULT\tACTIVE\tHASH")
	for _, h := range f.Hashes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Name, h.Algorithm, yesNo(h.Default), yesNo(h.Active), strings.ToUpper(h.Hash))
	}
	tw.Flush()
}
