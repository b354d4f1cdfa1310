package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/rcs/health"
	"github.com/amtrcs/amtrcs/rcs/jobs"
	"github.com/amtrcs/amtrcs/rcs/rcsstack"
	"github.com/amtrcs/amtrcs/store"
)

func init() { register(newDemoCmd) }

type demoFlags struct {
	devices  int
	versions []string
	keep     bool
	serve    bool
}

// demoSuffix is the DNS suffix of the demo fleet; the deliberate failure
// sits under demoBadSuffix, which the demo certificate does not cover.
const (
	demoSuffix    = "demo.example.com"
	demoBadSuffix = "branch.example.net"
)

func newDemoCmd(a *app) *cobra.Command {
	var f demoFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the RCS, a simulated fleet and its agents; activate the fleet and maintain a few devices",
		Long: "Start the server on embedded defaults (loopback ports), make a demo provisioning chain\n" +
			"(a vendor root, intermediate and leaf made now; the root added to the simulated devices as\n" +
			"a custom trusted hash, as MEBx allows), import it through the certificate workshop,\n" +
			"configure a domain and a profile, then activate a simulated fleet through in-process agents\n" +
			"over real websockets. One device is mis-configured on purpose (a DNS suffix the certificate\n" +
			"does not cover) and must fail with its reason and fix. Then three devices (one per AMT\n" +
			"version) keep their agents connected and are maintained through the API: a firmware clock\n" +
			"set back is synchronised, a PC gets TLS and is renamed so that network-sync copies the name\n" +
			"into AMT and re-issues its certificate, and a password is rotated; each fix is checked on the\n" +
			"device, and the health report follows. Exit 0 when everything else worked, 1 otherwise.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd, a, &f) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.devices, "devices", 25, "number of simulated devices (at least 2)")
	fl.StringSliceVar(&f.versions, "amt-versions", []string{"11.8.55", "16.1.27", "19.0.5"}, "AMT versions of the fleet, in turn")
	fl.BoolVar(&f.keep, "keep", false, "keep the demo's data directory (default: a temporary one, removed at the end, unless --data-dir is given)")
	fl.BoolVar(&f.serve, "serve", false, "after the demo, keep the server running (until interrupted) so that amtrcs device list|show can look at the fleet")
	return cmd
}

// demoResult is one row of the final table.
type demoResult struct {
	Device   string        `json:"device"`
	UUID     string        `json:"uuid"`
	Version  string        `json:"version"`
	Path     string        `json:"path,omitempty"`
	Result   string        `json:"result"`
	Time     time.Duration `json:"time_ns"`
	Reason   string        `json:"reason,omitempty"`
	Fix      string        `json:"fix,omitempty"`
	Expected string        `json:"expected"` // "success" or "failure"
}

