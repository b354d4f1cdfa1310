// Package jobs is the RCS's maintenance scheduler: it runs the
// provisioning engine's maintenance tasks (clock sync, network sync, TLS
// re-issue, admin password rotation, profile enforcement, provisioning
// certificate expiry) on
// the schedule of config.Maintenance and on demand, at most one job at a
// time per device, backing off exponentially after failures, and records
// every outcome in the audit log.
//
// Each (device, task) pair is one Record in the store's jobs bucket under
// Key(device, task), so a restarted server reloads its schedule, back-off
// and pending requests from the store; a job that was running when the
// process died runs again (the tasks are safe to repeat, and password
// rotation resumes its own session). The clock is injected, so tests move
// time instead of waiting.
//
// What it must never do: run two jobs on one device at once; put a secret
// in a record, a log line or an audit event; decide how a task is done
// (that is package provisioning's).
package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/store"
)

// KeyPrefix starts the key of every maintenance record (in the store's
// maintjobs bucket; the prefix dates from when activation jobs shared their
// bucket, and keeps the records' ids as the API has always shown them).
const KeyPrefix = "maint:"

// ServerSubject is the device field of tasks about the server itself.
const ServerSubject = "rcs"

// Key is the maintjobs-bucket key of a (device, task) record.
func Key(device, task string) string { return KeyPrefix + device + ":" + task }

// Record states. They are kept in "state", not "status", so that the
// activation job runner, which reads the same bucket, sees no job of its
// own in them.
const (
	StateScheduled = "scheduled" // waits for NextRun
	StateRunning   = "running"
	StateBackoff   = "backoff" // failed; retried at NextRun
	StateIdle      = "idle"    // no schedule (the task is off) and no request
)

// Record is one (device, task) job: its schedule, its last outcome, and a
// pending on-demand request.
type Record struct {
	ID     string `json:"id"`
	Device string `json:"device"`
	// Kind is "maintain/<task>", as the job list shows it.
	Kind  string `json:"kind"`
	Task  string `json:"task"`
	State string `json:"state"`
	// NextRun is when the job is due (zero: not scheduled).
	NextRun time.Time `json:"next_run,omitzero"`
	// Requested is set by an on-demand request until it has run; Actor
	// says who asked.
	Requested time.Time `json:"requested,omitzero"`
	Actor     string    `json:"actor,omitempty"`
	// DryRun: the pending request is a dry run (the enforce task reports
	// and changes nothing); cleared with the request.
	DryRun bool `json:"dry_run,omitempty"`
	// Attempts counts consecutive failures.
	Attempts  int       `json:"attempts,omitempty"`
	LastRun   time.Time `json:"last_run,omitzero"`
	LastOK    time.Time `json:"last_ok,omitzero"`
	Error     string    `json:"error,omitempty"`
	Notes     []string  `json:"notes,omitempty"`
	Created   time.Time `json:"created"`
	Finished  time.Time `json:"finished,omitzero"`
	Changed   bool      `json:"changed,omitempty"`
	Resumed   bool      `json:"resumed,omitempty"` // it was running when the server stopped
	RunsTotal int       `json:"runs_total,omitempty"`
}

// Due says whether r should run at now.
func (r Record) Due(now time.Time) bool {
	if r.State == StateRunning {
		return false
	}
	return !r.Requested.IsZero() || (!r.NextRun.IsZero() && !now.Before(r.NextRun))
}

// RunFunc runs one task on one device (o.Force: on demand).
type RunFunc func(ctx context.Context, device, task string, o provisioning.TaskOptions) (*provisioning.MaintenanceResult, error)

// Store is what the scheduler needs of the store: its job records, read
// and written alone or in a transaction with their audit event.
// *store.Store is one.
type Store interface {
	Update(fn func(tx *store.Tx) error) error
	View(fn func(tx *store.Tx) error) error
	Get(b store.Bucket, id string, v any) error
	Put(b store.Bucket, id string, v any) error
}

var _ Store = (*store.Store)(nil)

