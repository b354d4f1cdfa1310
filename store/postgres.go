package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgBackend keeps the store in a PostgreSQL database, which several amtrcs
// servers share. Every table lives in the schema "amtrcs" (pgSchema), one
// table per bucket, so the embedded CA's tables and anything else in the
// database stay apart.
//
// Write transactions are SERIALIZABLE and are retried when PostgreSQL
// reports a serialization failure or a deadlock. SERIALIZABLE, not
// REPEATABLE READ, because callers check and then write (Create checks the
// id is free, a job is claimed after reading that no server holds it, a
// session is started after reading that none runs for the device): under
// REPEATABLE READ two servers can both pass such a check on different rows
// and both write (write skew); SERIALIZABLE makes one of them fail and run
// again, which is what bbolt's single writer gives for free. Reads are
// REPEATABLE READ READ ONLY: one snapshot, never blocked and never failed
// by writers.
//
// A commit returns only once PostgreSQL has flushed it (synchronous_commit
// is forced on for every connection, whatever the server's default), so the
// rule that a device's new password is durable before the call that sets it
// holds here as on bbolt.
type pgBackend struct {
	pool *pgxpool.Pool
	url  string // redacted
	log  *slog.Logger
	lz   pgLeases
}

var _ backend = (*pgBackend)(nil)

// pgSchema is the PostgreSQL schema holding the store's tables.
const pgSchema = "amtrcs"

// pgRetryFor bounds how long one write transaction goes on running again
// after serialization conflicts. Each conflict means another transaction
// committed, so the writers as a whole make progress; a writer loses
// repeatedly only under many concurrent writers, since every audited write
// takes the audit counter row (measured: 32 writers on 2 cores lost over 20
// times in a row). Each run waits a little longer, at random, so that the
// writers in conflict do not meet again in step.
const pgRetryFor = 2 * time.Minute

// pgBackoff is the longest wait between two runs.
const pgBackoff = 50 * time.Millisecond

// pgctx is the context of the store's statements: a store call has none of
// its own (the API is the same as bbolt's), and PostgreSQL's own
// statement_timeout is the place to bound a statement.
var pgctx = context.Background()

// OpenPostgres opens the store in the PostgreSQL database at url (a
// postgres:// URL or key=value connection string), creating or migrating
// its tables. The KEK is found as Open finds it, with the default KEK file
// in dataDir: every server sharing the database must be given the same
// KEK, so set Options.KEK (kek.env or kek.file) on each.
func OpenPostgres(url, dataDir string, opts Options) (*Store, error) {
	opts.defaults()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the connection string, password
		// included: say what is wrong without it.
		return nil, fmt.Errorf("store URL %s does not parse as a PostgreSQL connection string, want postgres://user:password@host:5432/database: fix store.url", RedactURL(url))
	}
	red := redactConfig(cfg.ConnConfig)
	// Durable commits whatever the server's default: the crash guarantee.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	cfg.ConnConfig.RuntimeParams["application_name"] = "amtrcs"
	ctx, cancel := context.WithTimeout(pgctx, opts.LockTimeout+30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the PostgreSQL store %s: %v: check store.url and that the server is up", red, redactErr(err, cfg.ConnConfig.Password))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to the PostgreSQL store %s: %v: check store.url and that the server is up", red, redactErr(err, cfg.ConnConfig.Password))
	}
	be := &pgBackend{pool: pool, url: red, log: opts.Logger, lz: pgLeases{cfg: cfg}}
	if err := be.migrate(ctx, opts); err != nil {
		pool.Close()
		return nil, err
	}
	dbNew := false
	err = be.view(func(tx backendTx) error {
		v, err := tx.get(Meta, metaKEKCheck)
		dbNew = v == nil
		return err
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL store %s: %w", red, err)
	}
	if dataDir == "" {
		dataDir = "."
	}
	sl, wrapper, info, err := openSealer(opts, filepath.Join(dataDir, "postgres"), dbNew)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if wrapper != nil {
		defer wrapper.Close()
	}
	s := newStore(be, sl, info, opts)
	if err := s.init(wrapper); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (p *pgBackend) close() error      { p.closeLeases(); p.pool.Close(); return nil }
func (p *pgBackend) kind() string      { return "postgres" }
func (p *pgBackend) where() string     { return p.url }
func (p *pgBackend) groupCommit() bool { return false }

func (p *pgBackend) update(fn func(backendTx) error) error {
	start := time.Now()
	wait := time.Millisecond
	for {
		err := pgx.BeginTxFunc(pgctx, p.pool, pgx.TxOptions{IsoLevel: pgx.Serializable}, func(tx pgx.Tx) error {
			return fn(pgTx{tx})
		})
		if !retryable(err) || time.Since(start) > pgRetryFor {
			return err
		}
		time.Sleep(time.Duration(rand.Int64N(int64(wait))) + wait/2)
		wait = min(2*wait, pgBackoff)
	}
}

func (p *pgBackend) view(fn func(backendTx) error) error {
	return pgx.BeginTxFunc(pgctx, p.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return fn(pgTx{tx})
	})
}

// retryable says whether a transaction failed only because it ran at the
// same time as another: serialization_failure or deadlock_detected.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

type pgTx struct{ tx pgx.Tx }