func runDemo(cmd *cobra.Command, a *app, f *demoFlags) error {
	if f.devices < 2 {
		return usageError(fmt.Errorf("--devices %d: want at least 2 (one is the deliberate failure)", f.devices))
	}
	var versions []amt.Version
	for _, s := range f.versions {
		v, err := amt.ParseVersion(strings.TrimSpace(s))
		if err != nil {
			return usageError(err)
		}
		versions = append(versions, v)
	}
	dir := a.dataDir
	if !cmd.Flags().Changed("data-dir") {
		d, err := os.MkdirTemp("", "amtrcs-demo-")
		if err != nil {
			return err
		}
		dir = d
		if !f.keep {
			defer os.RemoveAll(dir)
		}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fmt.Fprintf(a.stderr, "demo: data directory %s\n", dir)

	// 1. The provisioning chain, made now like a vendor delivery, and the
	// simulated devices' TLS identities, which chain to the simulator's
	// CA: a real RCS would not trust it, the demo does explicitly.
	vendor, err := rcsstack.NewVendor("amtrcs Demo", demoSuffix, time.Now())
	if err != nil {
		return err
	}
	rootHash := vendor.RootHash()
	idCA, err := amtsim.DefaultIdentityCA()
	if err != nil {
		return err
	}
	// 2. The server on loopback ports of its choosing, the chain imported
	// through the certificate workshop, and a profile and a domain made
	// through the API: the setup the bench runs too. The internal CA,
	// embedded over the demo's store as serve opens it, issues the AMT
	// TLS certificates that maintenance configures.
	prof := provisioning.DefaultProfile("demo")
	prof.TLS = provisioning.ProfileTLS{} // configured later, by the maintenance part
	stack, err := rcsstack.Start(ctx, rcsstack.Options{Dir: dir, Suffix: demoSuffix, Vendor: vendor, DomainName: "demo", Profile: prof,
		NoSync: true, IdentityRoots: []*x509.Certificate{idCA.Cert}, MaxJobs: 64, Actor: "demo", Logger: log,
		Prepare: func(ctx context.Context, st *store.Store, cfg *config.Config, opts *rcs.Options) (io.Closer, error) {
			ca, err := openConfiguredCA(ctx, cfg, dir, st, log)
			if err != nil {
				return nil, err
			}
			opts.Engine.TLS = provisioning.TLSOptions{Issuer: ca}
			return ca, nil
		}})
	if err != nil {
		return err
	}
	defer stack.Close()
	srv, tlsCfg := stack.Server, stack.TLS
	fmt.Fprintf(a.stderr, "demo: provisioning certificate %s (CN rcs.%s) imported; root SHA-256 %X added to the devices as a custom hash\n", stack.CertID, demoSuffix, rootHash.Hash[:8])
	api := &apiClient{base: srv.URL(), token: stack.AdminToken, http: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: time.Minute}}
	fmt.Fprintf(a.stderr, "demo: API %s; profile \"demo\" (ACM) and domain \"demo\" (%s) configured\n", srv.URL(), demoSuffix)
	fleet, err := runDemoFleet(ctx, a, f, dir, srv, api, versions, idCA, rootHash, tlsCfg)
	if err != nil || !f.serve {
		return err
	}
	return serveAfterDemo(cmd.Context(), a, &demoMaint{srv: srv, api: api, tlsCfg: tlsCfg, gateway: "https://" + srv.Addr("agent_gateway").String(), dir: dir}, fleet)
}

// serveAfterDemo keeps the demo's server up for the dashboard and the
// device commands, with the simulated PCs and their agents connected, so
// that activate, deactivate and every maintenance task work on them; and
// says how to call them: the token and the server's certificate are in the
// data directory, where those commands look for them.
func serveAfterDemo(ctx context.Context, a *app, dm *demoMaint, fleet []demoMember) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	url, dir := dm.srv.URL(), dm.dir
	stops := make([]func(), len(fleet))
	defer func() {
		for _, s := range stops {
			if s != nil {
				s()
			}
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	for i, m := range fleet {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := dm.connectAny(ctx, m.dev, m.host, m.host+"."+demoSuffix)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", m.host, err))
				return
			}
			stops[i] = s
		}()
	}
	wg.Wait()
	fmt.Fprintf(a.stdout, "\nThe server keeps running at %s until you press Ctrl-C, with the agents of %d simulated PCs connected.\n", url, len(fleet)-len(failed))
	for _, f := range failed {
		fmt.Fprintf(a.stdout, "  not connected: %s\n", f)
	}
	fmt.Fprintf(a.stdout, "Dashboard: %s/ui/ (log in with the token in %s)\nIn another terminal:\n", url, filepath.Join(dir, rcs.AdminTokenFile))
	fmt.Fprintf(a.stdout, "  amtrcs --data-dir %s device list --server %s\n", dir, url)
	fmt.Fprintf(a.stdout, "  amtrcs --data-dir %s device show pc-001 --server %s --show-password\n", dir, url)
	fmt.Fprintf(a.stdout, "  amtrcs --data-dir %s device maintain pc-001 --task enforce --dry-run --server %s\n", dir, url)
	fmt.Fprintf(a.stdout, "  amtrcs --data-dir %s report health --server %s\n", dir, url)
	<-ctx.Done()
	return nil
}

