package jobs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/csr/csrtest"
	"github.com/amtrcs/amtrcs/pki"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/store"
)

const suffix = "corp.example.com"

var kek = []byte("0123456789abcdef0123456789abcdef")

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// world is a store, an engine with an internal CA, and simulated devices
// activated in ACM, all on one clock.
type world struct {
	t       *testing.T
	dir     string
	clock   *clock
	st      *store.Store
	e       *provisioning.Engine
	opts    provisioning.Options
	cert    *provisioning.ProvisioningCert
	devices map[string]*amtsim.Device
	hosts   map[string]string
	vendor  *csrtest.Vendor
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, dir: t.TempDir(), clock: &clock{t: time.Now().Truncate(time.Second)}, devices: map[string]*amtsim.Device{}, hosts: map[string]string{}}
	w.vendor = csrtest.NewVendor(csrtest.VendorOptions{Name: "Jobs Test"})
	now := w.clock.Now()
	leaf, key := w.vendor.Issue(csrtest.LeafOptions{CN: "rcs." + suffix, NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(1, 0, 0)})
	w.cert = &provisioning.ProvisioningCert{ID: "prov1", Chain: []*x509.Certificate{leaf, w.vendor.Intermediate, w.vendor.Root}, Signer: key}
	idCA, err := amtsim.DefaultIdentityCA()
	if err != nil {
		t.Fatal(err)
	}
	caStore, err := store.Open(filepath.Join(w.dir, "ca-seal.db"), store.Options{KEK: store.KEKSource{Key: kek}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caStore.Close() })
	day := 24 * time.Hour
	ca, err := pki.Open(context.Background(), pki.Config{Mode: pki.Embedded, DataDir: w.dir, Validity: pki.Validity{AMTTLS: 90 * day, Agent: 90 * day, Server: 90 * day}}, caStore, w.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ca.Close() })
	w.opts = provisioning.Options{
		Clock: w.clock.Now, DeviceIdentityRoots: []*x509.Certificate{idCA.Cert}, StartConfigRetryDelay: time.Millisecond,
		Domains: provisioning.StaticDomains(provisioning.Domain{Name: "corp", Suffixes: []string{suffix}, CertID: "prov1"}),
		TLS:     provisioning.TLSOptions{Issuer: ca},
	}
	w.open()
	return w
}

// open opens the store and an engine, as a (re)started server does.
func (w *world) open() {
	st, err := store.Open(filepath.Join(w.dir, "amtrcs.db"), store.Options{KEK: store.KEKSource{Key: kek}, NoSync: true})
	if err != nil {
		w.t.Fatal(err)
	}
	w.st = st
	w.t.Cleanup(func() { st.Close() })
	if w.e, err = provisioning.New(st, provisioning.CertList{w.cert}, w.opts); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) activate(host string) *amtsim.Device {
	w.t.Helper()
	sd, err := amtsim.New(amtsim.Config{Version: amt.Version{Major: 16, Minor: 1, Build: 27}, DHCPSuffix: suffix, OSHostname: host, Clock: amtsim.ClockFunc(w.clock.Now),
		CustomHashes: []amtsim.CustomHash{{Name: "Jobs Test Root", Algorithm: amt.HashSHA256, Hash: amt.HashSHA256.Sum(w.vendor.Root.Raw)}}})
	if err != nil {
		w.t.Fatal(err)
	}
	dev := w.device(sd, host)
	if _, err := w.e.Activate(context.Background(), dev, provisioning.DefaultProfile("default")); err != nil {
		w.t.Fatalf("Activate: %v (%s)", err, sd.LastError())
	}
	w.devices[sd.ID().String()] = sd
	w.hosts[sd.ID().String()] = host
	return sd
}

func (w *world) device(sd *amtsim.Device, host string) *provisioning.Device {
	return &provisioning.Device{Host: hostif.NewClient(sd.Host()), Mng: hostif.NewManageability(sd.Manageability()), Dial: sd.DialLMS, Hostname: host, OSFQDN: host + "." + suffix}
}

// reach is the server's view: a device is reachable while "its agent is
// connected", here while it is in w.devices.
func (w *world) reach(ctx context.Context, id string) (*provisioning.Device, error) {
	sd, ok := w.devices[id]
	if !ok {
		return nil, fmt.Errorf("no agent connected for device %s", id)
	}
	dev := w.device(sd, w.hosts[id])
	return dev, dev.ReadInfo(ctx)
}

func (w *world) scheduler(edit func(*Options)) *Scheduler {
	w.t.Helper()
	o := Options{Store: w.st, Engine: w.e, Reach: w.reach, Schedule: config.DefaultMaintenance(), Clock: w.clock.Now}
	if edit != nil {
		edit(&o)
	}
	s, err := New(o)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := s.Load(); err != nil {
		w.t.Fatal(err)
	}
	if err := s.Plan(); err != nil {
		w.t.Fatal(err)
	}
	return s
}

func find(rs []Record, task string) (Record, bool) {
	for _, r := range rs {
		if r.Task == task {
			return r, true
		}
	}
	return Record{}, false
}

