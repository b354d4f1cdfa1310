package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Outcomes of an audited action.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeDenied  = "denied"
)

// Event is one audit record. Callers must never put a secret (password, key,
// nonce, token value) in any field: name the secret instead, for example
// Detail{"secret_name": "device/<uuid>/admin"}. Audit refuses the cases it can
// recognise, listed on Tx.Audit.
type Event struct {
	Seq     uint64            `json:"seq"` // set by Audit; the order of the log
	Time    time.Time         `json:"time"`
	Actor   string            `json:"actor"`             // who: "admin:alice", "rcs", "agent:<id>"
	Action  string            `json:"action"`            // what: "device.activate", "cert.import"
	Subject string            `json:"subject,omitempty"` // on what: a device or certificate id
	Outcome string            `json:"outcome"`           // OutcomeSuccess, OutcomeFailure, OutcomeDenied
	Detail  map[string]string `json:"detail,omitempty"`
}

// AuditFilter selects events from the log. Zero fields select everything.
type AuditFilter struct {
	Subject string
	Action  string
	Actor   string
	Since   time.Time // events at or after
	Until   time.Time // events before
	Limit   int       // at most this many, newest first; 0 means no limit
	// BeforeSeq, when set, selects events older than that sequence (the
	// cursor of a page of the log).
	BeforeSeq uint64
}

// minTrackedSecret is the shortest plaintext Audit looks for in events: a
// shorter one would match ordinary words. AMT passwords are 8 or more.
const minTrackedSecret = 8

// secretWords are detail keys that name a secret's value.
var secretWords = []string{"password", "passwd", "passphrase", "secret", "privatekey", "apikey"}

// Audit appends e to the audit log, in the same transaction as the writes it
// records. It sets e.Seq from the bucket's sequence (the log's order) and
// e.Time from the store's clock when zero.
//
// It refuses an event that has no Action or Outcome, a detail key naming a
// secret (such as "password" or "private_key"; "secret_name" and
// "password_id" are fine), or any field containing a plaintext of 8 bytes or
// more that PutSecret stored in this transaction. That catches mistakes; it
// does not make it safe to pass secrets.
func (t *Tx) Audit(e Event) error {
	if err := t.checkEvent(e); err != nil {
		return err
	}
	if e.Time.IsZero() {
		e.Time = t.s.now()
	}
	e.Time = e.Time.UTC()
	err := t.tx.appendAudit(func(seq uint64) ([]byte, error) {
		e.Seq = seq
		return json.Marshal(e)
	})
	if err != nil {
		return fmt.Errorf("audit event %q: %w", e.Action, err)
	}
	return nil
}

func (t *Tx) checkEvent(e Event) error {
	if e.Action == "" {
		return fmt.Errorf("audit event for subject %q has no action, want one such as \"device.activate\": set Event.Action", e.Subject)
	}
	switch e.Outcome {
	case OutcomeSuccess, OutcomeFailure, OutcomeDenied:
	default:
		return fmt.Errorf("audit event %q has outcome %q, want %q, %q or %q: set Event.Outcome", e.Action, e.Outcome, OutcomeSuccess, OutcomeFailure, OutcomeDenied)
	}
	for k := range e.Detail {
		if namesSecret(k) {
			return fmt.Errorf("audit event %q: detail key %q names a secret, and the audit log must never hold secrets: record the secret's name under a key such as \"secret_name\" instead", e.Action, k)
		}
	}
	fields := []struct{ name, v string }{{"actor", e.Actor}, {"action", e.Action}, {"subject", e.Subject}, {"outcome", e.Outcome}}
	for k, v := range e.Detail {
		fields = append(fields, struct{ name, v string }{"detail key", k}, struct{ name, v string }{"detail " + k, v})
	}
	for _, p := range t.secretsWritten {
		for _, f := range fields {
			if bytes.Contains([]byte(f.v), p) {
				return fmt.Errorf("audit event %q: %s repeats a secret stored in this transaction, and the audit log must never hold secrets: record the secret's name instead", e.Action, f.name)
			}
		}
	}
	return nil
}

func namesSecret(key string) bool {
	k := strings.Map(func(r rune) rune {
		switch r {
		case '_', '-', '.', ' ':
			return -1
		}
		return r
	}, strings.ToLower(key))
	for _, suffix := range []string{"name", "id", "ref"} {
		if strings.HasSuffix(k, suffix) {
			return false
		}
	}
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// AuditLog returns the events that match f, newest first. It reads the whole
// log when a filter is set; the log is ordered by sequence, not by time,
// because callers may record events with their own timestamps.
func (t *Tx) AuditLog(f AuditFilter) ([]Event, error) {
	var out []Event
	err := t.tx.auditDesc(f.BeforeSeq, func(seq uint64, v []byte) (bool, error) {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return false, fmt.Errorf("audit event %d: decode: %w", seq, err)
		}
		if f.match(e) {
			out = append(out, e)
		}
		return f.Limit <= 0 || len(out) < f.Limit, nil
	})
	return out, err
}

func (f AuditFilter) match(e Event) bool {
	switch {
	case f.Subject != "" && e.Subject != f.Subject,
		f.Action != "" && e.Action != f.Action,
		f.Actor != "" && e.Actor != f.Actor,
		!f.Since.IsZero() && e.Time.Before(f.Since),
		!f.Until.IsZero() && !e.Time.Before(f.Until):
		return false
	}
	return true
}

// Audit appends one event in its own transaction.
func (s *Store) Audit(e Event) error {
	return s.Update(func(tx *Tx) error { return tx.Audit(e) })
}

// AuditLog returns the events that match f, newest first.
func (s *Store) AuditLog(f AuditFilter) (events []Event, err error) {
	err = s.View(func(tx *Tx) error {
		events, err = tx.AuditLog(f)
		return err
	})
	return events, err
}

// pruneChunk bounds the records one pruning transaction deletes, so that
// pruning a large log never holds the writer for long.
const pruneChunk = 10000

// PruneAudit applies the audit log's retention: it deletes the oldest
// events, those before olderThan (zero: no age limit) and those beyond the
// newest keep (0: no count limit), and returns how many it deleted. It only
// ever deletes from the oldest end, so the sequences left stay contiguous
// and no kept event is touched; an event a caller dated earlier than the
// one before it waits for that one to go.
func (s *Store) PruneAudit(olderThan time.Time, keep int) (deleted int, err error) {
	for {
		n := 0
		err := s.Update(func(tx *Tx) error {
			var err error
			n, err = tx.tx.pruneAudit(pruneChunk, func(seq, last uint64, v []byte) bool {
				return tooOld(seq, last, v, olderThan, keep)
			})
			return err
		})
		deleted += n
		if err != nil || n < pruneChunk {
			return deleted, err
		}
	}
}

// tooOld says whether the event seq (value v) is beyond the retention, the
// log's newest being last.
func tooOld(seq, last uint64, v []byte, olderThan time.Time, keep int) bool {
	if keep > 0 && last-seq >= uint64(keep) {
		return true
	}
	if olderThan.IsZero() {
		return false
	}
	var e struct {
		Time time.Time `json:"time"`
	}
	// An event that does not decode is not judged by its age: the count
	// limit still bounds it.
	return json.Unmarshal(v, &e) == nil && e.Time.Before(olderThan)
}