// table is the bucket's table, schema-qualified; bucket names are
// constants of this package, never input.
func table(b Bucket) string { return pgSchema + "." + string(b) }

// valueColumn: entity values are JSON (readable with PostgreSQL's JSON
// operators); secrets and meta are bytes.
func valueColumn(b Bucket) string {
	if _, ok := entityNouns[b]; ok {
		return "value"
	}
	return "bytes"
}

// textID says whether id can be a PostgreSQL text value; checkID refuses
// the others before a write, so a read of one finds nothing.
func textID(id string) bool {
	return utf8.ValidString(id) && !containsNUL(id)
}

func (t pgTx) get(b Bucket, id string) ([]byte, error) {
	if !textID(id) {
		return nil, nil
	}
	var v []byte
	err := t.tx.QueryRow(pgctx, "SELECT "+valueColumn(b)+" FROM "+table(b)+" WHERE id = $1", id).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err == nil && v == nil {
		v = []byte{}
	}
	return v, err
}

func (t pgTx) put(b Bucket, id string, v []byte) error {
	col := valueColumn(b)
	arg := any(v)
	if col == "value" {
		arg = string(v) // JSON text, not bytea
	}
	_, err := t.tx.Exec(pgctx, "INSERT INTO "+table(b)+" (id, "+col+", updated_at) VALUES ($1, $2, now()) "+
		"ON CONFLICT (id) DO UPDATE SET "+col+" = excluded."+col+", updated_at = excluded.updated_at", id, arg)
	return err
}

func (t pgTx) delete(b Bucket, id string) (bool, error) {
	if !textID(id) {
		return false, nil
	}
	tag, err := t.tx.Exec(pgctx, "DELETE FROM "+table(b)+" WHERE id = $1", id)
	return tag.RowsAffected() > 0, err
}

type pgRecord struct {
	id string
	v  []byte
}

// forEach reads the whole table before calling fn: a connection runs one
// statement at a time, and fn may read other records of the same
// transaction.
func (t pgTx) forEach(b Bucket, fn func(id string, v []byte) error) error {
	rows, err := t.tx.Query(pgctx, "SELECT id, "+valueColumn(b)+" FROM "+table(b)+" ORDER BY id")
	if err != nil {
		return err
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pgRecord, error) {
		var rec pgRecord
		err := r.Scan(&rec.id, &rec.v)
		return rec, err
	})
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := fn(r.id, r.v); err != nil {
			return err
		}
	}
	return nil
}

// appendAudit numbers events from a counter row, not a PostgreSQL
// sequence: a sequence is not transactional, so a rolled-back event would
// leave a gap, and retention by count relies on sequences without gaps.
// The row's lock also orders concurrent auditors as bbolt's writer does.
func (t pgTx) appendAudit(encode func(seq uint64) ([]byte, error)) error {
	var seq int64
	if err := t.tx.QueryRow(pgctx, "UPDATE "+pgSchema+".audit_seq SET last = last + 1 RETURNING last").Scan(&seq); err != nil {
		return err
	}
	data, err := encode(uint64(seq))
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(pgctx, "INSERT INTO "+pgSchema+".audit (seq, event) VALUES ($1, $2)", seq, string(data))
	return err
}

// auditPage is how many events auditDesc reads per statement.
const auditPage = 500

type pgAudit struct {
	seq int64
	v   []byte
}

func (t pgTx) auditDesc(before uint64, fn func(seq uint64, v []byte) (bool, error)) error {
	next := int64(before)
	if before == 0 || before > 1<<62 {
		next = 1 << 62
	}
	for {
		rows, err := t.tx.Query(pgctx, "SELECT seq, event FROM "+pgSchema+".audit WHERE seq < $1 ORDER BY seq DESC LIMIT $2", next, auditPage)
		if err != nil {
			return err
		}
		page, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pgAudit, error) {
			var a pgAudit
			err := r.Scan(&a.seq, &a.v)
			return a, err
		})
		if err != nil {
			return err
		}
		for _, a := range page {
			more, err := fn(uint64(a.seq), a.v)
			if err != nil || !more {
				return err
			}
		}
		if len(page) < auditPage {
			return nil
		}
		next = page[len(page)-1].seq
	}
}

func (t pgTx) pruneAudit(limit int, old func(seq, last uint64, v []byte) bool) (int, error) {
	var last *int64
	if err := t.tx.QueryRow(pgctx, "SELECT max(seq) FROM "+pgSchema+".audit").Scan(&last); err != nil || last == nil {
		return 0, err
	}
	rows, err := t.tx.Query(pgctx, "SELECT seq, event FROM "+pgSchema+".audit ORDER BY seq LIMIT $1", limit)
	if err != nil {
		return 0, err
	}
	page, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pgAudit, error) {
		var a pgAudit
		err := r.Scan(&a.seq, &a.v)
		return a, err
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range page {
		if !old(uint64(a.seq), uint64(*last), a.v) {
			break
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	_, err = t.tx.Exec(pgctx, "DELETE FROM "+pgSchema+".audit WHERE seq <= $1", page[n-1].seq)
	return n, err
}

// The tables exist once OpenPostgres ran the schema migrations.
func (t pgTx) layoutComplete() bool  { return true }
func (t pgTx) completeLayout() error { return nil }
