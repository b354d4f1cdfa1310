package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// boltBackend is the embedded default: one bbolt file, one bucket per
// record type, a commit fsync'd before Update returns.
type boltBackend struct {
	db   *bolt.DB
	path string
	memLeases
}

var _ backend = (*boltBackend)(nil)

func (b *boltBackend) update(fn func(backendTx) error) error {
	return b.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (b *boltBackend) view(fn func(backendTx) error) error {
	return b.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (b *boltBackend) close() error      { return b.db.Close() }
func (b *boltBackend) kind() string      { return "bbolt" }
func (b *boltBackend) where() string     { return b.path }
func (b *boltBackend) groupCommit() bool { return true }

// writeBackup copies the whole file from one read transaction.
func (b *boltBackend) writeBackup(w io.Writer, start func(size int64)) (n int64, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		if start != nil {
			start(tx.Size())
		}
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

type boltTx struct{ tx *bolt.Tx }

// bucket is nil only before completeLayout ran (Open's first look).
func (t boltTx) bucket(b Bucket) *bolt.Bucket { return t.tx.Bucket([]byte(b)) }

func (t boltTx) get(b Bucket, id string) ([]byte, error) {
	bk := t.bucket(b)
	if bk == nil {
		return nil, nil
	}
	return bk.Get([]byte(id)), nil
}

func (t boltTx) put(b Bucket, id string, v []byte) error {
	return t.bucket(b).Put([]byte(id), v)
}

func (t boltTx) delete(b Bucket, id string) (bool, error) {
	bk := t.bucket(b)
	if bk.Get([]byte(id)) == nil {
		return false, nil
	}
	return true, bk.Delete([]byte(id))
}

func (t boltTx) forEach(b Bucket, fn func(id string, v []byte) error) error {
	bk := t.bucket(b)
	if bk == nil {
		return nil
	}
	return bk.ForEach(func(k, v []byte) error {
		if v == nil {
			return nil // a nested bucket: the store makes none
		}
		return fn(string(k), v)
	})
}

// auditFillPercent: keys are the sequence, so the log only ever appends;
// full pages before a split halve the pages written and stored.
const auditFillPercent = 0.95

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func (t boltTx) appendAudit(encode func(seq uint64) ([]byte, error)) error {
	b := t.bucket(Audit)
	b.FillPercent = auditFillPercent
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	data, err := encode(seq)
	if err != nil {
		return err
	}
	return b.Put(seqKey(seq), data)
}

func (t boltTx) auditDesc(before uint64, fn func(seq uint64, v []byte) (bool, error)) error {
	c := t.bucket(Audit).Cursor()
	var k, v []byte
	switch {
	case before == 0:
		k, v = c.Last()
	default:
		if k, _ = c.Seek(seqKey(before)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	for ; k != nil; k, v = c.Prev() {
		more, err := fn(binary.BigEndian.Uint64(k), v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (t boltTx) pruneAudit(limit int, old func(seq, last uint64, v []byte) bool) (int, error) {
	b := t.bucket(Audit)
	c := b.Cursor()
	lastKey, _ := c.Last()
	if lastKey == nil {
		return 0, nil
	}
	last := binary.BigEndian.Uint64(lastKey)
	// Keys are collected first: a bbolt cursor may skip the key after one
	// it deleted.
	var keys [][]byte
	for k, v := c.First(); k != nil && len(keys) < limit; k, v = c.Next() {
		if !old(binary.BigEndian.Uint64(k), last, v) {
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, fmt.Errorf("prune audit event %d: %w", binary.BigEndian.Uint64(k), err)
		}
	}
	return len(keys), nil
}

func (t boltTx) layoutComplete() bool {
	for _, b := range allBuckets {
		if t.bucket(b) == nil {
			return false
		}
	}
	return true
}

func (t boltTx) completeLayout() error {
	for _, b := range allBuckets {
		if _, err := t.tx.CreateBucketIfNotExists([]byte(b)); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	return nil
}
