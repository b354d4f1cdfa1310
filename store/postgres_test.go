package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

var pgCase = backends[1]

func pgExec(t *testing.T, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestPostgresCommitsSynchronously: a server (or database) whose default is
// synchronous_commit=off would acknowledge commits it may lose in a crash;
// the store's connections override it, so a password is durable before the
// call that sets it.
func TestPostgresCommitsSynchronously(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	var db string
	conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&db)
	conn.Close(context.Background())
	pgExec(t, url, "ALTER DATABASE "+db+" SET synchronous_commit = off")
	s := pgCase.openTest(t, url)
	defer s.Close()
	for range 3 { // several connections of the pool
		var got string
		err := s.be.(*pgBackend).pool.QueryRow(context.Background(), "SHOW synchronous_commit").Scan(&got)
		if err != nil || got != "on" {
			t.Fatalf("synchronous_commit on a store connection = %q, %v; want on", got, err)
		}
	}
}

// TestPostgresNewerLayoutRefused: a database migrated by a newer amtrcs is
// refused, naming both versions, before anything is written.
func TestPostgresNewerLayoutRefused(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	s := pgCase.openTest(t, url)
	s.Close()
	pgExec(t, url, "INSERT INTO amtrcs.schema_migrations (version, what) VALUES (99, 'from the future')")
	_, err := pgCase.open(t, url, Options{KEK: KEKSource{Key: testKEK}, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "version 99") || !strings.Contains(err.Error(), fmt.Sprintf("up to %d", len(pgMigrations))) || !strings.Contains(err.Error(), "run a newer amtrcs") {
		t.Fatalf("open of a layout-99 database = %v, want a refusal naming 99, %d and the fix", err, len(pgMigrations))
	}
	// A second open of a current database applies nothing.
	url2 := pgtest.URL(t)
	for range 2 {
		s := pgCase.openTest(t, url2)
		s.Close()
	}
	conn, _ := pgx.Connect(context.Background(), url2)
	defer conn.Close(context.Background())
	var n int
	conn.QueryRow(context.Background(), "SELECT count(*) FROM amtrcs.schema_migrations").Scan(&n)
	if n != len(pgMigrations) {
		t.Errorf("schema_migrations has %d rows after two opens, want %d", n, len(pgMigrations))
	}
}

// TestPostgresBackupRefused: amtrcs backup on PostgreSQL refuses with a
// refusal that names pg_dump, and never the password.
func TestPostgresBackupRefused(t *testing.T) {
	t.Parallel()
	s := pgCase.newTest(t)
	defer s.Close()
	_, err := s.WriteBackup(io.Discard, nil)
	var re amt.RuleError
	if !errors.Is(err, ErrBackupElsewhere) || !errors.As(err, &re) || !strings.Contains(re.Fix, "pg_dump") {
		t.Fatalf("WriteBackup on postgres = %v, want a refusal wrapping ErrBackupElsewhere naming pg_dump", err)
	}
}

// TestTwoServersOneDatabase: two stores on one database, as two servers:
// each sees the other's commits, secrets sealed by one open in the other,
// and the audit log is one sequence.
func TestTwoServersOneDatabase(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	a := pgCase.openTest(t, url)
	defer a.Close()
	b := pgCase.openTest(t, url)
	defer b.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i, s := range []*Store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				id := fmt.Sprintf("s%d-%d", i, j)
				errs <- s.Update(func(tx *Tx) error {
					if err := tx.Put(Devices, id, device{ID: id}); err != nil {
						return err
					}
					if err := tx.PutSecret("device/"+id+"/admin", []byte("Secret-"+id)); err != nil {
						return err
					}
					return tx.Audit(Event{Action: "device.activate", Subject: id, Outcome: OutcomeSuccess})
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	pt, err := b.Secret("device/s0-3/admin")
	if err != nil || string(pt) != "Secret-s0-3" {
		t.Fatalf("secret written by one server, read by the other = %q, %v", pt, err)
	}
	evs, err := a.AuditLog(AuditFilter{})
	if err != nil || len(evs) != 40 {
		t.Fatalf("audit log = %d events, %v; want 40", len(evs), err)
	}
	for i, e := range evs {
		if e.Seq != uint64(40-i) {
			t.Fatalf("event %d has seq %d, want %d: one sequence without gaps", i, e.Seq, 40-i)
		}
	}
}

// TestPostgresPasswordNeverShown: the password of a store URL appears in
// no error, whether the URL fails to parse or the server is unreachable.
func TestPostgresPasswordNeverShown(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	const pw = "Sup3rSecretPw"
	for _, url := range []string{
		"postgres://amtrcs:" + pw + "@" + closed + "/amtrcs?sslmode=disable&connect_timeout=5",
		"host=127.0.0.1 port=" + closed[strings.LastIndex(closed, ":")+1:] + " user=amtrcs password=" + pw + " sslmode=disable connect_timeout=5",
		"postgres://amtrcs:" + pw + "@" + closed + "/amtrcs?sslmode=nonsense",
	} {
		_, err := OpenPostgres(url, t.TempDir(), Options{KEK: KEKSource{Key: testKEK}, Logger: quietLogger()})
		if err == nil {
			t.Fatalf("open of %s succeeded", RedactURL(url))
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("error shows the password: %v", err)
		}
		if r := RedactURL(url); strings.Contains(r, pw) {
			t.Errorf("RedactURL(%q) = %q, shows the password", url, r)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"postgres://u:pw@db.example:5433/amtrcs":        "postgres://u:xxxxx@db.example:5433/amtrcs",
		"postgres://u@db.example/amtrcs":                "postgres://u@db.example:5432/amtrcs",
		"host=db port=5432 user=u password=pw dbname=d": "postgres://u:xxxxx@db:5432/d",
		"postgres://u:pw@[bad":                          "postgres://u:xxxxx@[bad",
	}
	for in, want := range tests {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCreateRace: many writers create one id at once; exactly one wins and
// every other gets ErrConflict (on PostgreSQL, after its transaction lost
// the serialization conflict and ran again).
func TestCreateRace(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, b backendCase) {
		s := b.newTest(t)
		defer s.Close()
		const n = 8
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- s.Update(func(tx *Tx) error {
					if err := tx.Create(Sessions, "dev-1", device{ID: fmt.Sprint(i)}); err != nil {
						return err
					}
					return tx.Audit(Event{Action: "session.start", Subject: "dev-1", Outcome: OutcomeSuccess})
				})
			}()
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrConflict):
				t.Errorf("Create race: %v, want nil or ErrConflict", err)
			}
		}
		evs, _ := s.AuditLog(AuditFilter{})
		if won != 1 || len(evs) != 1 {
			t.Errorf("Create race: %d won, %d audited; want 1 and 1", won, len(evs))
		}
	})
}