func runDemoFleet(ctx context.Context, a *app, f *demoFlags, dir string, srv *rcs.Server, api *apiClient, versions []amt.Version, idCA *amtsim.IdentityCA, root amt.RootHash, tlsCfg *tls.Config) ([]demoMember, error) {
	// 4. The fleet: one device in the middle has a suffix the certificate
	// does not cover.
	bad := f.devices / 2
	fleet := make([]demoMember, f.devices)
	for i := range fleet {
		suffix := demoSuffix
		if i == bad {
			suffix = demoBadSuffix
		}
		host := fmt.Sprintf("pc-%03d", i+1)
		d, err := amtsim.New(amtsim.Config{Version: versions[i%len(versions)], DHCPSuffix: suffix, OSHostname: host, Identity: idCA,
			CustomHashes: []amtsim.CustomHash{{Name: root.Name, Algorithm: root.Algorithm, Hash: root.Hash}}})
		if err != nil {
			return nil, err
		}
		fleet[i] = demoMember{dev: d, host: host}
	}
	fmt.Fprintf(a.stderr, "demo: %d simulated devices (AMT %s), %s mis-configured on purpose (suffix %s)\n", f.devices, joinVersions(versions), fleet[bad].host, demoBadSuffix)

	// 5. Their agents, in process, over real websockets.
	bar := newProgress(a.stderr, f.devices, "activating")
	finished := 0
	gateway := "https://" + srv.Addr("agent_gateway").String()
	var wg sync.WaitGroup
	var mu sync.Mutex
	agentErrs := make([]error, f.devices)
	for i, m := range fleet {
		token, _, _, err := srv.NewEnrollToken("demo", time.Hour)
		if err != nil {
			return nil, err
		}
		// The agent keeps its credential as the CLI's does: it speaks for
		// this device only, and the maintenance phase reconnects with it.
		ag, err := agent.New(agent.Options{Server: gateway, EnrollToken: token, StateFile: demoAgentState(dir, m.dev), Hostname: m.host, FQDN: m.host + "." + demoSuffix,
			Backend: agent.OnDevice(m.host, m.dev), TLS: tlsCfg, Once: true,
			Events: func(wire.Event) {}})
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := ag.Run(ctx)
			mu.Lock()
			agentErrs[i] = err
			finished++
			bar.Set(finished)
			mu.Unlock()
		}()
	}
	wg.Wait()

	// 6. The table, from what the server recorded.
	var rows []demoResult
	failures := 0
	for i, m := range fleet {
		id := m.dev.ID().String()
		r := demoResult{Device: m.host, UUID: id, Version: m.dev.Version().String(), Expected: "success"}
		if i == bad {
			r.Expected = "failure"
		}
		var d rcs.DeviceRecord
		if err := srv.Store().Get(store.Devices, id, &d); err == nil && d.LastJob != "" {
			if j, err := srv.Job(d.LastJob); err == nil {
				r.Path, r.Time, r.Reason, r.Fix = j.Path, j.Duration(time.Now()), j.Error, j.Fix
				r.Result = j.Status
			}
		}
		if r.Result == "" {
			r.Result = "no job"
			if agentErrs[i] != nil {
				r.Reason = agentErrs[i].Error()
			}
		}
		if st, mode := m.dev.State(); r.Result == rcs.JobDone && (st != amt.PostProvisioning || mode != amt.ControlACM) {
			r.Result, r.Reason = "mismatch", fmt.Sprintf("the server says done, the device says %s %s", st, mode)
		}
		ok := (r.Expected == "success") == (r.Result == rcs.JobDone)
		if !ok {
			failures++
		}
		rows = append(rows, r)
	}
	if failures > 0 {
		if a.json {
			if err := a.printJSON(demoOutput{Activation: rows}); err != nil {
				return nil, err
			}
		} else {
			printDemoTable(a.stdout, rows)
		}
		return nil, verdictError(fmt.Errorf("demo: %d devices did not end as expected", failures))
	}
	if !a.json {
		printDemoTable(a.stdout, rows)
		fmt.Fprintf(a.stdout, "\n%d of %d devices activated; the deliberate failure was refused with its reason and fix, as expected.\n", f.devices-1, f.devices)
	}

	// 7. Maintenance of a few of them, through their agents.
	var picks []*amtsim.Device
	var hosts []string
	for i, m := range fleet {
		if rows[i].Result == rcs.JobDone {
			picks, hosts = append(picks, m.dev), append(hosts, m.host)
		}
	}
	maint, rep, merr := runDemoMaintenance(ctx, a, srv, api, tlsCfg, dir, demoPicks(picks, hosts, versions))
	if a.json {
		if err := a.printJSON(demoOutput{Activation: rows, Maintenance: maint, Health: rep}); err != nil {
			return nil, err
		}
	}
	return fleet, merr
}

