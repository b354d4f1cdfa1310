package rcs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hello"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/store"
)

// Job kinds.
const (
	JobActivate   = "activate"
	JobResume     = "resume"
	JobDeactivate = "deactivate"
	JobHello      = "hello"
)

// Job statuses.
const (
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
	// JobInterrupted: the server running the job stopped or died; the
	// device's session resumes in a job of its own.
	JobInterrupted = "interrupted"
	// JobRequested: asked on one server for a device whose agent is
	// connected to another, which runs it (fleet.go).
	JobRequested = "requested"
)

// Job is one activation, resumption or deactivation, in the jobs bucket.
type Job struct {
	ID      string `json:"id"`
	Device  string `json:"device"`
	Kind    string `json:"kind"`
	Profile string `json:"profile,omitempty"`
	Actor   string `json:"actor"`
	// Deactivate holds a deactivation's options, for the server that runs
	// a job another server was asked for.
	Deactivate provisioning.DeactivateOptions `json:"deactivate,omitzero"`
	// Server is the id of the server that runs (or ran) the job.
	Server   string    `json:"server,omitempty"`
	Status   string    `json:"status"`
	Path     string    `json:"path,omitempty"`
	Step     string    `json:"step,omitempty"`
	Steps    []string  `json:"steps,omitempty"`
	Notes    []string  `json:"notes,omitempty"`
	Error    string    `json:"error,omitempty"`
	Rule     string    `json:"rule,omitempty"`
	Fix      string    `json:"fix,omitempty"`
	Created  time.Time `json:"created"`
	Finished time.Time `json:"finished,omitzero"`
	// State is the maintenance scheduler's state of a maintenance record
	// (package jobs), listed with the activation jobs.
	State string `json:"state,omitempty"`
}

// jobList is every job record, activation jobs and maintenance records
// alike; a maintenance record's scheduler state stands in for the status
// it does not have, so that lists and filters show it.
func (s *Server) jobList() ([]Job, error) {
	jobs, err := store.List[Job](s.st, store.Jobs)
	maint, merr := store.List[Job](s.st, store.MaintJobs)
	jobs, err = append(jobs, maint...), errors.Join(err, merr)
	for i := range jobs {
		if jobs[i].Status == "" {
			jobs[i].Status = jobs[i].State
		}
	}
	return jobs, err
}

// Duration is how long the job ran (so far).
func (j Job) Duration(now time.Time) time.Duration {
	if j.Finished.IsZero() {
		return now.Sub(j.Created)
	}
	return j.Finished.Sub(j.Created)
}

// jobRunner runs jobs, at most max at once, one per device.
type jobRunner struct {
	s       *Server
	sem     chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	running map[string]string // device -> job id
}

func newJobRunner(s *Server, max int) *jobRunner {
	return &jobRunner{s: s, sem: make(chan struct{}, max), running: map[string]string{}}
}

func (r *jobRunner) wait() { r.wg.Wait() }

func newJobID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type jobFunc func(ctx context.Context) (*provisioning.Result, error)

// start records a job and runs fn in the background. It refuses a second
// job on a device with one running.
func (r *jobRunner) start(device, kind, profile, actor string, fn jobFunc) (Job, error) {
	return r.launch(Job{ID: newJobID(), Device: device, Kind: kind, Profile: profile, Actor: actor, Created: r.s.now()}, false, fn)
}

