package store

// backend is the raw storage under Store: per bucket, records of bytes under
// string ids in byte order, plus the audit log's numbered records. It knows
// nothing of sealing, JSON or what a record means: that is the common layer
// (Store and Tx), so both backends seal, encode, check ids and guard the
// audit log the same way.
type backend interface {
	// update runs fn in a read-write transaction and commits when fn
	// returns nil; it returns only once the commit is durable. A backend
	// may run fn more than once (PostgreSQL retries a serialization
	// failure), so fn must have no effect outside the transaction.
	update(fn func(backendTx) error) error
	// view runs fn in a read-only transaction over one consistent snapshot.
	view(fn func(backendTx) error) error
	close() error
	// kind names the backend for people: "bbolt" or "postgres".
	kind() string
	// where names the database for people and logs, never with a password.
	where() string
	// groupCommit says whether Batch should combine concurrent calls into
	// one commit (bbolt: one fsync for many writers) or run each as an
	// update of its own (PostgreSQL: a pool of connections commits in
	// parallel, and a shared transaction would only widen conflicts).
	groupCommit() bool
	// leaser gives leases and notifications (lease.go).
	leaser
}

// backendTx is one transaction of a backend. get returns nil, nil for a
// missing record; every byte slice given to a callback is valid only until
// it returns.
type backendTx interface {
	get(b Bucket, id string) ([]byte, error)
	put(b Bucket, id string, v []byte) error
	// delete removes id and reports whether it was there.
	delete(b Bucket, id string) (bool, error)
	// forEach walks b in id byte order; an error from fn stops the walk.
	forEach(b Bucket, fn func(id string, v []byte) error) error
	// appendAudit numbers the next audit record (one more than the last
	// ever numbered, gaps never) and stores what encode makes of it.
	appendAudit(encode func(seq uint64) ([]byte, error)) error
	// auditDesc walks the audit log from the newest record below before
	// (0: from the newest), until fn says stop or returns an error.
	auditDesc(before uint64, fn func(seq uint64, v []byte) (more bool, err error)) error
	// pruneAudit deletes, from the oldest end, at most limit records for
	// which old says yes, stopping at the first it says no; last is the
	// newest sequence in the log.
	pruneAudit(limit int, old func(seq, last uint64, v []byte) bool) (int, error)
	// layoutComplete says whether every bucket exists; completeLayout
	// creates those that do not (bbolt buckets; PostgreSQL creates its
	// tables in its schema migrations, before the store opens).
	layoutComplete() bool
	completeLayout() error
}