// demoOutput is the demo's --json answer.
type demoOutput struct {
	Activation  []demoResult   `json:"activation"`
	Maintenance []demoMaintRow `json:"maintenance,omitempty"`
	Health      *health.Report `json:"health,omitempty"`
}

func joinVersions(vs []amt.Version) string {
	var s []string
	for _, v := range vs {
		s = append(s, v.String())
	}
	return strings.Join(s, ", ")
}

func printDemoTable(w io.Writer, rows []demoResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tAMT\tPATH\tRESULT\tTIME")
	for _, r := range rows {
		res := r.Result
		if r.Expected == "failure" && r.Result == rcs.JobFailed {
			res = "failed (expected)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Device, r.Version, dash(r.Path), res, r.Time.Round(time.Millisecond))
	}
	tw.Flush()
	for _, r := range rows {
		if r.Result != rcs.JobDone {
			fmt.Fprintf(w, "\n%s (%s): %s\n", r.Device, r.UUID, r.Reason)
			if r.Fix != "" && !strings.Contains(r.Reason, r.Fix) {
				fmt.Fprintf(w, "  fix: %s\n", r.Fix)
			}
		}
	}
}

// The demo's maintenance scenario: how far one firmware clock is set back,
// and how long the phase may take before it counts as failed.
const (
	demoClockDrift   = 7 * time.Minute
	demoMaintTimeout = time.Minute
)

// demoMember is an activated device that the demo maintains.
type demoMember struct {
	dev  *amtsim.Device
	host string
}

// demoPicks chooses up to three activated devices for maintenance: one of
// each AMT version first, so that every generation's firmware is
// maintained, then any others.
func demoPicks(devs []*amtsim.Device, hosts []string, versions []amt.Version) []demoMember {
	var out []demoMember
	taken := make([]bool, len(devs))
	for _, v := range versions {
		for i, d := range devs {
			if len(out) < 3 && !taken[i] && d.Version() == v {
				out, taken[i] = append(out, demoMember{dev: d, host: hosts[i]}), true
				break
			}
		}
	}
	for i, d := range devs {
		if len(out) < 3 && !taken[i] {
			out, taken[i] = append(out, demoMember{dev: d, host: hosts[i]}), true
		}
	}
	return out
}

// demoMaintRow is one row of the maintenance table: a job requested
// through the API and what it changed, as the device itself shows it.
// It never holds a password.
type demoMaintRow struct {
	Device  string        `json:"device"`
	UUID    string        `json:"uuid"`
	Version string        `json:"version"`
	Task    string        `json:"task"`
	Result  string        `json:"result"` // done, failed or mismatch
	Time    time.Duration `json:"time_ns"`
	Before  string        `json:"before"`
	After   string        `json:"after"`
	Error   string        `json:"error,omitempty"`
}

// demoMaint runs the maintenance scenario over the demo's server.
type demoMaint struct {
	srv     *rcs.Server
	api     *apiClient
	tlsCfg  *tls.Config
	gateway string
	dir     string // where the agents keep their credentials
}

// demoAgentState is the state file of a demo device's agent.
func demoAgentState(dir string, dev *amtsim.Device) string {
	return filepath.Join(dir, "agent-"+dev.ID().String()+".json")
}

// runDemoMaintenance keeps the members' agents connected (maintenance
// reaches a device only through its agent), spoils each device the way a
// fleet goes wrong, asks the API for the task that fixes it, checks the
// fix on the device itself, and ends with the health report.
func runDemoMaintenance(ctx context.Context, a *app, srv *rcs.Server, api *apiClient, tlsCfg *tls.Config, dir string, ms []demoMember) ([]demoMaintRow, *health.Report, error) {
	if len(ms) == 0 {
		return nil, nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, demoMaintTimeout)
	defer cancel()
	// A connection the client dialled and never used would hold the
	// server's shutdown for its full grace period.
	defer api.http.CloseIdleConnections()
	dm := &demoMaint{srv: srv, api: api, tlsCfg: tlsCfg, gateway: "https://" + srv.Addr("agent_gateway").String(), dir: dir}

	stops := make([]func(), len(ms))
	defer func() {
		for _, stop := range stops {
			if stop != nil {
				stop()
			}
		}
	}()
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stops[i], errs[i] = dm.connect(ctx, m.dev, m.host, m.host+"."+demoSuffix)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.host
	}
	fmt.Fprintf(a.stderr, "demo: agents of %s stay connected for maintenance\n", strings.Join(names, ", "))

	// Round 1: the first device's clock, TLS on the second (so that its
	// rename later needs a new certificate), the third's password; on
	// different devices, so they run at once.
	type job struct {
		m   demoMember
		run func(context.Context, demoMember) demoMaintRow
	}
	round1 := []job{{ms[0], dm.clockSync}}
	if len(ms) > 1 {
		round1 = append(round1, job{ms[1], dm.configureTLS})
	}
	if len(ms) > 2 {
		round1 = append(round1, job{ms[2], dm.rotatePassword})
	}
	rows := make([]demoMaintRow, len(round1))
	for i, j := range round1 {
		wg.Add(1)
		go func() { defer wg.Done(); rows[i] = j.run(ctx, j.m) }()
	}
	wg.Wait()
	// Round 2: the second PC is renamed in its OS; its agent restarts and
	// reports the new name.
	if len(ms) > 1 && rows[1].Result == rcs.JobDone {
		row := dm.syncNetwork(ctx, ms[1], &stops[1])
		rows = append(rows[:2], append([]demoMaintRow{row}, rows[2:]...)...)
	}

	var rep health.Report
	if err := api.do("GET", "/api/v1/reports/health", nil, &rep); err != nil {
		return rows, nil, err
	}
	mine := demoHealthOf(rep, ms)
	if !a.json {
		printDemoMaintenance(a.stdout, rows)
		fmt.Fprintln(a.stdout, "\nHealth of the maintained devices (GET /api/v1/reports/health):")
		if err := health.WriteText(a.stdout, mine); err != nil {
			return rows, &rep, err
		}
		var failing []string
		for _, d := range rep.Devices {
			if d.Status == health.StatusFailing {
				failing = append(failing, d.Name)
			}
		}
		fmt.Fprintf(a.stdout, "(whole fleet: %d devices, %d failing: %s)\n", len(rep.Devices), rep.Failing, dash(strings.Join(failing, ", ")))
	}
	var bad []string
	for _, r := range rows {
		if r.Result != rcs.JobDone {
			bad = append(bad, fmt.Sprintf("%s on %s: %s", r.Task, r.Device, r.Result))
		}
	}
	for _, d := range mine.Devices {
		if d.Status != health.StatusOK {
			bad = append(bad, fmt.Sprintf("health of %s: %s", d.Name, d.Status))
		}
	}
	if len(bad) > 0 {
		return rows, &rep, verdictError(fmt.Errorf("demo: maintenance did not end as expected: %s", strings.Join(bad, "; ")))
	}
	if !a.json {
		fmt.Fprintf(a.stdout, "\n%d maintenance jobs done on %d devices through their agents; the maintained devices are healthy.\n", len(rows), len(ms))
	}
	return rows, &rep, nil
}

