package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs/jobs"
)

// allTasks lists the task names maintain takes.
func allTasks() []string {
	return append(append([]string(nil), provisioning.DeviceTasks...), provisioning.TaskProvisioningCert)
}

// taskList is one line per task with what it does.
func taskList() string {
	var b strings.Builder
	for _, t := range allTasks() {
		fmt.Fprintf(&b, "  %-18s %s\n", t, provisioning.TaskDescriptions[t])
	}
	return b.String()
}

// newMaintainCmd is `amtrcs device maintain ID --task NAME`: a subcommand
// of the device group (device.go adds it).
func newMaintainCmd(a *app) *cobra.Command {
	var f apiFlags
	var task string
	var dryRun bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "maintain ID --task NAME [--dry-run]",
		Short: "Run a maintenance task on a device now: " + strings.Join(allTasks(), ", "),
		Long: "maintain asks the running server to run the task at once as a job of its scheduler: at most\n" +
			"one job runs on a device at a time, failures back off, and the outcome goes to the audit log.\n" +
			"On demand, the tls task re-issues the certificate even when it is not due.\n" +
			"The tasks:\n" + taskList() +
			"ID is the device's UUID, host name or FQDN.",
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if !provisioning.IsTask(task) {
				return usageError(fmt.Errorf("--task %q: want one of %s", task, strings.Join(allTasks(), ", ")))
			}
			if err := provisioning.CheckTaskOptions(task, provisioning.TaskOptions{DryRun: dryRun}); err != nil {
				return usageError(err)
			}
			c, err := a.apiClient(&f)
			if err != nil {
				return err
			}
			var rec jobs.Record
			body := map[string]any{"task": task}
			if dryRun {
				body["dry_run"] = true
			}
			if err := c.do("POST", "/api/v1/devices/"+url.PathEscape(args[0])+"/maintain", body, &rec); err != nil {
				return err
			}
			if wait > 0 {
				return a.waitMaintenance(c, rec, wait)
			}
			if a.json {
				return a.printJSON(rec)
			}
			what := rec.Task
			if rec.DryRun {
				what += " (dry run)"
			}
			fmt.Fprintf(a.stdout, "%s requested on device %s (job %s); see its outcome with amtrcs report health\n", what, rec.Device, rec.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&task, "task", "", "task name: "+strings.Join(allTasks(), ", "))
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the job's outcome and print it (exit 1 when it failed), for example 2m")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "with --task "+provisioning.TaskEnforce+": report the drift, change nothing")
	f.register(cmd)
	return cmd
}

// waitMaintenance follows a requested job until the scheduler has run it
// (its run count passed the request's and it is not running), and prints
// the outcome with its notes; a failed run exits 1 with its error.
func (a *app) waitMaintenance(c *apiClient, req jobs.Record, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		var r jobs.Record
		if err := c.do("GET", "/api/v1/jobs/"+url.PathEscape(req.ID), nil, &r); err != nil {
			return err
		}
		if r.RunsTotal > req.RunsTotal && r.State != jobs.StateRunning {
			if a.json {
				if err := a.printJSON(r); err != nil {
					return err
				}
			} else {
				outcome := "done"
				if r.Error != "" {
					outcome = "failed"
				}
				fmt.Fprintf(a.stdout, "%s on device %s: %s", r.Task, r.Device, outcome)
				if r.Changed {
					fmt.Fprint(a.stdout, " (changed)")
				}
				fmt.Fprintln(a.stdout)
				for _, n := range r.Notes {
					fmt.Fprintf(a.stdout, "  %s\n", n)
				}
			}
			if r.Error != "" {
				return verdictError(fmt.Errorf("%s on device %s: %s", r.Task, r.Device, r.Error))
			}
			return nil
		}
		if time.Now().After(deadline) {
			return verdictError(fmt.Errorf("%s on device %s: no outcome within %s (job %s is %s); want the job run; fix: check that the device's agent is connected (amtrcs agents list), then look again with amtrcs report health", req.Task, req.Device, wait, req.ID, r.State))
		}
		time.Sleep(250 * time.Millisecond)
	}
}
