package main

import (
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/rcs"
)

func init() { register(newDeviceCmd) }

func newDeviceCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "device",
		Short: "List, show, activate, deactivate, forget and maintain devices through the RCS API",
	}
	cmd.AddCommand(newDeviceListCmd(a), newDeviceShowCmd(a), newDeviceJobCmd(a, rcs.JobActivate), newDeviceJobCmd(a, rcs.JobDeactivate), newDeviceForgetCmd(a), newMaintainCmd(a))
	return cmd
}

func newDeviceListCmd(a *app) *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the devices the RCS knows",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			c, err := a.apiClient(&f)
			if err != nil {
				return err
			}
			ds, err := list[rcs.DeviceRecord](c, "/api/v1/devices")
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(ds)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "DEVICE\tHOST\tAMT\tSTATE\tMODE\tPATH\tAGENT")
			for _, d := range ds {
				agent := "-"
				if d.Connected {
					agent = "connected"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, dash(d.Hostname), dash(d.Version), d.State, dash(d.ControlMode), dash(d.Path), agent)
			}
			return tw.Flush()
		},
	}
	f.register(cmd)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type deviceShow struct {
	rcs.DeviceDetail
	Password *rcs.DevicePassword `json:"password,omitempty"`
}

func newDeviceShowCmd(a *app) *cobra.Command {
	var f apiFlags
	var showPassword bool
	cmd := &cobra.Command{
		Use:   "show DEVICE",
		Short: "Show a device: state, profile, path, jobs and audit trail",
		Long:  "Show a device by UUID, host name or FQDN. With --show-password and an admin token it also\nprints the device's AMT admin password; the RCS records that it was read.",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := a.apiClient(&f)
			if err != nil {
				return err
			}
			var out deviceShow
			if err := c.do("GET", "/api/v1/devices/"+url.PathEscape(args[0]), nil, &out.DeviceDetail); err != nil {
				return err
			}
			if showPassword {
				var pw rcs.DevicePassword
				if err := c.do("GET", "/api/v1/devices/"+url.PathEscape(out.Device.ID)+"/password", nil, &pw); err != nil {
					return err
				}
				out.Password = &pw
			}
			if a.json {
				return a.printJSON(out)
			}
			printDevice(a, out)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&showPassword, "show-password", false, "also print the admin password (admin token only; audited)")
	return cmd
}

func printDevice(a *app, out deviceShow) {
	d := out.Device
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("Device", d.ID)
	row("Host", strings.TrimSpace(d.Hostname+" "+paren(d.FQDN)))
	row("AMT", strings.TrimSpace(d.Version+" "+paren(d.SKU)))
	row("DNS suffix", d.DNSSuffix)
	row("State", d.State)
	row("Mode", d.ControlMode)
	row("Profile", d.Profile)
	row("Path", d.Path)
	row("Certificate", d.CertID)
	row("Agent", map[bool]string{true: "connected", false: "not connected"}[d.Connected])
	row("Address", d.Address)
	if d.Error != "" {
		row("Error", d.Error)
		row("Fix", d.Fix)
	}
	if out.Password != nil {
		row("Admin user", out.Password.Username)
		row("Admin password", out.Password.Password)
	}
	tw.Flush()
	if len(out.Jobs) > 0 {
		fmt.Fprintln(a.stdout, "\nJobs:")
		tw = tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		for _, j := range out.Jobs {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", j.Created.Local().Format(time.DateTime), j.ID, j.Kind, j.Status, dash(j.Path), j.Duration(time.Now()).Round(time.Millisecond))
		}
		tw.Flush()
	}
	if len(out.Audit) > 0 {
		fmt.Fprintln(a.stdout, "\nAudit trail (newest first):")
		tw = tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		for _, e := range out.Audit {
			step := e.Detail["step"]
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format(time.DateTime), e.Actor, e.Action, e.Outcome, step)
		}
		tw.Flush()
	}
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

