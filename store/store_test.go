package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

type device struct {
	ID    string `json:"id"`
	Host  string `json:"host"`
	State string `json:"state"`
}

var testKEK = bytes.Repeat([]byte{0x42}, 32)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openTest opens a store with a fixed KEK given directly, so tests that are
// not about KEK sources do not depend on files or the environment.
func openTest(t testing.TB, path string) *Store { // bbolt
	t.Helper()
	s, err := Open(path, Options{KEK: KEKSource{Key: testKEK}, Logger: quietLogger(), NoSync: true})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func TestReopenKeepsCommits(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, b backendCase) {
		path := b.place(t)
		s := b.openTest(t, path)
		devs := []device{{"a", "pc-a.corp.example", "new"}, {"b", "pc-b.corp.example", "acm"}, {"c", "pc-c.corp.example", "ccm"}}
		for i, d := range devs {
			err := s.Update(func(tx *Tx) error {
				if err := tx.Create(Devices, d.ID, d); err != nil {
					return err
				}
				if err := tx.PutSecret("device/"+d.ID+"/admin", []byte("Passw0rd!-"+d.ID)); err != nil {
					return err
				}
				return tx.Audit(Event{Actor: "test", Action: "device.create", Subject: d.ID, Outcome: OutcomeSuccess, Detail: map[string]string{"i": fmt.Sprint(i)}})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s = b.openTest(t, path)
		defer s.Close()
		got, err := List[device](s, Devices)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(devs) {
			t.Errorf("devices after reopen = %v, want %v", got, devs)
		}
		for _, d := range devs {
			pt, err := s.Secret("device/" + d.ID + "/admin")
			if err != nil {
				t.Fatal(err)
			}
			if string(pt) != "Passw0rd!-"+d.ID {
				t.Errorf("secret for %s = %q, want %q", d.ID, pt, "Passw0rd!-"+d.ID)
			}
		}
		events, err := s.AuditLog(AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 3 {
			t.Fatalf("got %d audit events after reopen, want 3", len(events))
		}
		for i, e := range events { // newest first
			want := devs[len(devs)-1-i].ID
			if e.Subject != want || e.Seq != uint64(len(devs)-i) {
				t.Errorf("event %d = seq %d subject %q, want seq %d subject %q", i, e.Seq, e.Subject, len(devs)-i, want)
			}
		}
	})
}

func TestUpdateRollsBackOnError(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, b backendCase) {
		path := b.place(t)
		s := b.openTest(t, path)
		if err := s.Put(Devices, "keep", device{ID: "keep"}); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("firmware said no")
		err := s.Update(func(tx *Tx) error {
			if err := tx.Put(Devices, "new", device{ID: "new"}); err != nil {
				return err
			}
			if err := tx.Delete(Devices, "keep"); err != nil {
				return err
			}
			if err := tx.PutSecret("device/new/admin", []byte("NotCommitted1!")); err != nil {
				return err
			}
			if err := tx.Audit(Event{Action: "device.activate", Subject: "new", Outcome: OutcomeSuccess}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update error = %v, want %v", err, boom)
		}
		s.Close()

		s = b.openTest(t, path)
		defer s.Close()
		if err := s.Get(Devices, "new", &device{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(new) after rollback = %v, want ErrNotFound", err)
		}
		if err := s.Get(Devices, "keep", &device{}); err != nil {
			t.Errorf("Get(keep) after rollback = %v, want the device kept", err)
		}
		if _, err := s.Secret("device/new/admin"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Secret after rollback = %v, want ErrNotFound", err)
		}
		if ev, _ := s.AuditLog(AuditFilter{}); len(ev) != 0 {
			t.Errorf("audit after rollback has %d events, want 0", len(ev))
		}
	})
}

func TestEntityErrors(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, b backendCase) {
		s := b.newTest(t)
		defer s.Close()
		if err := s.Create(Devices, "abc", device{ID: "abc"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ProvCerts, "c1", map[string]string{"cn": "rcs.corp.example"}); err != nil {
			t.Fatal(err)
		}
		tests := map[string]struct {
			op      func() error
			is      error
			message string
		}{
			"create existing": {func() error { return s.Create(Devices, "abc", device{}) }, ErrConflict, `device "abc": already exists`},
			"get missing":     {func() error { return s.Get(Devices, "nope", &device{}) }, ErrNotFound, `device "nope": not found`},
			"delete missing":  {func() error { return s.Delete(Sessions, "s1") }, ErrNotFound, `activation session "s1": not found`},
			"get cert missing": {func() error { return s.Get(ProvCerts, "c2", &device{}) }, ErrNotFound,
				`provisioning certificate "c2": not found`},
			"secret missing":     {func() error { _, err := s.Secret("x"); return err }, ErrNotFound, `secret "x": not found`},
			"delete secret gone": {func() error { return s.DeleteSecret("x") }, ErrNotFound, `secret "x": not found`},
			"decode mismatch":    {func() error { var n int; return s.Get(Devices, "abc", &n) }, nil, `device "abc": decode:`},
			"empty id":           {func() error { return s.Put(Devices, "", device{}) }, nil, `device "": empty id`},
			"unencodable":        {func() error { return s.Put(Jobs, "j", func() {}) }, nil, `job "j": encode:`},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				err := tc.op()
				if err == nil {
					t.Fatal("no error")
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
				}
				var se *Error
				if !errors.As(err, &se) {
					t.Errorf("error %v is not a *store.Error", err)
				}
				if !strings.HasPrefix(err.Error(), tc.message) {
					t.Errorf("message = %q, want prefix %q", err, tc.message)
				}
			})
		}
	})
}

func TestReservedBucketsRefused(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, b backendCase) {
		s := b.newTest(t)
		defer s.Close()
		for _, b := range []Bucket{Secrets, Audit, Meta, "nonsense"} {
			ops := map[string]func() error{
				"Put":    func() error { return s.Put(b, "x", "plaintext") },
				"Create": func() error { return s.Create(b, "x", "plaintext") },
				"Get":    func() error { var v string; return s.Get(b, "x", &v) },
				"Delete": func() error { return s.Delete(b, "x") },
				"List":   func() error { _, err := List[string](s, b); return err },
			}
			for op, f := range ops {
				err := f()
				if err == nil || !strings.Contains(err.Error(), string(b)) {
					t.Errorf("%s(%s) = %v, want a refusal naming the bucket", op, b, err)
				}
			}
		}
		if n, _ := s.auditCount(); n != 0 {
			t.Errorf("audit bucket has %d records after refused writes, want 0", n)
		}
	})
}