// connect runs an agent for dev that stays connected, and returns once
// the server has its report and said there is nothing to activate.
func (dm *demoMaint) connect(ctx context.Context, dev *amtsim.Device, host, fqdn string) (func(), error) {
	return dm.connectWith(ctx, dev, host, fqdn, true)
}

// connectAny is connect for any device of the fleet, the one the demo
// refuses included: it returns once the server has answered the report,
// whatever it said.
func (dm *demoMaint) connectAny(ctx context.Context, dev *amtsim.Device, host, fqdn string) (func(), error) {
	return dm.connectWith(ctx, dev, host, fqdn, false)
}

func (dm *demoMaint) connectWith(ctx context.Context, dev *amtsim.Device, host, fqdn string, wantIdle bool) (func(), error) {
	state := demoAgentState(dm.dir, dev)
	token := ""
	if _, err := os.Stat(state); err != nil {
		if token, _, _, err = dm.srv.NewEnrollToken("demo", time.Hour); err != nil {
			return nil, err
		}
	}
	ready := make(chan wire.Event, 1)
	ag, err := agent.New(agent.Options{Server: dm.gateway, EnrollToken: token, StateFile: state, Hostname: host, FQDN: fqdn,
		Backend: agent.OnDevice(host, dev), TLS: dm.tlsCfg,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
		Events: func(ev wire.Event) {
			if ev.Final() {
				select {
				case ready <- ev:
				default:
				}
			}
		}})
	if err != nil {
		return nil, err
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = ag.Run(actx) }()
	stop := func() { cancel(); <-done }
	select {
	case ev := <-ready:
		if wantIdle && ev.Kind != wire.EventIdle {
			stop()
			return nil, fmt.Errorf("agent of %s: the server answered %s %s%s, want idle (a provisioned device)", host, ev.Kind, ev.Message, ev.Error)
		}
		return stop, nil
	case <-ctx.Done():
		stop()
		return nil, fmt.Errorf("agent of %s: no answer from the server: %w", host, ctx.Err())
	}
}