// launch is start with the job's record made by the caller; requested
// says it is a request another server wrote (fleet.go), which it runs
// only if the request is still waiting.
func (r *jobRunner) launch(j Job, requested bool, fn jobFunc) (Job, error) {
	s := r.s
	device, kind, profile, actor := j.Device, j.Kind, j.Profile, j.Actor
	j.Server, j.Status = s.id, JobRunning
	r.mu.Lock()
	if id, busy := r.running[device]; busy {
		r.mu.Unlock()
		return Job{}, busyErr(device, id)
	}
	r.running[device] = j.ID
	r.mu.Unlock()
	if err := s.claimDevice(device); err != nil {
		r.unreserve(device, j.ID)
		return Job{}, err
	}
	state := StateActivating
	if kind == JobDeactivate {
		state = StateDeactivating
	}
	// Batch: concurrent job starts share one durable commit; the job and
	// the device's record go in the same one, so the job waits for one
	// commit, not two, before it runs.
	err := s.st.Batch(func(tx *store.Tx) error {
		if err := dropPendingJob(tx, device); err != nil {
			return err
		}
		if err := endOrphanedLastJob(tx, device, s.now()); err != nil {
			return err
		}
		if requested {
			if err := takeRequest(tx, j.ID); err != nil {
				return err
			}
		}
		if err := tx.Put(store.Jobs, j.ID, j); err != nil {
			return err
		}
		if err := tx.Audit(store.Event{Actor: actor, Action: "job." + kind, Subject: device, Outcome: store.OutcomeSuccess, Detail: map[string]string{"job": j.ID, "profile": profile}}); err != nil {
			return err
		}
		return updateDeviceTx(tx, device, j.Created, func(d *DeviceRecord) {
			d.State, d.LastJob, d.Error, d.Rule, d.Fix = state, j.ID, "", "", ""
			if profile != "" {
				d.Profile = profile
			}
		})
	})
	if err != nil {
		r.release(device, j.ID)
		return Job{}, err
	}
	r.wg.Add(1)
	go r.run(j, fn)
	return j, nil
}

// idle refuses, as start does, when a job runs on the device.
func (r *jobRunner) idle(device string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, busy := r.running[device]; busy {
		return busyErr(device, id)
	}
	return nil
}

func busyErr(device, job string) error {
	return &APIError{Status: http.StatusConflict, Message: fmt.Sprintf("device %s has job %s running", device, job),
		RuleError: amt.RuleError{Rule: "one job per device", Seen: "job " + job + " running", Want: "no running job", Fix: "wait for it: GET /api/v1/jobs/" + job}}
}

// busy says whether a job runs on the device.
func (r *jobRunner) busy(device string) bool { return r.idle(device) != nil }

// release frees the device, here and in the fleet.
func (r *jobRunner) release(device, job string) {
	if r.unreserve(device, job) {
		r.s.releaseDevice(device)
	}
}

// unreserve frees the device here only; it says whether job held it.
func (r *jobRunner) unreserve(device, job string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running[device] == job {
		delete(r.running, device)
		return true
	}
	return false
}

func (r *jobRunner) run(j Job, fn jobFunc) {
	s := r.s
	defer r.wg.Done()
	defer r.release(j.Device, j.ID)
	select {
	case r.sem <- struct{}{}:
	case <-s.ctx.Done():
		return
	}
	defer func() { <-r.sem }()
	s.gw.send(j.Device, wire.Event{Time: s.now(), Kind: wire.EventProgress, Job: j.ID, Message: fmt.Sprintf("%s started (job %s)", j.Kind, j.ID)})
	ctx, cancel := context.WithCancel(s.ctx)
	ctx, stopProgress := r.watch(ctx, j)
	res, err := fn(ctx)
	cancel()
	announced := stopProgress()
	if s.ctx.Err() != nil {
		// The server is stopping: the session record stays "running" and
		// the next start resumes it; the job is left as it is.
		return
	}
	if res != nil {
		// Steps the watch had no room for are told now, in order.
		from := 0
		for i, st := range res.Steps {
			if st == announced {
				from = i + 1
			}
		}
		for i := from; i < len(res.Steps); i++ {
			s.gw.send(j.Device, wire.Event{Time: s.now(), Kind: wire.EventProgress, Job: j.ID, Step: res.Steps[i], Message: fmt.Sprintf("%s: step %s done", res.Path, res.Steps[i])})
		}
	}
	r.finish(j, res, err)
}