// Options configure a Scheduler. Store and Run (or Engine and Reach) are
// required.
type Options struct {
	Store Store
	// Engine and Reach give the default Run: Reach finds a connected
	// device (its agent's relay, or a legacy device's address), and the
	// engine's Maintain runs the task.
	Engine *provisioning.Engine
	Reach  func(ctx context.Context, device string) (*provisioning.Device, error)
	// Run replaces the default.
	Run RunFunc
	// Devices lists the devices to schedule (default: those the engine's
	// sessions say this RCS provisioned).
	Devices func() ([]string, error)
	// Schedule is config.Maintenance (zero periods switch tasks off).
	Schedule config.Maintenance
	// TLSCheck is how often the TLS task looks at a certificate's expiry
	// (default daily); it re-issues only when due.
	TLSCheck time.Duration
	// Backoff is the first retry delay after a failure (default 5 min);
	// it doubles per consecutive failure up to MaxBackoff (default 24 h).
	Backoff, MaxBackoff time.Duration
	// Workers bounds jobs running at once (default 4).
	Workers int
	Clock   func() time.Time
	Logger  *slog.Logger
	// Claim takes a device's jobs for one round across the servers that
	// share the store, so that each runs once in the fleet, not once per
	// server (nil: this process is the only one). ok false means another
	// server runs them, or should (it holds the device's agent); release
	// gives the device back.
	Claim func(device string) (release func(), ok bool)
	// Finished is told of each job's end: its task and its audit outcome
	// (store.OutcomeDenied when another session held the device). For the
	// server's metrics; it must be quick.
	Finished func(task, outcome string)
}

// Scheduler runs maintenance jobs.
type Scheduler struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	running map[string]string // device -> task
	stop    context.CancelFunc
	loopWG  sync.WaitGroup
}

// ErrBusy is returned by Request when the device's job of that task is
// running now.
var ErrBusy = errors.New("the job is running")