// maintain requests task on device id through the API and waits for the
// scheduler's record of its outcome.
func (dm *demoMaint) maintain(ctx context.Context, id, task string) (jobs.Record, time.Duration, error) {
	start := time.Now()
	var req jobs.Record
	if err := dm.api.do("POST", "/api/v1/devices/"+id+"/maintain", map[string]string{"task": task}, &req); err != nil {
		return req, 0, err
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var r jobs.Record
		err := dm.srv.Store().Get(store.MaintJobs, jobs.Key(id, task), &r)
		if err == nil && r.RunsTotal > req.RunsTotal && r.State != jobs.StateRunning {
			if r.Error != "" {
				return r, time.Since(start), errors.New(r.Error)
			}
			return r, time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return r, time.Since(start), fmt.Errorf("%s on %s: no outcome within %s (job state %q)", task, id, demoMaintTimeout, r.State)
		case <-tick.C:
		}
	}
}

// row starts a table row for m and task, and ends it with the job's
// outcome; check runs only after a job the server calls done, and turns
// a difference on the device into a mismatch.
func (dm *demoMaint) row(ctx context.Context, m demoMember, task string, check func(*demoMaintRow) error) demoMaintRow {
	id := m.dev.ID().String()
	r := demoMaintRow{Device: m.host, UUID: id, Version: m.dev.Version().String(), Task: task}
	_, took, err := dm.maintain(ctx, id, task)
	r.Time = took
	if err != nil {
		r.Result, r.Error = rcs.JobFailed, err.Error()
		return r
	}
	r.Result = rcs.JobDone
	if err := check(&r); err != nil {
		r.Result, r.Error = "mismatch", err.Error()
	}
	return r
}