// watch sends the agent each step the engine records, as the engine
// records it, until stop. The engine tells ctx's Progress; the sending is
// done here, on a goroutine of its own, so that a slow agent never holds
// the engine. stop returns the last step announced.
func (r *jobRunner) watch(ctx context.Context, j Job) (_ context.Context, stop func() string) {
	s := r.s
	type step struct {
		path provisioning.Path
		n    int
		name string
	}
	// A step that finds the queue full is left for the run's end, which
	// tells every step after the last announced.
	steps := make(chan step, 64)
	var wg sync.WaitGroup
	var lastStep string
	wg.Go(func() {
		for st := range steps {
			lastStep = st.name
			s.gw.send(j.Device, wire.Event{Time: s.now(), Kind: wire.EventProgress, Job: j.ID, Step: st.name, Message: fmt.Sprintf("%s: step %d %s done", st.path, st.n, st.name)})
		}
	})
	var mu sync.Mutex
	closed := false
	ctx = provisioning.WithProgress(ctx, func(path provisioning.Path, n int, name string) {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return
		}
		select {
		case steps <- step{path, n, name}:
		default:
		}
	})
	return ctx, func() string {
		mu.Lock()
		closed = true
		close(steps)
		mu.Unlock()
		wg.Wait()
		return lastStep
	}
}

func (r *jobRunner) finish(j Job, res *provisioning.Result, err error) {
	s := r.s
	j.Finished = s.now()
	if res != nil {
		j.Path = string(res.Path)
		j.Steps = res.Steps
		j.Notes = res.Notes
		if len(res.Steps) > 0 {
			j.Step = res.Steps[len(res.Steps)-1]
		}
	}
	ev := wire.Event{Time: j.Finished, Job: j.ID}
	if err != nil {
		j.Status = JobFailed
		j.Error = err.Error()
		if _, ok := amt.AsRefusal(err); ok {
			// The error line without the fix, which has its own field:
			// shown together they would say it twice.
			ae := toAPIError(err)
			j.Error, j.Rule, j.Fix = ae.Message, ae.Rule, ae.Fix
		}
		ev.Kind, ev.Error, ev.Fix = wire.EventFailed, j.Error, j.Fix
	} else {
		j.Status = JobDone
		ev.Kind = wire.EventDone
		ev.Message = fmt.Sprintf("%s done: path %s, %d steps, %s", j.Kind, j.Path, len(j.Steps), j.Finished.Sub(j.Created).Round(time.Millisecond))
	}
	s.metrics.jobDone(j.Kind, j.Path, err)
	// The job's record and the device's in one commit: the agent hears
	// of the end after one durable write, not two. The job ends only if
	// it still runs: another server may have ended it as interrupted.
	var ended bool
	rerr := s.st.Batch(func(tx *store.Tx) error {
		var err2 error
		if ended, err2 = endJobTx(tx, j); err2 != nil || !ended {
			return err2
		}
		return updateDeviceTx(tx, j.Device, j.Finished, func(d *DeviceRecord) { finishDevice(d, j, res, err) })
	})
	if rerr == nil && !ended {
		// Another server ended it as interrupted: this one lost the
		// device's lease (stalled past its time to live) and another took
		// the device over, so this outcome is not the device's.
		s.log.Warn("job ended elsewhere while it ran here: its outcome is dropped", "job", j.ID, "device", j.Device)
		r.release(j.Device, j.ID)
		return
	}
	if rerr != nil {
		s.log.Error("record job and device", "job", j.ID, "device", j.Device, "err", rerr)
	}
	if err != nil {
		s.log.Warn("job failed", "job", j.ID, "kind", j.Kind, "device", j.Device, "err", err)
	} else {
		s.log.Info("job done", "job", j.ID, "kind", j.Kind, "device", j.Device, "path", j.Path)
	}
	// Free the device before telling the agent, so that whoever the event
	// prompts can start the next job at once.
	r.release(j.Device, j.ID)
	s.gw.send(j.Device, ev)
}

