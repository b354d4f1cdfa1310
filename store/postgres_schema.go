package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// pgMigration is one step of the PostgreSQL tables' layout. The versions
// applied are rows of amtrcs.schema_migrations; each step runs in a
// transaction of its own, holding an advisory lock so that servers starting
// together apply it once. Steps are only ever appended.
type pgMigration struct {
	what string
	sql  []string
}

// pgEntityTable is the DDL of one entity bucket's table: the id, its JSON
// value, when it was last written. ids sort by their bytes (COLLATE "C"),
// as bbolt's keys do.
func pgEntityTable(b Bucket) string {
	return "CREATE TABLE " + table(b) + ` (id text COLLATE "C" PRIMARY KEY, value json NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`
}

func pgEntityTables(bs ...Bucket) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = pgEntityTable(b)
	}
	return out
}

var pgMigrations = []pgMigration{
	{
		what: "tables of schema version 1: one per bucket, sealed secrets, audit log, meta",
		sql: append(pgEntityTables(Devices, Profiles, Domains, ProvCerts, CSRs, Sessions, Jobs, Agents, Tokens),
			`CREATE TABLE `+table(Secrets)+` (id text COLLATE "C" PRIMARY KEY, bytes bytea NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
			`CREATE TABLE `+table(Meta)+` (id text COLLATE "C" PRIMARY KEY, bytes bytea NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
			`CREATE TABLE `+table(Audit)+` (seq bigint PRIMARY KEY, event json NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now())`,
			`CREATE TABLE `+pgSchema+`.audit_seq (one boolean PRIMARY KEY DEFAULT true CHECK (one), last bigint NOT NULL)`,
			`INSERT INTO `+pgSchema+`.audit_seq (last) VALUES (0)`,
		),
	},
	{
		what: "tables of schema version 2: maintenance states and maintenance jobs apart",
		sql:  pgEntityTables(Maintenance, MaintJobs),
	},
	{
		what: "leases: which server holds a device's job slot or agent connection, until when",
		sql: []string{`CREATE TABLE ` + pgSchema + `.leases (name text COLLATE "C" PRIMARY KEY, owner text NOT NULL, expires timestamptz NOT NULL)`,
			`CREATE INDEX leases_owner ON ` + pgSchema + `.leases (owner)`},
	},
}

// pgMigrationLock is the advisory lock key of schema changes ("amtrcs" in
// ASCII), so that two servers starting at once do not both apply a step.
const pgMigrationLock = 0x616d74726373

// migrate applies the steps the database lacks, and refuses a database
// whose layout is newer than this binary knows.
func (p *pgBackend) migrate(ctx context.Context, opts Options) error {
	for {
		done, err := p.migrateOne(ctx, opts)
		if err != nil || done {
			return err
		}
	}
}

func (p *pgBackend) migrateOne(ctx context.Context, opts Options) (done bool, err error) {
	err = pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		stmts := []string{
			"SELECT pg_advisory_xact_lock(" + fmt.Sprint(pgMigrationLock) + ")",
			"CREATE SCHEMA IF NOT EXISTS " + pgSchema,
			"CREATE TABLE IF NOT EXISTS " + pgSchema + ".schema_migrations (version int PRIMARY KEY, what text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("prepare the schema %s: %w", pgSchema, err)
			}
		}
		var have int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+pgSchema+".schema_migrations").Scan(&have); err != nil {
			return err
		}
		if have > len(pgMigrations) {
			return fmt.Errorf("PostgreSQL store %s has table layout version %d, this amtrcs knows up to %d: run a newer amtrcs (a server of an older release must not write a layout it does not know)", p.url, have, len(pgMigrations))
		}
		if have == len(pgMigrations) {
			done = true
			return nil
		}
		m := pgMigrations[have]
		for _, s := range m.sql {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("PostgreSQL store %s: table layout version %d (%s): %w", p.url, have+1, m.what, err)
			}
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+pgSchema+".schema_migrations (version, what) VALUES ($1, $2)", have+1, m.what); err != nil {
			return err
		}
		opts.Logger.Info("applied a PostgreSQL table layout step", "store", p.url, "version", have+1, "change", m.what)
		return nil
	})
	return done, err
}

// RedactURL returns a PostgreSQL connection string without its password,
// for messages and logs: in URL form the password is replaced by "xxxxx",
// in key=value form the password value is.
func RedactURL(u string) string {
	if cfg, err := pgx.ParseConfig(u); err == nil {
		return redactConfig(cfg)
	}
	// Unparsable: hide anything that may be a password.
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			user, _, _ := strings.Cut(rest[:at], ":")
			return u[:i+3] + user + ":xxxxx@" + rest[at+1:]
		}
		return u
	}
	if strings.Contains(strings.ToLower(u), "password") {
		return "(a connection string with a password, not shown)"
	}
	return u
}

// redactConfig names the database by user, host, port and name only.
func redactConfig(c *pgx.ConnConfig) string {
	user := c.User
	if c.Password != "" {
		user += ":xxxxx"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", user, c.Host, c.Port, c.Database)
}

// redactErr removes the password from an error's text, in case a driver
// quotes it.
func redactErr(err error, password string) string {
	s := err.Error()
	if password != "" {
		s = strings.ReplaceAll(s, password, "xxxxx")
	}
	return s
}

func containsNUL(s string) bool { return strings.IndexByte(s, 0) >= 0 }
