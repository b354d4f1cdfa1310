package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Tx is one transaction. Writes made through a Tx commit together when the
// function given to Update or Batch returns nil, and are discarded when it
// returns an error. A Tx must not be used after that function returns.
type Tx struct {
	tx backendTx
	s  *Store
	// secretsWritten holds the plaintexts this transaction sealed, so that
	// Audit can refuse an event repeating one of them.
	secretsWritten [][]byte
}

// Update runs fn in a read-write transaction and commits (durably: fsync on
// bbolt unless Options.NoSync, the server's acknowledgement on PostgreSQL)
// when fn returns nil. On PostgreSQL fn runs again when the transaction
// lost a serialization conflict with another server's, so fn must have no
// effect outside the transaction.
func (s *Store) Update(fn func(tx *Tx) error) error {
	start := time.Now()
	err := s.be.update(func(btx backendTx) error {
		t := &Tx{tx: btx, s: s}
		defer t.forget()
		return fn(t)
	})
	if err == nil {
		s.stats.commits.Add(1)
		s.observeCommit(time.Since(start), 1)
	}
	return err
}

// View runs fn in a read-only transaction that sees one consistent snapshot.
func (s *Store) View(fn func(tx *Tx) error) error {
	return s.be.view(func(btx backendTx) error { return fn(&Tx{tx: btx, s: s}) })
}

func (t *Tx) forget() {
	for _, p := range t.secretsWritten {
		clear(p)
	}
	t.secretsWritten = nil
}

// raw reads a record's bytes, nil when missing, with a backend error
// naming the record.
func (t *Tx) raw(b Bucket, id string) ([]byte, error) {
	v, err := t.tx.get(b, id)
	if err != nil {
		return nil, &Error{Bucket: b, ID: id, Err: err}
	}
	return v, nil
}

// Put stores v as JSON under id, replacing any previous value.
func (t *Tx) Put(b Bucket, id string, v any) error {
	if err := checkEntity(b); err != nil {
		return err
	}
	if err := checkID(b, id); err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return &Error{Bucket: b, ID: id, Err: fmt.Errorf("encode: %w", err)}
	}
	if err := t.tx.put(b, id, data); err != nil {
		return &Error{Bucket: b, ID: id, Err: err}
	}
	return nil
}

// Create stores v under id, or fails with ErrConflict if id exists.
func (t *Tx) Create(b Bucket, id string, v any) error {
	ok, err := t.Exists(b, id)
	if err != nil {
		return err
	}
	if ok {
		return &Error{Bucket: b, ID: id, Err: ErrConflict}
	}
	return t.Put(b, id, v)
}

// Get decodes the value stored under id into v, or fails with ErrNotFound.
func (t *Tx) Get(b Bucket, id string, v any) error {
	if err := checkEntity(b); err != nil {
		return err
	}
	data, err := t.raw(b, id)
	if err != nil {
		return err
	}
	if data == nil {
		return &Error{Bucket: b, ID: id, Err: ErrNotFound}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return &Error{Bucket: b, ID: id, Err: fmt.Errorf("decode: %w", err)}
	}
	return nil
}

// Exists reports whether id is stored in b.
func (t *Tx) Exists(b Bucket, id string) (bool, error) {
	if err := checkEntity(b); err != nil {
		return false, err
	}
	data, err := t.raw(b, id)
	return data != nil, err
}

// Delete removes id, or fails with ErrNotFound.
func (t *Tx) Delete(b Bucket, id string) error {
	if err := checkEntity(b); err != nil {
		return err
	}
	return t.del(b, id)
}

func (t *Tx) del(b Bucket, id string) error {
	ok, err := t.tx.delete(b, id)
	switch {
	case err != nil:
		return &Error{Bucket: b, ID: id, Err: err}
	case !ok:
		return &Error{Bucket: b, ID: id, Err: ErrNotFound}
	}
	return nil
}

// ForEach calls fn for each record of b in id order. raw is valid only until
// fn returns; an error from fn stops the walk and is returned.
func (t *Tx) ForEach(b Bucket, fn func(id string, raw []byte) error) error {
	if err := checkEntity(b); err != nil {
		return err
	}
	return t.tx.forEach(b, fn)
}