func (s *Store) auditCount() (n int, err error) {
	err = s.be.view(func(tx backendTx) error {
		return tx.auditDesc(0, func(uint64, []byte) (bool, error) { n++; return true, nil })
	})
	return n, err
}

func TestEntityBucketsCreatedOnOpen(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, b backendCase) {
		s := b.newTest(t)
		defer s.Close()
		want := []Bucket{Devices, Profiles, Domains, ProvCerts, CSRs, Sessions, Jobs, Agents, Tokens, Maintenance, MaintJobs, Secrets, Audit, Meta}
		s.be.view(func(tx backendTx) error {
			if !tx.layoutComplete() {
				t.Errorf("layout incomplete after Open")
			}
			if bt, ok := tx.(boltTx); ok {
				for _, b := range want {
					if bt.bucket(b) == nil {
						t.Errorf("bucket %s missing after Open", b)
					}
				}
			}
			return nil
		})
		if got := EntityBuckets(); len(got) != 11 || got[0] != Devices || got[10] != MaintJobs {
			t.Errorf("EntityBuckets() = %v", got)
		}
		for _, b := range EntityBuckets() {
			if err := s.Put(b, "id", 1); err != nil {
				t.Errorf("Put(%s): %v", b, err)
			}
		}
	})
}

func TestLockHeldByAnotherOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "amtrcs.db")
	s := openTest(t, path)
	defer s.Close()
	// The first store holds the lock until the end of the test: only the
	// lock timeout can end the second Open, and ErrLocked says it did.
	_, err := Open(path, Options{KEK: KEKSource{Key: testKEK}, Logger: quietLogger(), LockTimeout: 150 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	for _, want := range []string{path, "another process", "stop that process"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("lock error %q does not mention %q", err, want)
		}
	}
	s.Close()
	s2, err := Open(path, Options{KEK: KEKSource{Key: testKEK}, Logger: quietLogger(), LockTimeout: 150 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	s2.Close()
}

func TestOpenRefusesBadPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		path string
		want string
	}{
		"directory":     {dir, "is a directory"},
		"not a bolt db": {junk, "not a readable amtrcs database"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Open(tc.path, Options{KEK: KEKSource{Key: testKEK}, Logger: quietLogger()})
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Open(%s) = %v, want a one-line error containing %q", tc.path, err, tc.want)
			}
		})
	}
}

func TestSchemaFromTheFutureRefused(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, b backendCase) {
		path := b.place(t)
		s := b.openTest(t, path)
		s.be.update(func(tx backendTx) error { return tx.put(Meta, metaSchema, []byte("99")) })
		s.Close()
		_, err := b.open(t, path, Options{KEK: KEKSource{Key: testKEK}, Logger: quietLogger()})
		if err == nil || !strings.Contains(err.Error(), "schema version 99") {
			t.Fatalf("Open of a schema-99 store = %v, want a refusal naming version 99", err)
		}
	})
}