func newDeviceJobCmd(a *app, kind string) *cobra.Command {
	var f apiFlags
	var profile string
	var wait time.Duration
	var partial bool
	cmd := &cobra.Command{
		Use:   kind + " DEVICE",
		Short: map[string]string{rcs.JobActivate: "Activate a device through its connected agent", rcs.JobDeactivate: "Deactivate (unprovision, fully or with --partial) a device through its connected agent"}[kind],
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := a.apiClient(&f)
			if err != nil {
				return err
			}
			var body any
			if profile != "" {
				body = map[string]string{"profile": profile}
			}
			if kind == rcs.JobDeactivate {
				body = rcs.DeactivateRequest{Partial: partial}
				if !a.json {
					fmt.Fprintln(a.stdout, deactivatePlan(args[0], partial))
				}
			}
			var j rcs.Job
			if err := c.do("POST", "/api/v1/devices/"+url.PathEscape(args[0])+"/"+kind, body, &j); err != nil {
				return err
			}
			deadline := time.Now().Add(wait)
			for j.Status == rcs.JobRunning && time.Now().Before(deadline) {
				time.Sleep(250 * time.Millisecond)
				if err := c.do("GET", "/api/v1/jobs/"+j.ID, nil, &j); err != nil {
					return err
				}
			}
			if a.json {
				if err := a.printJSON(j); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "job %s: %s %s on %s", j.ID, j.Kind, j.Status, j.Device)
				if j.Path != "" {
					fmt.Fprintf(a.stdout, " (path %s, %d steps, %s)", j.Path, len(j.Steps), j.Duration(time.Now()).Round(time.Millisecond))
				}
				fmt.Fprintln(a.stdout)
				for _, n := range j.Notes {
					fmt.Fprintf(a.stdout, "  note: %s\n", n)
				}
			}
			switch j.Status {
			case rcs.JobFailed:
				msg := j.Error
				if j.Fix != "" && !strings.Contains(msg, j.Fix) {
					msg += "; fix: " + j.Fix
				}
				return verdictError(fmt.Errorf("%s", msg))
			case rcs.JobRunning:
				if wait > 0 {
					return verdictError(fmt.Errorf("job %s still running after %s: follow it with amtrcs device show %s", j.ID, wait, j.Device))
				}
			}
			return nil
		},
	}
	f.register(cmd)
	if kind == rcs.JobActivate {
		cmd.Flags().StringVar(&profile, "profile", "", "profile to apply (default: the device's, else its domain's)")
	} else {
		cmd.Flags().BoolVar(&partial, "partial", false, "partial unprovision (ACM only): the firmware keeps its admin account and password, host and domain name")
	}
	cmd.Flags().DurationVar(&wait, "wait", 5*time.Minute, "wait this long for the job to end (0: do not wait)")
	return cmd
}

// deactivatePlan says, before a deactivation starts, what it takes from
// the device besides its provisioning: the custom root hashes, which a
// certificate from a vendor outside the firmware's default list needs.
func deactivatePlan(device string, partial bool) string {
	kind := "full unprovision: the device returns to pre-provisioning and forgets its configuration, admin account and"
	if partial {
		kind = "partial unprovision: the device returns to pre-provisioning and keeps its admin account, host and domain name, but forgets the rest of its configuration and"
	}
	return fmt.Sprintf("deactivate %s, %s its custom root hashes (MEBx). If its activation needed one (a certificate whose root is not an AMT default), "+
		"add it again in MEBx before activating the device again; the result names it.", device, kind)
}

func newDeviceForgetCmd(a *app) *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "forget DEVICE",
		Short: "Drop the stored password and session of a device unprovisioned out of band (MEBx, CMOS clear)",
		Long: "Forget what the RCS holds of a device whose firmware no longer has the password in the store:\n" +
			"its session, maintenance state, sealed passwords and recorded identity (the AMT 19+ ROM\n" +
			"certificate: after a board replacement the next one is recorded). The RCS refuses to activate a device it\n" +
			"records as provisioned; forget it only after checking in MEBx that it is unprovisioned, since\n" +
			"forgetting a provisioned device loses its password. Its agent stays bound to it.",
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := a.apiClient(&f)
			if err != nil {
				return err
			}
			var d rcs.DeviceRecord
			if err := c.do("POST", "/api/v1/devices/"+url.PathEscape(args[0])+"/forget", nil, &d); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(d)
			}
			fmt.Fprintf(a.stdout, "device %s forgotten: no stored password; it is activated again when its agent reports\n", d.ID)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