// clockSync sets the firmware clock back, as a flat CMOS battery would,
// and has the server correct it.
func (dm *demoMaint) clockSync(ctx context.Context, m demoMember) demoMaintRow {
	drift := func() time.Duration { return time.Until(m.dev.FirmwareTime()).Round(time.Second) }
	m.dev.SetFirmwareTime(time.Now().Add(-demoClockDrift))
	before := drift()
	r := dm.row(ctx, m, provisioning.TaskClockSync, func(r *demoMaintRow) error {
		after := drift()
		r.After = fmt.Sprintf("off by %s", after)
		// The firmware takes whole seconds.
		if after.Abs() > 2*time.Second {
			return fmt.Errorf("the server says done, and the firmware clock is still off by %s", after)
		}
		// A second sync measures the clock again, so that the health
		// report shows the drift now rather than the one corrected.
		id := m.dev.ID().String()
		if _, _, err := dm.maintain(ctx, id, provisioning.TaskClockSync); err != nil {
			return fmt.Errorf("clock-sync again: %w", err)
		}
		st, err := dm.srv.Engine().State(id)
		if err != nil {
			return err
		}
		if st.Clock == nil || st.Clock.Drift.Abs() > 2*time.Second {
			return fmt.Errorf("the server's second sync measures %+v, want within 2s", st.Clock)
		}
		r.After += fmt.Sprintf(" (a second sync: %s)", st.Clock.Drift)
		return nil
	})
	r.Before = fmt.Sprintf("clock off by %s", before)
	return r
}

// configureTLS has the internal CA issue the device's first AMT TLS
// certificate, for the name AMT has now.
func (dm *demoMaint) configureTLS(ctx context.Context, m demoMember) demoMaintRow {
	r := dm.row(ctx, m, provisioning.TaskTLS, func(r *demoMaintRow) error {
		st, err := dm.srv.Engine().State(m.dev.ID().String())
		if err != nil {
			return err
		}
		if st.TLS == nil {
			return errors.New("the server says done, and records no TLS certificate")
		}
		r.After = fmt.Sprintf("TLS on 16993, cert for %s, %d days", st.TLS.FQDN, st.TLS.DaysLeft(time.Now()))
		return demoTLSCheck(ctx, m.dev, st.TLS, st.TLS.FQDN)
	})
	r.Before = "no TLS"
	return r
}

// syncNetwork renames the PC in its OS, restarts its agent with the new
// name (stop is replaced by the new agent's), and has the server copy the
// name into AMT and re-issue the TLS certificate for it.
func (dm *demoMaint) syncNetwork(ctx context.Context, m demoMember, stop *func()) demoMaintRow {
	id := m.dev.ID().String()
	newHost := "lab-" + strings.TrimPrefix(m.host, "pc-")
	newFQDN := newHost + "." + demoSuffix
	r := demoMaintRow{Device: m.host, UUID: id, Version: m.dev.Version().String(), Task: provisioning.TaskNetworkSync}
	st, err := dm.srv.Engine().State(id)
	if err != nil || st.TLS == nil {
		r.Result, r.Error = "mismatch", "no TLS certificate recorded before the rename"
		return r
	}
	r.Before = fmt.Sprintf("AMT and cert %s; OS %s", st.TLS.FQDN, newFQDN)
	m.dev.SetOSHostname(newHost)
	(*stop)()
	*stop = nil
	if *stop, err = dm.connect(ctx, m.dev, newHost, newFQDN); err != nil {
		r.Result, r.Error = rcs.JobFailed, err.Error()
		return r
	}
	rr := dm.row(ctx, m, provisioning.TaskNetworkSync, func(r *demoMaintRow) error {
		st, err := dm.srv.Engine().State(id)
		if err != nil {
			return err
		}
		if st.Network == nil || st.TLS == nil || !strings.EqualFold(st.Network.AMTFQDN, newFQDN) || !strings.EqualFold(st.TLS.FQDN, newFQDN) {
			return fmt.Errorf("the server says done, and records AMT %+v, TLS %+v; want both %s", st.Network, st.TLS, newFQDN)
		}
		r.After = fmt.Sprintf("AMT and cert %s", st.Network.AMTFQDN)
		return demoTLSCheck(ctx, m.dev, st.TLS, newFQDN)
	})
	rr.Before = r.Before
	return rr
}

