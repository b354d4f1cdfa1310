package rcs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/store"
)

// A hello is unauthenticated: anyone on the network can send one with any
// UUID. A device known only by its hellos is therefore pending: its record
// expires unless the device is activated or an admin accepts it, and an
// address, like the server, may have only so many pending devices at once.
// Hellos beyond are refused and counted, never recorded one by one.

// HousekeepingInterval is how often the server purges expired pending
// devices and applies the audit log's retention (also done at start).
const HousekeepingInterval = 10 * time.Minute

// pendingLimits are the server block's limits, defaults filled in.
type pendingLimits struct {
	expiry           time.Duration
	perSource, total int
}

func (s *Server) pendingLimits() pendingLimits {
	c := s.cfg.Server
	l := pendingLimits{expiry: c.HelloPendingExpiry, perSource: c.HelloPendingPerSource, total: c.HelloPendingMax}
	if l.expiry <= 0 {
		l.expiry = config.DefaultHelloPendingExpiry
	}
	if l.perSource <= 0 {
		l.perSource = config.DefaultHelloPendingPerSource
	}
	if l.total <= 0 {
		l.total = config.DefaultHelloPendingMax
	}
	return l
}

// recordHello updates the record of a hello's device, or makes a pending
// one for an unknown device, and returns it; it refuses (*APIError) a new
// device beyond the limits.
func (s *Server) recordHello(id string, from netip.Addr) (DeviceRecord, error) {
	now, src, lim := s.now(), from.String(), s.pendingLimits()
	var d DeviceRecord
	// One transaction counts and writes, so concurrent hellos cannot
	// overshoot the limits.
	err := s.st.Batch(func(tx *store.Tx) error {
		d = DeviceRecord{}
		err := tx.Get(store.Devices, id, &d)
		switch {
		case errors.Is(err, store.ErrNotFound):
			fromSrc, all, err := countPending(tx, src)
			if err != nil {
				return err
			}
			if fromSrc >= lim.perSource {
				return apiErr(http.StatusTooManyRequests, "pending devices per address", fmt.Sprintf("%d devices known only by their hellos from %s", fromSrc, src), fmt.Sprintf("at most %d", lim.perSource),
					"accept the real devices (POST /api/v1/devices/{id}/accept) or raise server.hello_pending_per_source; the others expire after server.hello_pending_expiry")
			}
			if all >= lim.total {
				return apiErr(http.StatusTooManyRequests, "pending devices", fmt.Sprintf("%d devices known only by their hellos", all), fmt.Sprintf("at most %d", lim.total),
					"accept the real devices (POST /api/v1/devices/{id}/accept) or raise server.hello_pending_max; the others expire after server.hello_pending_expiry")
			}
			d = DeviceRecord{ID: id, State: StateDiscovered, FirstSeen: now, Expires: now.Add(lim.expiry)}
		case err != nil:
			return err
		}
		d.Source, d.Address, d.LastSeen, d.Updated = "hello", src, now, now
		d.Connected = false
		return tx.Put(store.Devices, id, d)
	})
	return d, err
}

// dropPendingJob deletes the last job of a pending device, whose next job
// is starting: its hellos repeat, and each would otherwise leave a job. The
// caller holds the device's job slot, so that job has ended.
func dropPendingJob(tx *store.Tx, id string) error {
	var d DeviceRecord
	if err := tx.Get(store.Devices, id, &d); err != nil || d.Expires.IsZero() || d.LastJob == "" {
		return nil
	}
	if err := tx.Delete(store.Jobs, d.LastJob); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// pendingMark is in the JSON of a pending record only (Expires is
// omitzero): records without it are not decoded.
var pendingMark = []byte(`"expires":`)

// forPending calls fn with each pending device record.
func forPending(tx *store.Tx, fn func(d DeviceRecord) error) error {
	return tx.ForEach(store.Devices, func(id string, raw []byte) error {
		if !bytes.Contains(raw, pendingMark) {
			return nil
		}
		var d DeviceRecord
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("device %s: decode: %w", id, err)
		}
		if d.Expires.IsZero() {
			return nil
		}
		return fn(d)
	})
}

// countPending counts the pending devices of an address and of all.
func countPending(tx *store.Tx, src string) (fromSrc, all int, err error) {
	err = forPending(tx, func(d DeviceRecord) error {
		all++
		if d.Address == src {
			fromSrc++
		}
		return nil
	})
	return fromSrc, all, err
}

