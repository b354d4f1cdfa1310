package main

import (
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/rcs"
)

func init() {
	register(newAgentsCmd)
	register(newTokensCmd)
}

func newAgentsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agents",
		Short: "List, revoke and rebind enrolled agents through the RCS API",
		Long: "An agent credential speaks for the device of its first report. A report for another\n" +
			"device, or a second credential for a bound device, is refused and shown under REFUSED;\n" +
			"rebind moves an agent to a device (after the PC was enrolled again), revoke disconnects\n" +
			"an agent at once and keeps it out.",
	}
	cmd.AddCommand(newAgentsListCmd(a), newAgentsRevokeCmd(a), newAgentsRebindCmd(a))
	return cmd
}

func newAgentsListCmd(a *app) *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the enrolled agents, the device each speaks for, and refused reports",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			c, err := a.apiClient(&f)
			if err != nil {
				return err
			}
			var as []rcs.AgentInfo
			if err := c.do("GET", "/api/v1/agents", nil, &as); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(as)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "AGENT\tHOST\tDEVICE\tSTATE\tLAST SEEN\tREFUSED")
			for _, ag := range as {
				state := "-"
				switch {
				case ag.Revoked:
					state = "revoked"
				case ag.Connected:
					state = "connected"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ag.ID, dash(ag.Hostname), dash(ag.Device), state, when(ag.LastSeen), dash(ag.Refused))
			}
			return tw.Flush()
		},
	}
	f.register(cmd)
	return cmd
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

func newAgentsRevokeCmd(a *app) *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "revoke AGENT",
		Short: "Revoke an agent credential: the agent is disconnected at once and cannot reconnect",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return a.agentAction(&f, "/api/v1/agents/"+url.PathEscape(args[0])+"/revoke", nil, "revoked")
		},
	}
	f.register(cmd)
	return cmd
}

func newAgentsRebindCmd(a *app) *cobra.Command {
	var f apiFlags
	var device string
	cmd := &cobra.Command{
		Use:   "rebind AGENT [--device UUID]",
		Short: "Move an agent to the device it now runs on (without --device: bind it at its next report)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return a.agentAction(&f, "/api/v1/agents/"+url.PathEscape(args[0])+"/rebind", map[string]string{"device": device}, "rebound")
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&device, "device", "", "UUID of the device the agent speaks for from now on")
	return cmd
}

// agentAction posts an admin action on an agent and prints the agent.
func (a *app) agentAction(f *apiFlags, path string, body any, verb string) error {
	c, err := a.apiClient(f)
	if err != nil {
		return err
	}
	var ag rcs.AgentInfo
	if err := c.do("POST", path, body, &ag); err != nil {
		return err
	}
	if a.json {
		return a.printJSON(ag)
	}
	fmt.Fprintf(a.stdout, "agent %s %s: device %s\n", ag.ID, verb, dash(ag.Device))
	return nil
}

func newTokensCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Make, list and revoke agent enrollment tokens through the RCS API",
	}
	cmd.AddCommand(newTokensNewCmd(a), newTokensListCmd(a), newTokensRevokeCmd(a))
	return cmd
}

func newTokensNewCmd(a *app) *cobra.Command {
	var (
		f   apiFlags
		ttl time.Duration
	)
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Make a one-time enrollment token for an agent (shown once)",
		Long: `new asks the server for a one-time enrollment token: an agent trades it, at its first
connection, for a credential of its own that speaks for its PC alone. The token is printed
on stdout alone (so that TOKEN=$(amtrcs tokens new) works) and never again: the server
keeps only its hash. Its id, expiry and the next step go to stderr.`,
		Example: `  amtrcs tokens new --ttl 48h
  amtrcs agent install --server https://rcs.corp.example.com:8444 --token "$(amtrcs tokens new)"`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			c, err := a.apiClient(&f)
			if err != nil {
				return err
			}
			var tok rcs.EnrollToken
			if err := c.do("POST", "/api/v1/agents/tokens", rcs.TokenRequest{TTL: ttl.String()}, &tok); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(tok)
			}
			fmt.Fprintln(a.stdout, tok.Token)
			fmt.Fprintf(a.stderr, "enrollment token %s, valid until %s, for one agent; it is not shown again.\n", tok.ID, tok.Expires.Local().Format(time.RFC3339))
			fmt.Fprintf(a.stderr, "next, on the PC: amtrcs agent install --server <agent gateway URL> --token <the token>\n")
			return nil
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token waits for its agent (at most 720h)")
	f.register(cmd)
	return cmd
}

func newTokensListCmd(a *app) *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the enrollment tokens (never the tokens themselves)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			c, err := a.apiClient(&f)
			if err != nil {
				return err
			}
			var ts []rcs.EnrollTokenInfo
			if err := c.do("GET", "/api/v1/agents/tokens", nil, &ts); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(ts)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TOKEN\tCREATED BY\tEXPIRES\tUSED BY\tREVOKED")
			for _, t := range ts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, dash(t.CreatedBy), when(t.Expires), dash(t.UsedBy), when(t.Revoked))
			}
			return tw.Flush()
		},
	}
	f.register(cmd)
	return cmd
}

func newTokensRevokeCmd(a *app) *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "revoke TOKEN-ID",
		Short: "Revoke an enrollment token: it buys no agent any more",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := a.apiClient(&f)
			if err != nil {
				return err
			}
			if err := c.do("POST", "/api/v1/agents/tokens/"+url.PathEscape(args[0])+"/revoke", nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "enrollment token %s revoked\n", args[0])
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