// finishDevice is what a job's end writes in its device's record.
func finishDevice(d *DeviceRecord, j Job, res *provisioning.Result, err error) {
	d.LastJob = j.ID
	if j.Path != "" && j.Kind != JobDeactivate {
		d.Path = j.Path
	}
	switch {
	case err != nil:
		d.State, d.Error, d.Rule, d.Fix = StateFailed, j.Error, j.Rule, j.Fix
	case j.Kind == JobDeactivate:
		d.State, d.Path, d.CertID, d.AdminSecret = StateNotProvisioned, "", "", ""
		d.ControlMode, d.ProvisioningState = strings.ToLower(amt.ControlNone.String()), strings.ToLower(amt.PreProvisioning.String())
	default:
		d.State, d.Error, d.Rule, d.Fix = StateProvisioned, "", "", ""
		d.Expires = time.Time{}
		if res != nil {
			d.CertID, d.AdminSecret = res.CertID, res.AdminSecret
			d.ControlMode = strings.ToLower(res.ControlMode.String())
			if res.ControlMode == amt.ControlNone && res.Path == provisioning.PathCCM {
				d.ControlMode = strings.ToLower(amt.ControlCCM.String())
			}
			d.ProvisioningState = strings.ToLower(amt.PostProvisioning.String())
		}
	}
}

// onReport decides what a connected agent's device needs: resume an
// unfinished session, activate a new device or a CCM one with an ACM
// profile, or nothing.
func (r *jobRunner) onReport(id string, ac *agentConn) {
	s := r.s
	rep := ac.report
	send := func(kind, msg, errText, fix string) {
		ac.send(wire.Event{Time: s.now(), Kind: kind, Message: msg, Error: errText, Fix: fix})
	}
	r.mu.Lock()
	jobID, busy := r.running[id]
	r.mu.Unlock()
	if busy {
		send(wire.EventProgress, "job "+jobID+" is running for this device; progress follows", "", "")
		return
	}
	actor := "agent:" + ac.agentID
	sess, serr := s.eng.GetSession(id)
	if serr == nil && sess.Status != provisioning.StatusDone && sess.Path != provisioning.PathDeactivate {
		_, err := r.start(id, JobResume, sess.Profile.Name, actor, func(ctx context.Context) (*provisioning.Result, error) {
			res, err := s.eng.Resume(ctx, ac.device())
			if errors.Is(err, provisioning.ErrNoSession) {
				return r.activateFresh(ctx, ac)
			}
			return res, err
		})
		if err != nil && !r.heldElsewhere(id, ac, err) {
			send(wire.EventFailed, "", err.Error(), "")
		}
		return
	}
	info := rep.Info
	prof, perr := s.profileFor(rep.Profile, suffixOf(info.DNSSuffix, rep.FQDN), false)
	activates := info.ProvisioningState == amt.PreProvisioning || info.ControlMode == amt.ControlCCM && rep.Profile != ""
	var ae *APIError
	if errors.As(perr, &ae) && ae.Rule == RuleProfileChoice && activates {
		r.failNow(id, actor, perr)
		send(wire.EventFailed, "", perr.Error(), ae.Fix)
		return
	}
	switch {
	case info.ProvisioningState == amt.PreProvisioning,
		info.ControlMode == amt.ControlCCM && perr == nil && prof.Mode == provisioning.ModeACM && rep.Profile != "":
		if perr != nil {
			r.failNow(id, actor, perr)
			send(wire.EventFailed, "", perr.Error(), toAPIError(perr).Fix)
			return
		}
		if _, err := r.start(id, JobActivate, prof.Name, actor, func(ctx context.Context) (*provisioning.Result, error) {
			return s.eng.Activate(ctx, ac.device(), prof)
		}); err != nil && !r.heldElsewhere(id, ac, err) {
			send(wire.EventFailed, "", err.Error(), "")
		}
	case serr == nil && sess.Status == provisioning.StatusDone && info.ProvisioningState == amt.PostProvisioning:
		_ = s.updateDevice(id, func(d *DeviceRecord) { d.State = StateProvisioned; d.Path = string(sess.Path) })
		send(wire.EventIdle, fmt.Sprintf("provisioned (%s, path %s); nothing to do", info.ControlMode, sess.Path), "", "")
	case info.ProvisioningState == amt.PostProvisioning:
		msg := fmt.Sprintf("device is provisioned (%s) by another tool or RCS: this RCS holds no password for it", info.ControlMode)
		fix := "unprovision it in MEBx (or with the tool that set it up), then restart the agent"
		_ = s.updateDevice(id, func(d *DeviceRecord) {
			d.State, d.Error, d.Rule, d.Fix = StateFailed, msg, "device state", fix
		})
		send(wire.EventFailed, "", msg, fix)
	default:
		send(wire.EventIdle, fmt.Sprintf("device is %s (%s); nothing to do", info.ProvisioningState, info.ControlMode), "", "")
	}
}