// Housekeep applies the limits on what the store keeps: pending devices
// past their expiry go, with their jobs and sessions, and the audit log's
// retention is applied. The server runs it at start and every
// HousekeepingInterval.
func (s *Server) Housekeep() error {
	purged, kept, perr := s.purgePending()
	if purged > 0 || kept > 0 {
		s.log.Info("expired pending devices purged", "purged", purged, "kept_with_password", kept)
	}
	var cutoff time.Time
	if age := s.cfg.Server.AuditMaxAge; age > 0 {
		cutoff = s.now().Add(-age)
	}
	pruned, aerr := s.st.PruneAudit(cutoff, s.cfg.Server.AuditMaxRecords)
	if pruned > 0 {
		s.log.Info("audit retention applied", "deleted", pruned, "max_age", s.cfg.Server.AuditMaxAge, "max_records", s.cfg.Server.AuditMaxRecords)
	}
	if aerr != nil {
		aerr = fmt.Errorf("audit retention: %w", aerr)
	}
	return errors.Join(perr, aerr)
}

func (s *Server) housekeep(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if err := s.Housekeep(); err != nil {
				s.log.Warn("housekeeping", "err", err)
			}
		}
	}
}

// purgePending deletes the expired pending devices, their jobs and their
// sessions. A device with a job running or an agent connected waits; one
// whose password the store holds is a real device part way through its
// setup, and is kept for good (kept counts those).
func (s *Server) purgePending() (purged, kept int, err error) {
	now := s.now()
	err = s.st.Update(func(tx *store.Tx) error {
		purged, kept = 0, 0
		var expired []DeviceRecord
		if err := forPending(tx, func(d DeviceRecord) error {
			if now.Before(d.Expires) || s.jobs.busy(d.ID) || s.gw.conn(d.ID) != nil {
				return nil
			}
			expired = append(expired, d)
			return nil
		}); err != nil {
			return err
		}
		gone := map[string]bool{}
		for _, d := range expired {
			if holdsPassword(tx, d.ID) {
				d.Expires = time.Time{}
				if err := tx.Put(store.Devices, d.ID, d); err != nil {
					return err
				}
				kept++
				continue
			}
			for _, del := range []struct {
				b  store.Bucket
				id string
			}{{store.Devices, d.ID}, {store.Sessions, d.ID}, {store.Maintenance, provisioning.StateKey(d.ID)}} {
				if err := tx.Delete(del.b, del.id); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			gone[d.ID] = true
		}
		purged = len(gone)
		if purged == 0 {
			return nil
		}
		// Activation jobs and maintenance records both name their device.
		for _, b := range []store.Bucket{store.Jobs, store.MaintJobs} {
			var jobs []string
			if err := tx.ForEach(b, func(id string, raw []byte) error {
				var j struct {
					Device string `json:"device"`
				}
				if json.Unmarshal(raw, &j) == nil && gone[j.Device] {
					jobs = append(jobs, id)
				}
				return nil
			}); err != nil {
				return err
			}
			for _, id := range jobs {
				if err := tx.Delete(b, id); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return purged, kept, err
}

// holdsPassword says whether the store holds a password of the device.
func holdsPassword(tx *store.Tx, id string) bool {
	for _, name := range []string{provisioning.AdminSecretName(id), provisioning.AdminNextSecretName(id), provisioning.MEBxSecretName(id)} {
		if tx.HasSecret(name) {
			return true
		}
	}
	return false
}

// acceptDevice keeps a pending device for good: POST
// /api/v1/devices/{id}/accept.
func (s *Server) acceptDevice(w http.ResponseWriter, r *http.Request, p *principal) {
	id := r.PathValue("id")
	var d DeviceRecord
	err := s.st.Batch(func(tx *store.Tx) error {
		if err := tx.Get(store.Devices, id, &d); err != nil {
			return err
		}
		if d.Expires.IsZero() {
			return nil
		}
		d.Expires, d.Updated = time.Time{}, s.now()
		if err := tx.Put(store.Devices, id, d); err != nil {
			return err
		}
		return tx.Audit(store.Event{Actor: p.Actor, Action: "device.accept", Subject: id, Outcome: store.OutcomeSuccess, Detail: map[string]string{"address": d.Address}})
	})
	if err != nil {
		writeError(w, err)
		return
	}
	d.Connected = s.gw.conn(id) != nil
	writeJSON(w, http.StatusOK, d)
}