// rotatePassword has the server set a new admin password; the demo reads
// both through the API (audited) only to prove them on the device, and
// never shows them.
func (dm *demoMaint) rotatePassword(ctx context.Context, m demoMember) demoMaintRow {
	id := m.dev.ID().String()
	var old rcs.DevicePassword
	oerr := dm.api.do("GET", "/api/v1/devices/"+id+"/password", nil, &old)
	before := "set at activation"
	if sess, err := dm.srv.Engine().GetSession(id); err == nil && !sess.Started.IsZero() {
		before += fmt.Sprintf(" %s ago", time.Since(sess.Started).Round(100*time.Millisecond))
	}
	r := dm.row(ctx, m, provisioning.TaskPasswordRotation, func(r *demoMaintRow) error {
		if oerr != nil {
			return fmt.Errorf("read the password before the rotation: %w", oerr)
		}
		var cur rcs.DevicePassword
		if err := dm.api.do("GET", "/api/v1/devices/"+id+"/password", nil, &cur); err != nil {
			return err
		}
		st, err := dm.srv.Engine().State(id)
		if err != nil {
			return err
		}
		r.After = fmt.Sprintf("rotated (%d), age %s: new one opens the device, old one refused", st.Rotations, time.Since(st.PasswordSet).Round(100*time.Millisecond))
		switch {
		case cur.Password == old.Password:
			return errors.New("the server says done, and the stored password did not change")
		case m.dev.CheckAdminPassword(ctx, cur.Password) != nil:
			return fmt.Errorf("the device refuses the new password: %v", m.dev.CheckAdminPassword(ctx, cur.Password))
		}
		var ae *wsman.AuthError
		if err := m.dev.CheckAdminPassword(ctx, old.Password); !errors.As(err, &ae) {
			return fmt.Errorf("the old password should be refused; the device answered %v", err)
		}
		return nil
	})
	r.Before = before
	return r
}

// demoTLSCheck connects to the device's TLS port as a console would: the
// certificate it presents must chain to the CA root the server pinned,
// through the recorded intermediates (the firmware sends only its leaf),
// and name fqdn.
func demoTLSCheck(ctx context.Context, dev *amtsim.Device, ts *provisioning.TLSState, fqdn string) error {
	root, err := x509.ParseCertificate(ts.Root)
	if err != nil {
		return fmt.Errorf("the recorded TLS root: %w", err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, der := range ts.Chain[min(1, len(ts.Chain)):] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	c, err := dev.DialLMS(ctx, amtsim.PortTLS)
	if err != nil {
		return fmt.Errorf("device port %d: %w", amtsim.PortTLS, err)
	}
	tc := tls.Client(c, &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true, // verified below, with the intermediates
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the device presented no certificate")
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: fqdn, Roots: roots, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			return err
		}})
	defer tc.Close()
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return fmt.Errorf("TLS to the device as %s: %w", fqdn, err)
	}
	return nil
}

// demoHealthOf is the report cut to the maintained devices.
func demoHealthOf(rep health.Report, ms []demoMember) health.Report {
	out := rep
	out.Devices, out.Failing, out.ProvisioningCerts = nil, 0, nil
	for _, d := range rep.Devices {
		for _, m := range ms {
			if d.ID == m.dev.ID().String() {
				out.Devices = append(out.Devices, d)
				if d.Status == health.StatusFailing {
					out.Failing++
				}
			}
		}
	}
	return out
}

func printDemoMaintenance(w io.Writer, rows []demoMaintRow) {
	fmt.Fprintln(w, "\nMaintenance (POST /api/v1/devices/{id}/maintain, through each device's agent):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tAMT\tTASK\tRESULT\tTIME\tBEFORE\tAFTER")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Device, r.Version, r.Task, r.Result, r.Time.Round(time.Millisecond), dash(r.Before), dash(r.After))
	}
	tw.Flush()
	for _, r := range rows {
		if r.Error != "" {
			fmt.Fprintf(w, "\n%s (%s) %s: %s\n", r.Device, r.UUID, r.Task, r.Error)
		}
	}
}
