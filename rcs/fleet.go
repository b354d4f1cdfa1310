package rcs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/rcs/jobs"
	"github.com/amtrcs/amtrcs/store"
)

// Several servers may share one store (PostgreSQL). Each has a random id,
// logged at start, and holds leases in the store:
//
//   - device:<id> while it runs an activation, resumption or deactivation
//     job on the device, so that one job runs on a device across the fleet;
//   - maint:<id> while it runs the device's maintenance jobs, so that
//     scheduled maintenance runs once in the fleet, not once per server;
//   - agent:<id> while the device's agent is connected to it, so that the
//     others leave the device's maintenance to it.
//
// The server renews its leases every third of their time to live. When it
// dies they expire: its agents reconnect to another server, which takes
// the device's job slot once the lease has expired and resumes the
// interrupted session; the job that was running is ended as interrupted,
// once, by whichever server notices first. On bbolt (one server) the
// leases live in memory and change nothing.

// DefaultLeaseTTL is how long a lease lasts without renewal.
const DefaultLeaseTTL = 15 * time.Second

// Lease name prefixes.
const (
	leaseDevice = "device:"
	leaseMaint  = "maint:"
	leaseAgent  = "agent:"
)

// topicLease is the notification of a released device lease; its payload
// is the device id.
const topicLease = "lease"

// ID is the server's id in the fleet: the owner of its leases and the
// server field of the jobs it runs.
func (s *Server) ID() string { return s.id }

// leaseTTL is server.lease_ttl or the default.
func (s *Server) leaseTTL() time.Duration {
	if t := s.cfg.Server.LeaseTTL; t > 0 {
		return t
	}
	return DefaultLeaseTTL
}

// claimDevice takes the device's job slot in the fleet. Held by another
// server, the refusal is a 409 naming it, wrapping the *store.LeaseHeldError.
func (s *Server) claimDevice(device string) error {
	_, err := s.st.Claim(leaseDevice+device, s.id, s.leaseTTL())
	var held *store.LeaseHeldError
	if errors.As(err, &held) {
		return &heldError{APIError: APIError{Status: http.StatusConflict, Message: fmt.Sprintf("device %s has a job running on server %s", device, held.Held.Owner),
			RuleError: amt.RuleError{Rule: "one job per device", Seen: "a job on server " + held.Held.Owner, Want: "no running job",
				Fix: "wait for it; if that server died, the device is free again at " + held.Held.Expires.UTC().Format(time.RFC3339)}}, held: held}
	}
	return err
}

// heldError is the refusal of a device whose job slot another server
// holds.
type heldError struct {
	APIError
	held *store.LeaseHeldError
}

func (e *heldError) Unwrap() []error { return []error{&e.APIError, e.held} }

// releaseDevice gives the device's job slot back and tells the servers
// waiting for it.
func (s *Server) releaseDevice(device string) {
	if err := s.st.Release(leaseDevice+device, s.id); err != nil {
		s.log.Warn("release the device's job slot", "device", device, "err", err)
		return
	}
	_ = s.st.Notify(topicLease, device)
}

// claimMaintenance is the scheduler's claim: the device's maintenance
// runs where its agent is connected, else on whichever server takes the
// lease first.
func (s *Server) claimMaintenance(device string) (func(), bool) {
	if device != jobs.ServerSubject && s.gw.conn(device) == nil {
		if ls, err := s.st.Leases(leaseAgent + device); err != nil || len(ls) > 0 && ls[0].Owner != s.id {
			return nil, false
		}
	}
	if _, err := s.st.Claim(leaseMaint+device, s.id, s.leaseTTL()); err != nil {
		return nil, false
	}
	return func() { _ = s.st.Release(leaseMaint+device, s.id) }, true
}

// holdAgent records that the device's agent is connected here. Another
// server may still hold it (the agent left it for this one): the renewal
// loop tries again until its lease expires.
func (s *Server) holdAgent(device string) {
	if _, err := s.st.Claim(leaseAgent+device, s.id, s.leaseTTL()); err != nil && !errors.Is(err, store.ErrLeaseHeld) {
		s.log.Warn("record the agent's connection", "device", device, "err", err)
	}
}

func (s *Server) dropAgent(device string) {
	if err := s.st.Release(leaseAgent+device, s.id); err != nil {
		s.log.Warn("record the agent's disconnection", "device", device, "err", err)
	}
}

