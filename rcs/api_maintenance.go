package rcs

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs/health"
	"github.com/amtrcs/amtrcs/rcs/jobs"
)

// Maintenance is the server's maintenance scheduler (package jobs) and its
// endpoints:
//
//	POST /api/v1/devices/{id}/maintain   {"task": NAME, "dry_run": BOOL}  -> 202 and the job record
//	GET  /api/v1/reports/health                          -> health.Report
//
// The engine's TLS issuer and renewal lead time come with
// Options.Engine.TLS (provisioning.TLSOptions).
type Maintenance struct {
	s     *Server
	Sched *jobs.Scheduler
}

// NewMaintenance builds the scheduler over the server's store, engine,
// clock and config.Maintenance, and reloads the jobs a previous process
// left. Devices are reached through their agents' connections, or over
// the network at their own port 16993 once their TLS is configured
// (reachDevice).
func (s *Server) NewMaintenance() (*Maintenance, error) {
	sched, err := jobs.New(jobs.Options{Store: s.st, Engine: s.eng, Reach: s.reachDevice, Schedule: s.cfg.Maintenance, Clock: s.now, Logger: s.log, Claim: s.claimMaintenance,
		Finished: func(task, outcome string) { s.metrics.maintenance.WithLabelValues(task, outcome).Inc() }})
	if err != nil {
		return nil, err
	}
	if err := sched.Load(); err != nil {
		return nil, fmt.Errorf("reload maintenance jobs: %w", err)
	}
	return &Maintenance{s: s, Sched: sched}, nil
}

// Start runs the schedule every interval until Stop.
func (m *Maintenance) Start(interval time.Duration) { m.Sched.Start(interval) }

// Stop ends the schedule and waits for running jobs.
func (m *Maintenance) Stop() { m.Sched.Stop() }

// RegisterRoutes adds the maintenance endpoints to the API mux, behind
// admin authentication like the others.
func (m *Maintenance) RegisterRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/devices/{id}/maintain", m.s.requireAdmin(m.maintain))
	mux.HandleFunc("GET /api/v1/reports/health", m.s.requireAdmin(m.healthReport))
}

type maintainRequest struct {
	Task string `json:"task"`
	// DryRun asks the enforce task to report drift and change nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

func (m *Maintenance) maintain(w http.ResponseWriter, r *http.Request, p *principal) {
	d, err := m.s.resolveDevice(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	var req maintainRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	// A task name the server does not know is a bad request, not a
	// device that cannot be maintained.
	if !provisioning.IsTask(req.Task) {
		writeError(w, apiErr(http.StatusBadRequest, provisioning.RuleTask, fmt.Sprintf("task %q", req.Task),
			strings.Join(append(slices.Clone(provisioning.DeviceTasks), provisioning.TaskProvisioningCert), ", "), "name one of these tasks"))
		return
	}
	if err := provisioning.CheckTaskOptions(req.Task, provisioning.TaskOptions{DryRun: req.DryRun}); err != nil {
		r, _ := amt.AsRefusal(err)
		writeError(w, refuse(http.StatusBadRequest, r))
		return
	}
	rec, err := m.Sched.Request(d.ID, req.Task, p.Actor, req.DryRun)
	if errors.Is(err, jobs.ErrBusy) {
		writeError(w, apiErr(http.StatusConflict, "one job per device", err.Error(), "no running "+req.Task+" job", "wait for it: GET /api/v1/reports/health shows its outcome"))
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	// Run it now rather than at the next tick; the scheduler keeps it to
	// one job per device.
	go func() { _, _ = m.Sched.RunDue(m.s.ctx) }()
	writeJSON(w, http.StatusAccepted, rec)
}

func (m *Maintenance) healthReport(w http.ResponseWriter, r *http.Request, _ *principal) {
	in, err := health.Load(m.s.st)
	if err != nil {
		writeError(w, err)
		return
	}
	// The report tells a PC whose OS is down from one whose AMT is
	// silent only by asking the firmware itself.
	in.Reach = m.s.probeReach(r.Context(), in.States)
	writeJSON(w, http.StatusOK, health.Build(in, m.s.now(), health.PolicyFrom(m.s.cfg.Maintenance)))
}

// agentBack runs at once the device's maintenance that waits out a
// back-off (a task that failed for want of an agent), now that its agent
// has connected.
func (m *Maintenance) agentBack(device string) {
	if m == nil || m.Sched == nil {
		return
	}
	woken, err := m.Sched.Wake(device)
	if err != nil {
		m.s.log.Warn("wake the device's maintenance", "device", device, "err", err)
		return
	}
	if woken {
		go func() { _, _ = m.Sched.RunDue(m.s.ctx) }()
	}
}