// PutSecret seals plaintext under name and stores it, replacing any previous
// value. The sealed value opens only under this name.
func (t *Tx) PutSecret(name string, plaintext []byte) error {
	if err := checkID(Secrets, name); err != nil {
		return err
	}
	sealed, err := t.s.sealer.seal(purposeSecret, name, plaintext)
	if err != nil {
		return err
	}
	if err := t.tx.put(Secrets, name, sealed); err != nil {
		return &Error{Bucket: Secrets, ID: name, Err: err}
	}
	if len(plaintext) >= minTrackedSecret {
		t.secretsWritten = append(t.secretsWritten, bytes.Clone(plaintext))
	}
	return nil
}

// Secret opens the secret stored under name, or fails with ErrNotFound, or
// with ErrSealed if it does not open (wrong name binding or damage).
func (t *Tx) Secret(name string) ([]byte, error) {
	sealed, err := t.raw(Secrets, name)
	if err != nil {
		return nil, err
	}
	if sealed == nil {
		return nil, &Error{Bucket: Secrets, ID: name, Err: ErrNotFound}
	}
	pt, err := t.s.sealer.open(purposeSecret, name, sealed)
	if err != nil {
		return nil, &Error{Bucket: Secrets, ID: name, Err: ErrSealed}
	}
	return pt, nil
}

// HasSecret says whether a secret is stored under name, without opening it.
// A backend failure reads as absent; the write that follows reports it.
func (t *Tx) HasSecret(name string) bool {
	v, _ := t.tx.get(Secrets, name)
	return v != nil
}

// DeleteSecret removes a secret, or fails with ErrNotFound.
func (t *Tx) DeleteSecret(name string) error { return t.del(Secrets, name) }

// SecretNames lists the names of stored secrets, in order. It opens none.
func (t *Tx) SecretNames() []string {
	var names []string
	t.tx.forEach(Secrets, func(k string, _ []byte) error {
		names = append(names, k)
		return nil
	})
	return names
}

// The Store methods below are single-operation transactions.

// Put stores v as JSON under id in its own transaction.
func (s *Store) Put(b Bucket, id string, v any) error {
	return s.Update(func(tx *Tx) error { return tx.Put(b, id, v) })
}

// Create stores v under id in its own transaction, or fails with ErrConflict.
func (s *Store) Create(b Bucket, id string, v any) error {
	return s.Update(func(tx *Tx) error { return tx.Create(b, id, v) })
}

// Get decodes the value stored under id into v, or fails with ErrNotFound.
func (s *Store) Get(b Bucket, id string, v any) error {
	return s.View(func(tx *Tx) error { return tx.Get(b, id, v) })
}

// Delete removes id in its own transaction, or fails with ErrNotFound.
func (s *Store) Delete(b Bucket, id string) error {
	return s.Update(func(tx *Tx) error { return tx.Delete(b, id) })
}

// PutSecret seals and stores a secret in its own transaction.
func (s *Store) PutSecret(name string, plaintext []byte) error {
	return s.Update(func(tx *Tx) error { return tx.PutSecret(name, plaintext) })
}

// Secret opens the secret stored under name.
func (s *Store) Secret(name string) (pt []byte, err error) {
	err = s.View(func(tx *Tx) error {
		pt, err = tx.Secret(name)
		return err
	})
	return pt, err
}

// DeleteSecret removes a secret in its own transaction.
func (s *Store) DeleteSecret(name string) error {
	return s.Update(func(tx *Tx) error { return tx.DeleteSecret(name) })
}

// Viewer is what List reads through: a *Store, or any store a consumer
// wraps.
type Viewer interface {
	View(fn func(tx *Tx) error) error
}

// List decodes every record of b, in id order.
func List[T any](s Viewer, b Bucket) ([]T, error) {
	var out []T
	err := s.View(func(tx *Tx) error {
		return tx.ForEach(b, func(id string, raw []byte) error {
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return &Error{Bucket: b, ID: id, Err: fmt.Errorf("decode: %w", err)}
			}
			out = append(out, v)
			return nil
		})
	})
	return out, err
}