// activateFresh is Activate with the device's profile, for a resume that
// found no session.
func (r *jobRunner) activateFresh(ctx context.Context, ac *agentConn) (*provisioning.Result, error) {
	prof, err := r.s.profileFor(ac.report.Profile, suffixOf(ac.report.Info.DNSSuffix, ac.report.FQDN), false)
	if err != nil {
		return nil, err
	}
	return r.s.eng.Activate(ctx, ac.device(), prof)
}

// putJob records a job in a group commit shared with the other jobs that
// end at the same time.
func (s *Server) putJob(j Job) error {
	return s.st.Batch(func(tx *store.Tx) error { return tx.Put(store.Jobs, j.ID, j) })
}

// endJobTx records a job's end unless it has ended already (another server
// ended it as interrupted): a job ends once.
func endJobTx(tx *store.Tx, j Job) (bool, error) {
	var cur Job
	if err := tx.Get(store.Jobs, j.ID, &cur); err == nil && cur.Status != JobRunning {
		return false, nil
	}
	return true, tx.Put(store.Jobs, j.ID, j)
}

// heldElsewhere tells the agent that another server runs its device's job
// and waits for the device there, when err says so.
func (r *jobRunner) heldElsewhere(id string, ac *agentConn, err error) bool {
	var held *store.LeaseHeldError
	if !errors.As(err, &held) {
		return false
	}
	r.waitForDevice(id, ac, held, func() {
		ac.send(wire.Event{Time: r.s.now(), Kind: wire.EventProgress, Message: fmt.Sprintf("the device's job runs on server %s; this server takes over when it ends or its lease expires", held.Held.Owner)})
	})
	return true
}

// endOrphanedLastJob ends as interrupted the device's last job when it is
// still recorded as running: the caller holds the device's job slot, so
// no server runs it any more.
func endOrphanedLastJob(tx *store.Tx, device string, now time.Time) error {
	var d DeviceRecord
	if err := tx.Get(store.Devices, device, &d); err != nil || d.LastJob == "" {
		return nil
	}
	_, _, err := endInterrupted(tx, d.LastJob, now)
	return err
}

// failNow records a job that could not start (no such profile).
func (r *jobRunner) failNow(device, actor string, err error) {
	s := r.s
	ae := toAPIError(err)
	j := Job{ID: newJobID(), Device: device, Kind: JobActivate, Actor: actor, Status: JobFailed, Error: ae.Message, Rule: ae.Rule, Fix: ae.Fix, Created: s.now(), Finished: s.now()}
	_ = s.putJob(j)
	_ = s.updateDevice(device, func(d *DeviceRecord) {
		d.State, d.LastJob, d.Error, d.Rule, d.Fix = StateFailed, j.ID, j.Error, j.Rule, j.Fix
	})
}

// suffixOf is the device's DNS suffix: the host interface's, else the
// domain part of the OS FQDN.
func suffixOf(dnsSuffix, fqdn string) string {
	if dnsSuffix != "" {
		return dnsSuffix
	}
	if _, dom, ok := strings.Cut(fqdn, "."); ok {
		return dom
	}
	return ""
}

// resumeOrphans ends as interrupted the jobs left running by a server
// that stopped or died (a previous process, or another server sharing the
// store whose lease expired): their devices resume when their agents come
// back (or their hellos). It runs at start and every lease time to live.
func (r *jobRunner) resumeOrphans() {
	s := r.s
	jobs, err := store.List[Job](s.st, store.Jobs)
	if err != nil {
		s.log.Warn("read jobs", "err", err)
		return
	}
	for _, j := range jobs {
		if j.Status != JobRunning || j.Server == s.id || !s.jobOrphaned(j) {
			continue
		}
		err := s.st.Batch(func(tx *store.Tx) error {
			ended, ok, err := endInterrupted(tx, j.ID, s.now())
			if err != nil || !ok {
				return err
			}
			return interruptedDevice(tx, ended)
		})
		if err != nil {
			s.log.Warn("record interrupted job", "job", j.ID, "err", err)
			continue
		}
		s.log.Info("job interrupted by the stop of its server", "job", j.ID, "device", j.Device, "server", j.Server)
	}
	s.sweepRequests(jobs)
}

