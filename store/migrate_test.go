package store

import (
	"bytes"
	"os"
	"strconv"
	"testing"
)

// TestMigrateSplitsSharedBuckets writes a store in the layout of schema 1
// (maintenance states in sessions under "<device>/maintenance", maintenance
// jobs in jobs under "maint:<device>:<task>"), opens it, and finds each
// record in its own bucket, under the same key with the same bytes, and
// nothing else moved. A second open is a no-op.
func TestMigrateSplitsSharedBuckets(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, b backendCase) {
		place := b.place(t)
		s := b.openTest(t, place)
		v1 := []struct {
			b      Bucket
			id, v  string
			bucket Bucket // where schema 2 keeps it
		}{
			{Sessions, "dev-1", `{"device":"dev-1","step":"done"}`, Sessions},
			{Sessions, "dev-1/maintenance", `{"device":"dev-1","clock":"ok"}`, Maintenance},
			{Sessions, "dev-2/maintenance", `{"device":"dev-2"}`, Maintenance},
			{Jobs, "job-1", `{"id":"job-1","device":"dev-1","kind":"activate"}`, Jobs},
			{Jobs, "maint:dev-1:tls", `{"id":"maint:dev-1:tls","device":"dev-1","task":"tls"}`, MaintJobs},
			{Jobs, "maint:rcs:provcert", `{"id":"maint:rcs:provcert","device":"rcs","task":"provcert"}`, MaintJobs},
		}
		err := s.be.update(func(tx backendTx) error {
			for _, r := range v1 {
				if err := tx.put(r.b, r.id, []byte(r.v)); err != nil {
					return err
				}
			}
			return tx.put(Meta, metaSchema, []byte("1"))
		})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()

		s = b.openTest(t, place)
		for _, r := range v1 {
			for _, bk := range []Bucket{r.b, r.bucket} {
				var got []byte
				s.be.view(func(tx backendTx) error {
					v, err := tx.get(bk, r.id)
					got = bytes.Clone(v)
					return err
				})
				switch {
				case bk == r.bucket && !jsonEqual(got, r.v):
					t.Errorf("%s %q after migration = %q, want %q", bk, r.id, got, r.v)
				case bk != r.bucket && got != nil:
					t.Errorf("%s %q is still in %s after migration", r.id, r.b, bk)
				}
			}
		}
		var schema []byte
		s.be.view(func(tx backendTx) error {
			schema, _ = tx.get(Meta, metaSchema)
			schema = bytes.Clone(schema)
			return nil
		})
		if string(schema) != strconv.Itoa(SchemaVersion) {
			t.Errorf("schema after migration = %q, want %d", schema, SchemaVersion)
		}
		s.Close()

		var before []byte
		if b.name == "bbolt" {
			before, _ = os.ReadFile(place)
		}
		s = b.openTest(t, place)
		n, _ := List[map[string]any](s, MaintJobs)
		s.Close()
		if len(n) != 2 {
			t.Errorf("second open: %d maintenance jobs, want 2", len(n))
		}
		if b.name == "bbolt" {
			if after, _ := os.ReadFile(place); !bytes.Equal(before, after) {
				t.Error("a second open of a migrated store wrote to it, want a no-op")
			}
		}
	})
}

// jsonEqual compares JSON texts by bytes ignoring spaces: PostgreSQL's json
// type keeps the text as written.
func jsonEqual(got []byte, want string) bool {
	return bytes.Equal(bytes.ReplaceAll(got, []byte(" "), nil), []byte(want))
}
