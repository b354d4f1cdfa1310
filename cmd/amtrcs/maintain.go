package main

import (
	"fmt"
	"net/url"
	"strings"

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
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "with --task "+provisioning.TaskEnforce+": report the drift, change nothing")
	f.register(cmd)
	return cmd
}