// handleHello starts the legacy setup of a device that sent a hello.
func (s *Server) handleHello(ctx context.Context, m hello.Message, from netip.Addr) {
	id := m.UUID.String()
	if _, err := s.recordHello(id, from); err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			s.denials.note(denialKey{action: ActionHelloRefused, route: "hello", rule: ae.Rule, source: from.String()}, ae)
			s.helloWarn.Warn("hello: refused", "from", from, "device", id, "rule", ae.Rule, "seen", ae.Seen, "want", ae.Want, "fix", ae.Fix)
			return
		}
		s.log.Error("record hello", "device", id, "err", err)
		return
	}
	if sess, err := s.eng.GetSession(id); err == nil && sess.Status == provisioning.StatusDone && sess.Path == provisioning.PathLegacy {
		// Devices repeat hellos for a while; a done setup is not redone.
		return
	}
	// The listener's worker waits for the job, so that its Workers and
	// Queue bound the hellos in progress: a flood of hellos with new UUIDs
	// would otherwise start a job each.
	done := make(chan struct{})
	_, err := s.jobs.start(id, JobHello, "", "hello:"+from.String(), func(ctx context.Context) (*provisioning.Result, error) {
		defer close(done)
		return s.eng.HandleHello(ctx, m, from)
	})
	var ae *APIError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusConflict:
		// The device's setup is running already; its hellos repeat.
	case err != nil:
		s.log.Warn("hello job", "device", id, "err", err)
	default:
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
}

// Job reads one activation or deactivation job. A maintenance job (its id
// starts with jobs.KeyPrefix) is the scheduler's record, of another type:
// read it with the scheduler.
func (s *Server) Job(id string) (Job, error) {
	var j Job
	err := s.st.Get(store.Jobs, id, &j)
	return j, err
}

// startDeviceJob starts an activation or deactivation of a connected device
// for the API.
func (s *Server) startDeviceJob(id, kind, profile, actor string, deact provisioning.DeactivateOptions) (Job, error) {
	ac := s.gw.conn(id)
	if ac == nil {
		if owner := s.agentServer(id); owner != "" {
			return s.requestJob(id, kind, profile, actor, owner, deact)
		}
		fix := "start amtrcs agent on the PC (legacy hello devices are activated by their hello)"
		if kind == JobDeactivate {
			fix = "start amtrcs agent on the PC: the RCS reaches AMT through it to unprovision"
		}
		return Job{}, apiErr(http.StatusConflict, "device reachable", fmt.Sprintf("no agent is connected for device %s", id), "a connected agent", fix)
	}
	prof, fn, err := s.deviceJobFunc(ac, id, kind, profile, deact)
	if err != nil {
		return Job{}, err
	}
	return s.jobs.start(id, kind, prof, actor, fn)
}

// deviceJobFunc is what an activation or deactivation of a connected
// device runs, with the name of the profile it uses.
func (s *Server) deviceJobFunc(ac *agentConn, id, kind, profile string, deact provisioning.DeactivateOptions) (string, jobFunc, error) {
	switch kind {
	case JobDeactivate:
		return "", func(ctx context.Context) (*provisioning.Result, error) {
			return s.eng.DeactivateWith(ctx, ac.device(), deact)
		}, nil
	default:
		if profile == "" {
			var d DeviceRecord
			if err := s.st.Get(store.Devices, id, &d); err == nil {
				profile = d.Profile
			}
		}
		byAdmin := profile != ""
		if !byAdmin {
			profile = ac.report.Profile
		}
		prof, err := s.profileFor(profile, suffixOf(ac.report.Info.DNSSuffix, ac.report.FQDN), byAdmin)
		if err != nil {
			return "", nil, err
		}
		return prof.Name, func(ctx context.Context) (*provisioning.Result, error) {
			// The report may be old: Activate reads the state again.
			return s.eng.Activate(ctx, ac.device(), prof)
		}, nil
	}
}
