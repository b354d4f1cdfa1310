package rcs_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/internal/pgtest"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

// fleetStores are the stores a server shares (PostgreSQL) or holds alone
// (bbolt): leases behave the same on both.
var fleetStores = map[string]func(t *testing.T) *env{
	"bbolt": func(t *testing.T) *env { return newEnvWith(t, nil, nil) },
	"postgres": func(t *testing.T) *env {
		dir := t.TempDir()
		st, err := store.OpenPostgres(pgtest.URL(t), dir, store.Options{KEK: store.KEKSource{Key: testKEK}, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return newEnvOn(t, dir, st, nil, nil)
	},
}

// runAgent runs sd's agent until its first final event, sending every
// event on the channel it returns; the error arrives when Run returns.
func runAgent(t *testing.T, e *env, sd interface{ ID() amt.UUID }, run func(events func(wire.Event)) error) (<-chan wire.Event, <-chan error) {
	t.Helper()
	evs := make(chan wire.Event, 64)
	done := make(chan error, 1)
	go func() { done <- run(func(ev wire.Event) { evs <- ev }) }()
	return evs, done
}

// waitEvent waits for an event whose message holds want.
func waitEvent(t *testing.T, evs <-chan wire.Event, want string) wire.Event {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case ev := <-evs:
			if strings.Contains(ev.Message, want) {
				return ev
			}
			if ev.Final() {
				t.Fatalf("final event %+v before one saying %q", ev, want)
			}
		case <-deadline:
			t.Fatalf("no event saying %q", want)
		}
	}
}

// A device whose job slot another server holds is not activated here: the
// agent is told which server runs it, and the device is taken over when
// that server releases it (told by a notification) or, when that server
// died, once its lease expired; the dead server's job then ends as
// interrupted, once.
func TestDeviceHeldByAnotherServer(t *testing.T) {
	for name, open := range fleetStores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, died := range []bool{false, true} {
				e := open(t)
				sd := e.device("16.1.27", nil)
				id := sd.ID().String()
				ttl := time.Hour
				if died {
					// The other server's job was running when it died.
					ttl = 2 * time.Second
					now := time.Now()
					if err := e.st.Put(store.Jobs, "job-old", rcs.Job{ID: "job-old", Device: id, Kind: rcs.JobActivate, Server: "other", Status: rcs.JobRunning, Created: now}); err != nil {
						t.Fatal(err)
					}
					if err := e.st.Put(store.Devices, id, rcs.DeviceRecord{ID: id, State: rcs.StateActivating, LastJob: "job-old", FirstSeen: now}); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := e.st.Claim("device:"+id, "other", ttl); err != nil {
					t.Fatal(err)
				}
				a := e.agentFor(sd, "", true, nil)
				evs, done := runAgent(t, e, sd, func(events func(wire.Event)) error {
					a = e.agentFor(sd, "", true, events)
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					return a.Run(ctx)
				})
				waitEvent(t, evs, "runs on server other")
				if st, _ := sd.State(); st != amt.PreProvisioning {
					t.Fatalf("the device was activated (%s) while another server held it", st)
				}
				if !died {
					if err := e.st.Release("device:"+id, "other"); err != nil {
						t.Fatal(err)
					}
					if err := e.st.Notify("lease", id); err != nil {
						t.Fatal(err)
					}
				}
				if err := <-done; err != nil {
					t.Fatalf("agent (died=%v): %v", died, err)
				}
				if st, mode := sd.State(); st != amt.PostProvisioning || mode != amt.ControlACM {
					t.Fatalf("device after the takeover: %s %s, want post-provisioning ACM", st, mode)
				}
				if !died {
					continue
				}
				var old rcs.Job
				if err := e.st.Get(store.Jobs, "job-old", &old); err != nil || old.Status != rcs.JobInterrupted {
					t.Fatalf("the dead server's job: %+v, %v; want interrupted", old, err)
				}
				evts, err := e.st.AuditLog(store.AuditFilter{Action: "job.interrupted", Subject: id})
				if err != nil || len(evts) != 1 {
					t.Fatalf("job.interrupted events of the device: %d, %v; want exactly 1", len(evts), err)
				}
			}
		})
	}
}

// An admin's deactivation reaches server B while the device's agent is
// connected to server A (both on one PostgreSQL store): B answers 202 with
// the job requested of A, and A runs it.
func TestJobRequestedOnAnotherServer(t *testing.T) {
	dir := t.TempDir()
	url := pgtest.URL(t)
	open := func() *store.Store {
		st, err := store.OpenPostgres(url, dir, store.Options{KEK: store.KEKSource{Key: testKEK}, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	a := newEnvOn(t, dir, open(), nil, nil)
	b := secondServer(t, a, open())
	sd := a.device("16.1.27", nil)
	id := sd.ID().String()
	next, _ := a.liveAgent(sd, "")
	if ev := next("activation"); ev.Kind != wire.EventDone {
		t.Fatalf("activation on server A: %+v", ev)
	}
	var j rcs.Job
	if code := b.call("POST", "/api/v1/devices/"+id+"/deactivate", b.token, nil, &j); code != 202 {
		t.Fatalf("deactivate on server B: %d %+v, want 202", code, j)
	}
	if j.Status != rcs.JobRequested || j.Server != a.srv.ID() {
		t.Fatalf("job on server B: status %q for server %q, want %q for server A (%s)", j.Status, j.Server, rcs.JobRequested, a.srv.ID())
	}
	if ev := next("deactivation"); ev.Kind != wire.EventDone || ev.Job != j.ID {
		t.Fatalf("deactivation run by server A: %+v, want done of job %s", ev, j.ID)
	}
	if st, _ := sd.State(); st != amt.PreProvisioning {
		t.Fatalf("device after the deactivation: %s", st)
	}
	var done rcs.Job
	if code := b.call("GET", "/api/v1/jobs/"+j.ID, b.token, nil, &done); code != 200 || done.Status != rcs.JobDone || done.Server != a.srv.ID() {
		t.Fatalf("job after it ran: %d %+v", code, done)
	}
}

// secondServer is another server on the store of a's database, sharing
// a's data directory (its certificate, its admin token).
func secondServer(t *testing.T, a *env, st *store.Store) *env {
	t.Helper()
	t.Cleanup(func() { st.Close() })
	cfg := config.Default()
	cfg.DataDir = a.dir
	cfg.Server.API, cfg.Server.AgentGateway = "127.0.0.1:0", "127.0.0.1:0"
	srv, err := rcs.New(rcs.Options{Config: cfg, Store: st, Logger: testLogger(),
		Engine: provisioning.Options{DeviceIdentityRoots: []*x509.Certificate{a.idCA.Cert}, StartConfigRetryDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	b := *a
	b.st, b.srv = st, srv
	return &b
}
