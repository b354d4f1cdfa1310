package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/rcs/health"
	"github.com/amtrcs/amtrcs/store"
)

func init() { register(newReportCmd) }

// reportClock is the time a report from the store is made at; tests pin it.
var reportClock = time.Now

func newReportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Reports on the fleet",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newReportHealthCmd(a))
	return cmd
}

func newReportHealthCmd(a *app) *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Per device: last contact, last error, AMT vs OS FQDN, TLS days left, clock drift, password age; failing first, each with the task that fixes it",
		Long: "health reads the store of --data-dir (the server must be stopped), or asks the running server when --server is given.\n" +
			"Only the running server probes each device's network path (reach); from the store the report says it did not.\n" +
			"Thresholds follow the maintenance block of --config (defaults: TLS 30 days, password rotation 90 days).\n" +
			"Exit status 1 when a device is failing or a provisioning certificate has expired.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rep health.Report
			if cmd.Flags().Changed("server") {
				c, err := a.apiClient(&f)
				if err != nil {
					return err
				}
				if err := c.do("GET", "/api/v1/reports/health", nil, &rep); err != nil {
					return err
				}
			} else {
				m, err := a.maintenanceConfig()
				if err != nil {
					return err
				}
				st, err := a.openExistingStore()
				if errors.Is(err, store.ErrLocked) {
					return usageError(fmt.Errorf("%w; or ask the running server: --server URL", err))
				}
				if err != nil {
					return err
				}
				defer st.Close()
				in, err := health.Load(st)
				if err != nil {
					return fmt.Errorf("read the store: %w", err)
				}
				// No probe: the CLI does not dial devices. in.Reach stays
				// nil, and the report says reach was not probed.
				rep = health.Build(in, reportClock(), health.PolicyFrom(m))
			}
			if a.json {
				if err := a.printJSON(rep); err != nil {
					return err
				}
			} else if err := health.WriteText(a.stdout, rep); err != nil {
				return err
			}
			expired := false
			for _, c := range rep.ProvisioningCerts {
				expired = expired || c.Level == "expired"
			}
			if rep.Failing > 0 || expired {
				return verdictError(nil)
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

// maintenanceConfig is the maintenance block of --config, or the defaults.
func (a *app) maintenanceConfig() (config.Maintenance, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return config.Maintenance{}, err
	}
	return cfg.Maintenance, nil
}
