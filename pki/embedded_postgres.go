package pki

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/store"
	"github.com/jackc/pgx/v5"
	"github.com/smallstep/certificates/db"
)

// PostgresSchema is the PostgreSQL schema that holds the embedded
// authority's tables (smallstep's record of issued certificates and the CA
// material), apart from the store's tables in the same database.
const PostgresSchema = "amtrcs_ca"

// pgCALock is the advisory lock that one server holds while it reads or
// creates the CA material ("amtca" in ASCII).
const pgCALock = 0x616d746361

// openPostgresDB opens the authority's tables in the database at dsn,
// holding the CA lock until unlock is called: creating the schema and the
// tables, and the CA itself on first use, happen under it.
func openPostgresDB(ctx context.Context, dsn string) (adb db.AuthDB, where string, unlock func(), err error) {
	where = store.RedactURL(dsn) + " (schema " + PostgresSchema + ")"
	fail := func(what string, err error) (db.AuthDB, string, func(), error) {
		msg := err.Error()
		if cfg, perr := pgx.ParseConfig(dsn); perr == nil && cfg.Password != "" {
			msg = strings.ReplaceAll(msg, cfg.Password, "xxxxx")
		}
		return nil, where, nil, fmt.Errorf("%w: CA database %s: %s: %s: check store.url and that the server is up", ErrConfig, where, what, msg)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fail("connect", err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("SELECT pg_advisory_lock(%d)", pgCALock)); err != nil {
		conn.Close(ctx)
		return fail("take the CA lock", err)
	}
	unlock = func() {
		// Closing the session releases the lock too; unlock first so that
		// a pooled connection never keeps it.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn.Exec(ctx, fmt.Sprintf("SELECT pg_advisory_unlock(%d)", pgCALock))
		conn.Close(ctx)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+PostgresSchema); err != nil {
		unlock()
		return fail("create the schema", err)
	}
	adb, err = db.New(&db.Config{Type: "postgresql", DataSource: withSearchPath(dsn, PostgresSchema)})
	if err != nil {
		unlock()
		return fail("open", err)
	}
	return adb, where, unlock, nil
}

// withSearchPath makes the connections of dsn find their tables in schema
// first: smallstep's driver names tables without a schema.
func withSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}