// TestScheduleDriftedClock: the first round runs every task; a drifted
// clock is corrected by the clock job when it is next due, and not
// before.
func TestScheduleDriftedClock(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	sd := w.activate("pc1")
	s := w.scheduler(nil)
	done, err := s.RunDue(ctx)
	if err != nil || len(done) != 5 {
		t.Fatalf("first round ran %d jobs (%+v), %v; want 4 device tasks and the certificate check", len(done), done, err)
	}
	for _, r := range done {
		if r.State != StateScheduled || r.Error != "" || r.LastOK.IsZero() {
			t.Fatalf("job %s: %+v", r.ID, r)
		}
	}
	st, _ := w.e.State(sd.ID().String())
	if st.TLS == nil {
		t.Fatal("the first TLS job did not configure TLS")
	}

	sd.SetFirmwareTime(w.clock.Now().Add(-10 * time.Minute))
	w.clock.Advance(2 * 24 * time.Hour)
	done, _ = s.RunDue(ctx)
	if _, ok := find(done, provisioning.TaskClockSync); ok {
		t.Fatal("clock sync ran 2 days after the last, before its 14-day period")
	}
	w.clock.Advance(12*24*time.Hour + time.Minute)
	done, _ = s.RunDue(ctx)
	r, ok := find(done, provisioning.TaskClockSync)
	if !ok || !r.Changed || r.Error != "" {
		t.Fatalf("clock job after 14 days: %+v (ran: %v)", r, ok)
	}
	if off := sd.FirmwareTime().Sub(w.clock.Now()).Abs(); off > 2*time.Second {
		t.Fatalf("firmware clock still off by %s", off)
	}
	if r.NextRun != w.clock.Now().Add(14*24*time.Hour) {
		t.Fatalf("next run %s, want 14 days on", r.NextRun)
	}
	log, _ := w.st.AuditLog(store.AuditFilter{Action: "job.maintain", Subject: sd.ID().String()})
	if len(log) < 5 {
		t.Fatalf("%d job.maintain audit events, want one per run", len(log))
	}
}

// TestScheduleTLSReissue: a certificate with 20 days left is re-issued by
// the TLS job, with the injected clock.
func TestScheduleTLSReissue(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	sd := w.activate("pc1")
	s := w.scheduler(nil)
	if _, err := s.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	first, _ := w.e.State(sd.ID().String())
	w.clock.Advance(70 * 24 * time.Hour)
	done, _ := s.RunDue(ctx)
	r, ok := find(done, provisioning.TaskTLS)
	if !ok {
		t.Fatal("the TLS job did not run")
	}
	st, _ := w.e.State(sd.ID().String())
	if r.Error != "" || !r.Changed || st.TLS.Serial == first.TLS.Serial || st.TLS.DaysLeft(w.clock.Now()) < 89 {
		t.Fatalf("TLS job with 20 days left: %+v; certificate %s (was %s)", r, st.TLS.Serial, first.TLS.Serial)
	}
}

// TestBackoff: an unreachable device's jobs back off 5, 10, 20 minutes...
// up to the cap, and return to the schedule after a success.
func TestBackoff(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	sd := w.activate("pc1")
	id := sd.ID().String()
	delete(w.devices, id) // the agent went away
	s := w.scheduler(func(o *Options) { o.MaxBackoff = 30 * time.Minute })
	for i, want := range []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 30 * time.Minute, 30 * time.Minute} {
		done, _ := s.RunDue(ctx)
		r, ok := find(done, provisioning.TaskClockSync)
		if !ok || r.State != StateBackoff || r.Attempts != i+1 || r.NextRun.Sub(w.clock.Now()) != want || !strings.Contains(r.Error, "no agent connected") {
			t.Fatalf("failure %d: %+v, want attempt %d retried in %s", i+1, r, i+1, want)
		}
		w.clock.Advance(want - time.Second)
		if done, _ := s.RunDue(ctx); len(done) != 0 {
			t.Fatalf("ran %d jobs before the back-off ended", len(done))
		}
		w.clock.Advance(time.Second)
	}
	w.devices[id] = sd
	done, _ := s.RunDue(ctx)
	r, _ := find(done, provisioning.TaskClockSync)
	if r.State != StateScheduled || r.Attempts != 0 || r.Error != "" {
		t.Fatalf("after the device came back: %+v", r)
	}
	log, _ := w.st.AuditLog(store.AuditFilter{Action: "job.maintain", Subject: id})
	failures := 0
	for _, e := range log {
		if e.Outcome == store.OutcomeFailure {
			failures++
		}
	}
	if failures != 5*4 {
		t.Fatalf("%d failures audited, want 20 (5 rounds of 4 tasks)", failures)
	}
}

