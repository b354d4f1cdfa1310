package health

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText prints the report as `amtrcs report health` shows it: one line
// per device, failing first, each problem under its device with the task
// that fixes it, then the provisioning certificates.
func WriteText(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "STATUS\tDEVICE\tLAST CONTACT\tAMT FQDN\tOS FQDN\tTLS DAYS\tCLOCK DRIFT\tPASSWORD AGE\tREACH\n")
	for _, d := range r.Devices {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Status, d.Name, ago(d.LastContact, r.Generated),
			dash(d.AMTFQDN), dash(d.OSFQDN), intOrDash(d.TLSDaysLeft), drift(d.ClockDriftSeconds), days(d.PasswordAgeDays), reach(r, d))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, d := range r.Devices {
		if len(d.Problems) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%s):\n", d.Name, d.ID)
		for _, p := range d.Problems {
			fix := "fix: amtrcs device maintain " + d.ID + " --task " + p.Task
			switch {
			case p.Task != "" && failedForWantOfAgent(p.Detail):
				// Running the task again fails the same way until an
				// agent connects: say how to get one.
				fix = "fix: start the agent on that PC (install it there as a service with amtrcs agent install), or wait for it to connect; " +
					"the RCS runs " + p.Task + " again once the device is reachable"
			case p.Task == "":
				fix = "fix: " + p.Fix
			case p.Fix != "":
				fix += "; " + p.Fix
			}
			fmt.Fprintf(w, "  - %s: %s\n    %s\n", p.Check, p.Detail, fix)
		}
	}
	if len(r.ProvisioningCerts) > 0 {
		fmt.Fprintln(w, "\nProvisioning certificates:")
		for _, c := range r.ProvisioningCerts {
			line := fmt.Sprintf("  %s %s: %s, %s left (until %s)", c.ID, c.Subject, c.Level, count(c.DaysLeft, "day", "days"), c.NotAfter.UTC().Format("2006-01-02"))
			if c.Message != "" {
				line += "\n    " + c.Message
			}
			fmt.Fprintln(w, line)
		}
	}
	if !r.ReachProbed && len(r.Devices) > 0 {
		fmt.Fprintln(w, "\n"+NotProbed)
	}
	_, err := fmt.Fprintf(w, "\n%s, %d failing\n", count(len(r.Devices), "device", "devices"), r.Failing)
	return err
}

// failedForWantOfAgent tells a task that failed because the RCS had no way
// to the device (no agent connected, and no network path), whatever
// refusal said so: the reachability refusals all say "no agent".
func failedForWantOfAgent(detail string) bool {
	return strings.Contains(detail, "no agent connected") || strings.Contains(detail, "no agent is connected")
}

// count is n with the noun in the number it takes: "1 device", "2 devices".
func count(n int, one, many string) string {
	if n == 1 || n == -1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// reach is the REACH column: the probe's state, "not probed" for a device
// with a certificate from the internal CA in a report that probed nothing,
// else "-" (a device with no network path is not probed).
func reach(r Report, d DeviceHealth) string {
	switch {
	case d.Reach != "":
		return d.Reach
	case !r.ReachProbed && d.TLSDaysLeft != nil:
		return "not probed"
	}
	return "-"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func intOrDash(n *int) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprint(*n)
}

func days(n *int) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprintf("%dd", *n)
}

func drift(s *float64) string {
	if s == nil {
		return "-"
	}
	return (time.Duration(*s * float64(time.Second))).Round(time.Second).String()
}

func ago(t *time.Time, now time.Time) string {
	if t == nil {
		return "never"
	}
	d := now.Sub(*t)
	if d < time.Minute {
		return "just now"
	}
	return strings.TrimSuffix(roundDays(d), "0s") + " ago"
}