// keepLeases renews the server's leases every third of their time to live,
// takes the agent leases it could not take yet, and ends the jobs of
// servers that died, until the server stops.
func (s *Server) keepLeases() {
	ttl := s.leaseTTL()
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	sweep := time.NewTicker(ttl)
	defer sweep.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if _, err := s.st.Renew(s.id, ttl); err != nil {
				s.log.Warn("renew this server's leases", "err", err)
			}
			s.claimAgents()
		case <-sweep.C:
			s.jobs.resumeOrphans()
		}
	}
}

// claimAgents takes the agent lease of every connected device that lacks
// it.
func (s *Server) claimAgents() {
	ls, err := s.st.Leases(leaseAgent)
	if err != nil {
		return
	}
	mine := make(map[string]bool, len(ls))
	for _, l := range ls {
		if l.Owner == s.id {
			mine[l.Name[len(leaseAgent):]] = true
		}
	}
	for _, id := range s.gw.devices() {
		if !mine[id] {
			s.holdAgent(id)
		}
	}
}

// waitForDevice runs onReport again for an agent whose device's job slot
// another server held: when that server releases it, or when its lease
// expires (the server died), as long as the agent stays connected here.
// listening is called once the release would be heard.
func (r *jobRunner) waitForDevice(id string, ac *agentConn, held *store.LeaseHeldError, listening func()) {
	s := r.s
	ctx, cancel := context.WithCancel(s.ctx)
	released, err := s.st.Listen(ctx, topicLease)
	if err != nil {
		cancel()
		listening()
		return
	}
	listening()
	// Released before we listened: no notification will come.
	if ls, err := s.st.Leases(leaseDevice + id); err == nil && !heldBy(ls, leaseDevice+id, held.Held.Owner) {
		held.Held.Expires = time.Now().Add(-time.Second)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer cancel()
		// A little past the expiry: the databases's clock decides it.
		t := time.NewTimer(time.Until(held.Held.Expires) + time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ac.sess.CloseChan():
				return
			case dev := <-released:
				if dev != id {
					continue
				}
			case <-t.C:
			}
			if s.gw.conn(id) == ac {
				r.onReport(id, ac)
			}
			return
		}
	}()
}

// heldBy says whether owner holds the lease name among ls.
func heldBy(ls []store.Lease, name, owner string) bool {
	for _, l := range ls {
		if l.Name == name {
			return l.Owner == owner
		}
	}
	return false
}

// jobOrphaned says whether a job recorded as running is no longer run by
// any server: its device's job slot is free, or held by a server other
// than the job's.
func (s *Server) jobOrphaned(j Job) bool {
	ls, err := s.st.Leases(leaseDevice + j.Device)
	if err != nil {
		return false
	}
	for _, l := range ls {
		if l.Name == leaseDevice+j.Device {
			return l.Owner != j.Server
		}
	}
	return true
}

// endInterrupted ends a job that was running when its server stopped or
// died, unless it has ended meanwhile: whichever server notices first ends
// it, and only once.
func endInterrupted(tx *store.Tx, id string, now time.Time) (Job, bool, error) {
	var j Job
	if err := tx.Get(store.Jobs, id, &j); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return j, false, nil
		}
		return j, false, err
	}
	if j.Status != JobRunning {
		return j, false, nil
	}
	j.Status, j.Finished = JobInterrupted, now
	j.Error = "interrupted: the server running it stopped"
	j.Fix = "nothing: the device's session resumes when its agent reconnects"
	if err := tx.Put(store.Jobs, j.ID, j); err != nil {
		return j, false, err
	}
	return j, true, tx.Audit(store.Event{Time: now, Actor: "rcs:" + j.Server, Action: "job.interrupted", Subject: j.Device, Outcome: store.OutcomeFailure, Detail: map[string]string{"job": j.ID, "kind": j.Kind}})
}

// interruptedDevice is the device's state after endInterrupted: it must
// not go on showing "activating" for a job that no longer runs.
func interruptedDevice(tx *store.Tx, j Job) error {
	var d DeviceRecord
	if err := tx.Get(store.Devices, j.Device, &d); err != nil || d.LastJob != j.ID {
		return nil
	}
	d.State, d.Error, d.Fix = StateInterrupted, j.Error, j.Fix
	return tx.Put(store.Devices, d.ID, d)
}