// TestRestart: a job interrupted by a server stop is reloaded from the
// store by the next process and runs again; schedules survive.
func TestRestart(t *testing.T) {
	w := newWorld(t)
	sd := w.activate("pc1")
	id := sd.ID().String()
	ctx, cancel := context.WithCancel(context.Background())
	s := w.scheduler(func(o *Options) {
		o.Run = func(ctx context.Context, device, task string, _ provisioning.TaskOptions) (*provisioning.MaintenanceResult, error) {
			if task == provisioning.TaskClockSync {
				cancel() // the server stops while the job runs
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return &provisioning.MaintenanceResult{Device: device, Task: task}, nil
		}
	})
	if _, err := s.RunDue(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("RunDue = %v, want the stop", err)
	}
	if r, _ := s.Get(id, provisioning.TaskClockSync); r.State != StateRunning {
		t.Fatalf("interrupted job %+v, want it left running", r)
	}
	w.st.Close()
	w.open()
	s2 := w.scheduler(nil)
	r, err := s2.Get(id, provisioning.TaskClockSync)
	if err != nil || r.State != StateScheduled || !r.Resumed || !r.Due(w.clock.Now()) {
		t.Fatalf("after restart: %+v, %v; want due again, marked resumed", r, err)
	}
	done, err := s2.RunDue(context.Background())
	if r, ok := find(done, provisioning.TaskClockSync); err != nil || !ok || r.Error != "" || r.Resumed {
		t.Fatalf("rerun: %+v, %v", r, err)
	}
}

// TestOnDemand: a request runs at the next round, forced, even when the
// task is not due or switched off.
func TestOnDemand(t *testing.T) {
	w := newWorld(t)
	sd := w.activate("pc1")
	id := sd.ID().String()
	var mu sync.Mutex
	forced, dry := map[string]bool{}, map[string]bool{}
	sched := config.DefaultMaintenance()
	sched.PasswordRotation = 0
	s := w.scheduler(func(o *Options) {
		o.Schedule = sched
		o.Run = func(ctx context.Context, device, task string, opts provisioning.TaskOptions) (*provisioning.MaintenanceResult, error) {
			mu.Lock()
			forced[task], dry[task] = opts.Force, opts.DryRun
			mu.Unlock()
			return &provisioning.MaintenanceResult{Device: device, Task: task}, nil
		}
	})
	if _, err := s.Get(id, provisioning.TaskPasswordRotation); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rotation is off, yet scheduled: %v", err)
	}
	if _, err := s.RunDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Request(id, "defragment", "admin", false); err == nil {
		t.Fatal("an unknown task was accepted")
	}
	if _, err := s.Request(id, provisioning.TaskTLS, "admin", true); err == nil {
		t.Fatal("a dry run of the tls task was accepted")
	}
	for _, task := range []string{provisioning.TaskTLS, provisioning.TaskPasswordRotation, provisioning.TaskEnforce} {
		if _, err := s.Request(id, task, "admin:test", task == provisioning.TaskEnforce); err != nil {
			t.Fatal(err)
		}
	}
	done, _ := s.RunDue(context.Background())
	if len(done) != 3 || !forced[provisioning.TaskTLS] || !forced[provisioning.TaskPasswordRotation] || !dry[provisioning.TaskEnforce] || dry[provisioning.TaskTLS] {
		t.Fatalf("on-demand round ran %+v (forced %v, dry run %v)", done, forced, dry)
	}
	if r, _ := s.Get(id, provisioning.TaskEnforce); r.DryRun || r.State != StateIdle {
		t.Fatalf("the enforce job after its dry run: %+v, want idle with the dry run cleared", r)
	}
	if r, _ := s.Get(id, provisioning.TaskPasswordRotation); r.State != StateIdle || !r.NextRun.IsZero() {
		t.Fatalf("an off task after its on-demand run: %+v, want idle", r)
	}
	log, _ := w.st.AuditLog(store.AuditFilter{Action: "job.maintain.request"})
	if len(log) != 3 || log[0].Actor != "admin:test" {
		t.Fatalf("requests audited: %+v", log)
	}
}

// TestOneJobPerDevice: jobs of one device never overlap, while devices run
// side by side.
func TestOneJobPerDevice(t *testing.T) {
	w := newWorld(t)
	var mu sync.Mutex
	active := map[string]int{}
	maxPer, maxAll, all := 0, 0, 0
	devs := []string{"d1", "d2", "d3"}
	s := w.scheduler(func(o *Options) {
		o.Workers = 8
		o.Devices = func() ([]string, error) { return devs, nil }
		o.Run = func(ctx context.Context, device, task string, _ provisioning.TaskOptions) (*provisioning.MaintenanceResult, error) {
			mu.Lock()
			active[device]++
			all++
			maxPer, maxAll = max(maxPer, active[device]), max(maxAll, all)
			mu.Unlock()
			time.Sleep(15 * time.Millisecond)
			mu.Lock()
			active[device]--
			all--
			mu.Unlock()
			return &provisioning.MaintenanceResult{Device: device, Task: task}, nil
		}
	})
	var wg sync.WaitGroup
	for range 3 { // concurrent rounds must not double up either
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = s.RunDue(context.Background()) }()
	}
	wg.Wait()
	if maxPer != 1 || maxAll < 2 {
		t.Fatalf("at most %d jobs at once on a device (want 1), %d in all (want devices in parallel)", maxPer, maxAll)
	}
	rs, _ := Records(w.st)
	for _, r := range rs {
		if r.RunsTotal != 1 {
			t.Fatalf("job %s ran %d times in one due period", r.ID, r.RunsTotal)
		}
	}
}