// New returns a scheduler; Load and then Start (or RunDue) make it work.
func New(opts Options) (*Scheduler, error) {
	if opts.Store == nil {
		return nil, errors.New("jobs: no store")
	}
	if opts.Run == nil {
		if opts.Engine == nil || opts.Reach == nil {
			return nil, errors.New("jobs: give Run, or Engine and Reach")
		}
		e, reach := opts.Engine, opts.Reach
		opts.Run = func(ctx context.Context, device, task string, o provisioning.TaskOptions) (*provisioning.MaintenanceResult, error) {
			if task == provisioning.TaskProvisioningCert {
				xs, err := e.CheckProvisioningCerts(ctx, opts.Schedule.ProvisioningCertWarn)
				res := &provisioning.MaintenanceResult{Device: device, Task: task}
				for _, x := range xs {
					if x.Message != "" {
						res.Notes = append(res.Notes, x.Message)
					}
				}
				return res, err
			}
			dev, err := reach(ctx, device)
			if err != nil {
				return nil, fmt.Errorf("reach device %s: %w", device, err)
			}
			return e.Maintain(ctx, dev, task, o)
		}
	}
	if opts.Devices == nil {
		st := opts.Store
		opts.Devices = func() ([]string, error) {
			ss, err := provisioning.Sessions(st)
			var ids []string
			for _, s := range ss {
				if provisioning.Maintained(s) {
					ids = append(ids, s.Device)
				}
			}
			return ids, err
		}
	}
	if opts.TLSCheck <= 0 {
		opts.TLSCheck = 24 * time.Hour
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 5 * time.Minute
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 24 * time.Hour
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Scheduler{opts: opts, log: opts.Logger, running: map[string]string{}}, nil
}

// Period is how often task runs by schedule (0: only on demand).
func (s *Scheduler) Period(task string) time.Duration {
	m := s.opts.Schedule
	switch task {
	case provisioning.TaskClockSync:
		return m.ClockSync
	case provisioning.TaskNetworkSync:
		return m.NetworkSync
	case provisioning.TaskTLS:
		return s.opts.TLSCheck
	case provisioning.TaskPasswordRotation:
		return m.PasswordRotation
	case provisioning.TaskEnforce:
		return m.Enforce
	case provisioning.TaskProvisioningCert:
		return 24 * time.Hour
	}
	return 0
}

// Records lists the maintenance records, by device then task.
func Records(st store.Viewer) ([]Record, error) {
	var out []Record
	err := st.View(func(tx *store.Tx) error {
		return tx.ForEach(store.MaintJobs, func(id string, _ []byte) error {
			var r Record
			if err := tx.Get(store.MaintJobs, id, &r); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	return out, err
}

// Load reloads the schedule after a restart: a job left running by the
// previous process is due again now, marked resumed.
func (s *Scheduler) Load() error {
	now := s.opts.Clock()
	rs, err := Records(s.opts.Store)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.State != StateRunning {
			continue
		}
		// A job another server runs now is not interrupted.
		release, ok := s.claimShared(r.Device)
		if !ok {
			continue
		}
		r.State, r.NextRun, r.Resumed = StateScheduled, now, true
		r.Notes = []string{"interrupted by a server stop; runs again"}
		err := s.opts.Store.Put(store.MaintJobs, r.ID, r)
		release()
		if err != nil {
			return err
		}
		s.log.Info("maintenance job interrupted by a restart; due again", "device", r.Device, "task", r.Task)
	}
	return nil
}

// claimShared is Options.Claim, or nothing to claim without it.
func (s *Scheduler) claimShared(device string) (release func(), ok bool) {
	if s.opts.Claim == nil {
		return func() {}, true
	}
	return s.opts.Claim(device)
}

// Plan gives every maintained device a record for each scheduled task,
// due now when new, and adjusts schedules to the configured periods.
func (s *Scheduler) Plan() error {
	ids, err := s.opts.Devices()
	if err != nil {
		return err
	}
	now := s.opts.Clock()
	type want struct{ device, task string }
	var ws []want
	for _, id := range ids {
		for _, t := range provisioning.DeviceTasks {
			ws = append(ws, want{id, t})
		}
	}
	ws = append(ws, want{ServerSubject, provisioning.TaskProvisioningCert})
	return s.opts.Store.Update(func(tx *store.Tx) error {
		for _, w := range ws {
			key := Key(w.device, w.task)
			var r Record
			err := tx.Get(store.MaintJobs, key, &r)
			period := s.Period(w.task)
			switch {
			case errors.Is(err, store.ErrNotFound):
				if period == 0 {
					continue
				}
				r = Record{ID: key, Device: w.device, Task: w.task, Kind: "maintain/" + w.task, State: StateScheduled, NextRun: now, Created: now}
			case err != nil:
				return err
			case period == 0 && r.State == StateScheduled && r.Requested.IsZero():
				r.State, r.NextRun = StateIdle, time.Time{}
			case period > 0 && r.State == StateIdle:
				r.State, r.NextRun = StateScheduled, now
			default:
				continue
			}
			if err := tx.Put(store.MaintJobs, key, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// Request asks for task on device now (on demand). The job runs at the
// next RunDue, forced: a TLS certificate is re-issued even if not due.
// dryRun asks the enforce task to report only.
func (s *Scheduler) Request(device, task, actor string, dryRun bool) (Record, error) {
	if !provisioning.IsTask(task) {
		return Record{}, provisioning.Reason{Rule: provisioning.RuleTask, Seen: fmt.Sprintf("task %q", task),
			Want: strings.Join(append(slices.Clone(provisioning.DeviceTasks), provisioning.TaskProvisioningCert), ", "), Fix: "name one of these tasks"}
	}
	if err := provisioning.CheckTaskOptions(task, provisioning.TaskOptions{DryRun: dryRun}); err != nil {
		return Record{}, err
	}
	if task == provisioning.TaskProvisioningCert {
		device = ServerSubject
	}
	now := s.opts.Clock()
	key := Key(device, task)
	var r Record
	err := s.opts.Store.Update(func(tx *store.Tx) error {
		err := tx.Get(store.MaintJobs, key, &r)
		if errors.Is(err, store.ErrNotFound) {
			r = Record{ID: key, Device: device, Task: task, Kind: "maintain/" + task, State: StateIdle, Created: now}
		} else if err != nil {
			return err
		}
		if r.State == StateRunning {
			return fmt.Errorf("%s on device %s: %w; wait for it to finish", task, device, ErrBusy)
		}
		r.Requested, r.Actor, r.DryRun = now, actor, dryRun
		if err := tx.Put(store.MaintJobs, key, r); err != nil {
			return err
		}
		return tx.Audit(store.Event{Time: now, Actor: actor, Action: "job.maintain.request", Subject: device, Outcome: store.OutcomeSuccess,
			Detail: map[string]string{"task": task, "job": key, "dry_run": fmt.Sprint(dryRun)}})
	})
	return r, err
}

// Get reads one record.
func (s *Scheduler) Get(device, task string) (Record, error) {
	var r Record
	err := s.opts.Store.Get(store.MaintJobs, Key(device, task), &r)
	return r, err
}

// RunDue runs every due job, at most one per device at a time and at most
// Workers at once, and waits for them. It returns the records as they
// finished.
func (s *Scheduler) RunDue(ctx context.Context) ([]Record, error) {
	rs, err := Records(s.opts.Store)
	if err != nil {
		return nil, err
	}
	now := s.opts.Clock()
	// On-demand requests first, then the longest overdue.
	slices.SortStableFunc(rs, func(a, b Record) int {
		if (a.Requested.IsZero()) != (b.Requested.IsZero()) {
			if a.Requested.IsZero() {
				return 1
			}
			return -1
		}
		return a.NextRun.Compare(b.NextRun)
	})
	byDevice := map[string][]Record{}
	var order []string
	for _, r := range rs {
		if !r.Due(now) {
			continue
		}
		if _, ok := byDevice[r.Device]; !ok {
			order = append(order, r.Device)
		}
		byDevice[r.Device] = append(byDevice[r.Device], r)
	}
	sem := make(chan struct{}, s.opts.Workers)
	var mu sync.Mutex
	var done []Record
	var wg sync.WaitGroup
	for _, dev := range order {
		if !s.claim(dev) {
			continue // a job of another RunDue runs on it
		}
		shared, ok := s.claimShared(dev)
		if !ok {
			s.release(dev)
			continue // another server runs it
		}
		wg.Add(1)
		go func(jobs []Record) {
			defer wg.Done()
			defer s.release(dev)
			defer shared()
			for _, r := range jobs {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				out, ran := s.runOne(ctx, r)
				<-sem
				if ran {
					mu.Lock()
					done = append(done, out)
					mu.Unlock()
				}
			}
		}(byDevice[dev])
	}
	wg.Wait()
	return done, ctx.Err()
}

func (s *Scheduler) claim(device string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, busy := s.running[device]; busy {
		return false
	}
	s.running[device] = ""
	return true
}

func (s *Scheduler) release(device string) {
	s.mu.Lock()
	delete(s.running, device)
	s.mu.Unlock()
}

// Running reports the task running on device, if any.
func (s *Scheduler) Running(device string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.running[device]
	return t, ok && t != ""
}

// runOne runs one job, unless another round ran it since the records
// were read, and records its outcome.
func (s *Scheduler) runOne(ctx context.Context, r Record) (Record, bool) {
	st := s.opts.Store
	start := s.opts.Clock()
	if err := st.Get(store.MaintJobs, r.ID, &r); err != nil || !r.Due(start) {
		return r, false
	}
	force := !r.Requested.IsZero()
	dryRun := force && r.DryRun
	r.State, r.LastRun, r.Finished = StateRunning, start, time.Time{}
	if err := st.Put(store.MaintJobs, r.ID, r); err != nil {
		s.log.Error("record maintenance job", "job", r.ID, "err", err)
		return r, false
	}
	s.mu.Lock()
	s.running[r.Device] = r.Task
	s.mu.Unlock()
	res, err := s.opts.Run(ctx, r.Device, r.Task, provisioning.TaskOptions{Force: force, DryRun: dryRun})
	s.mu.Lock()
	s.running[r.Device] = ""
	s.mu.Unlock()
	if ctx.Err() != nil && err != nil {
		// The server is stopping: the record stays running, and Load
		// makes it due again.
		return r, true
	}
	now := s.opts.Clock()
	r.Finished, r.Requested, r.Resumed, r.DryRun = now, time.Time{}, false, false
	r.RunsTotal++
	r.Notes, r.Changed = nil, false
	if res != nil {
		r.Notes, r.Changed = res.Notes, res.Changed
	}
	detail := map[string]string{"task": r.Task, "job": r.ID, "forced": fmt.Sprint(force), "dry_run": fmt.Sprint(dryRun)}
	outcome := store.OutcomeSuccess
	busy := errors.Is(err, provisioning.ErrBusy)
	switch {
	case busy:
		// An activation or another session holds the device: not a
		// failure of the task; try again shortly.
		r.State, r.NextRun, r.Requested = StateScheduled, now.Add(s.opts.Backoff), time.Time{}
		if force {
			r.Requested, r.DryRun = start, dryRun
		}
		r.Error = err.Error()
		outcome = store.OutcomeDenied
	case err != nil:
		r.Attempts++
		r.State, r.Error = StateBackoff, err.Error()
		r.NextRun = now.Add(s.backoff(r.Attempts))
		outcome = store.OutcomeFailure
		detail["attempts"] = fmt.Sprint(r.Attempts)
		s.log.Warn("maintenance job failed", "device", r.Device, "task", r.Task, "attempts", r.Attempts, "retry_at", r.NextRun, "err", err)
	default:
		r.Attempts, r.Error, r.LastOK = 0, "", now
		r.State, r.NextRun = StateScheduled, now.Add(s.Period(r.Task))
		if s.Period(r.Task) == 0 {
			r.State, r.NextRun = StateIdle, time.Time{}
		}
		s.log.Info("maintenance job done", "device", r.Device, "task", r.Task, "changed", r.Changed)
	}
	if err != nil {
		detail["error"] = err.Error()
	}
	if !r.NextRun.IsZero() {
		detail["next_run"] = r.NextRun.UTC().Format(time.RFC3339)
	}
	if s.opts.Finished != nil {
		s.opts.Finished(r.Task, outcome)
	}
	werr := st.Update(func(tx *store.Tx) error {
		if err := tx.Put(store.MaintJobs, r.ID, r); err != nil {
			return err
		}
		return tx.Audit(store.Event{Time: now, Actor: "scheduler", Action: "job.maintain", Subject: r.Device, Outcome: outcome, Detail: detail})
	})
	if werr != nil {
		s.log.Error("record maintenance job", "job", r.ID, "err", werr)
	}
	return r, true
}

// backoff is the delay before retry n (1-based): Backoff doubled per
// failure, capped at MaxBackoff.
func (s *Scheduler) backoff(n int) time.Duration {
	d := s.opts.Backoff
	for i := 1; i < n && d < s.opts.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.opts.MaxBackoff)
}

// Start plans and runs due jobs every interval (real time) until Stop.
func (s *Scheduler) Start(interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.loopWG.Add(1)
	go func() {
		defer s.loopWG.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if err := s.Plan(); err != nil {
				s.log.Warn("plan maintenance", "err", err)
			}
			if _, err := s.RunDue(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("run maintenance", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Wake makes the device's jobs that wait out a back-off due now, and
// reports whether there were any. The caller runs RunDue: a device whose
// agent has just connected need not wait minutes for the retry of a task
// that failed because no agent was there.
func (s *Scheduler) Wake(device string) (bool, error) {
	now := s.opts.Clock()
	waiting := func(tx *store.Tx) ([]Record, error) {
		var out []Record
		for _, task := range provisioning.DeviceTasks {
			var r Record
			if err := tx.Get(store.MaintJobs, Key(device, task), &r); errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return nil, err
			}
			if r.State == StateBackoff && r.NextRun.After(now) {
				out = append(out, r)
			}
		}
		return out, nil
	}
	// A read first: a fleet reconnecting after a restart costs no write
	// for the devices with nothing to wake.
	var rs []Record
	if err := s.opts.Store.View(func(tx *store.Tx) error {
		var err error
		rs, err = waiting(tx)
		return err
	}); err != nil || len(rs) == 0 {
		return false, err
	}
	woken := false
	err := s.opts.Store.Update(func(tx *store.Tx) error {
		rs, err := waiting(tx)
		woken = len(rs) > 0
		for _, r := range rs {
			r.NextRun = now
			if err := tx.Put(store.MaintJobs, r.ID, r); err != nil {
				return err
			}
		}
		return err
	})
	return woken, err
}

// Stop ends the loop and waits for running jobs.
func (s *Scheduler) Stop() {
	if s.stop != nil {
		s.stop()
	}
	s.loopWG.Wait()
}