// TestConcurrentWriters runs several goroutines that each write an entity,
// a secret and an audit event per transaction, through Update and Batch.
// Run under -race (scripts/test.sh does).
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, b backendCase) {
		path := b.place(t)
		s := b.openTest(t, path)
		const workers, each = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					id := fmt.Sprintf("w%d-%02d", w, i)
					write := s.Update
					if i%2 == 1 {
						write = s.Batch
					}
					errs <- write(func(tx *Tx) error {
						if err := tx.Put(Devices, id, device{ID: id, State: "acm"}); err != nil {
							return err
						}
						if err := tx.PutSecret("device/"+id+"/admin", []byte("secret-"+id)); err != nil {
							return err
						}
						return tx.Audit(Event{Actor: fmt.Sprintf("worker%d", w), Action: "device.activate", Subject: id, Outcome: OutcomeSuccess})
					})
					if i%5 == 0 {
						if _, err := s.AuditLog(AuditFilter{Limit: 3}); err != nil {
							errs <- err
						}
					}
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
		s.Close()

		s = b.openTest(t, path)
		defer s.Close()
		devs, err := List[device](s, Devices)
		if err != nil || len(devs) != workers*each {
			t.Fatalf("List = %d devices, %v; want %d", len(devs), err, workers*each)
		}
		events, err := s.AuditLog(AuditFilter{})
		if err != nil || len(events) != workers*each {
			t.Fatalf("AuditLog = %d events, %v; want %d", len(events), err, workers*each)
		}
		seen := map[string]bool{}
		lastPerWorker := map[string]string{}
		for i, e := range events {
			if want := uint64(len(events) - i); e.Seq != want {
				t.Fatalf("event %d has seq %d, want %d: sequence has gaps or repeats", i, e.Seq, want)
			}
			if seen[e.Subject] {
				t.Fatalf("subject %s audited twice", e.Subject)
			}
			seen[e.Subject] = true
			// Newest first: each worker's subjects must come in decreasing order.
			if prev, ok := lastPerWorker[e.Actor]; ok && e.Subject > prev {
				t.Fatalf("worker %s: %s listed after %s, want newest first", e.Actor, e.Subject, prev)
			}
			lastPerWorker[e.Actor] = e.Subject
			pt, err := s.Secret("device/" + e.Subject + "/admin")
			if err != nil || string(pt) != "secret-"+e.Subject {
				t.Fatalf("secret for %s = %q, %v", e.Subject, pt, err)
			}
		}
	})
}

// TestIDTooLong: an id or secret name over MaxIDLen is refused with
// ErrIDTooLong, which names the limit, whether or not it is over bbolt's own
// key limit; the error quotes only the start of the id.
func TestIDTooLong(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, b backendCase) {
		s := b.newTest(t)
		defer s.Close()
		for _, n := range []int{MaxIDLen + 1, 40000, bolt.MaxKeySize + 1} {
			id := strings.Repeat("a", n)
			for op, f := range map[string]func() error{
				"Put":       func() error { return s.Put(Profiles, id, device{}) },
				"Create":    func() error { return s.Create(Devices, id, device{}) },
				"PutSecret": func() error { return s.PutSecret(id, []byte("Passw0rd!")) },
				"Batch":     func() error { return s.Batch(func(tx *Tx) error { return tx.Put(Domains, id, device{}) }) },
			} {
				err := f()
				if !errors.Is(err, ErrIDTooLong) {
					t.Errorf("%s of a %d-byte id = %.200v, want ErrIDTooLong", op, n, err)
					continue
				}
				var se *Error
				if !errors.As(err, &se) {
					t.Errorf("%s: %v is not a *store.Error", op, err)
				}
				msg := err.Error()
				if !strings.Contains(msg, fmt.Sprint(n, " bytes")) || !strings.Contains(msg, fmt.Sprint("at most ", MaxIDLen)) || len(msg) > 400 {
					t.Errorf("%s: message %q, want the length seen, the limit, and no whole id", op, msg)
				}
			}
		}
		id := strings.Repeat("b", MaxIDLen)
		if err := s.Put(Devices, id, device{ID: "b"}); err != nil {
			t.Errorf("Put of a %d-byte id: %v", MaxIDLen, err)
		}
		if err := s.PutSecret(id, []byte("Passw0rd!")); err != nil {
			t.Errorf("PutSecret of a %d-byte name: %v", MaxIDLen, err)
		}
	})
}
