package store

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
)

// migration moves the records of a store from one schema version to the
// next, inside the transaction that records the new version: a crash
// leaves the store wholly in the old layout or wholly in the new one. It
// runs on either backend through backendTx, so one migration serves both.
type migration struct {
	to   int    // the version it produces
	what string // for the log
	run  func(tx backendTx) error
}

// migrations are in order; migrations[i] takes version i+1 to i+2, and
// SchemaVersion is one more than their count.
var migrations = []migration{
	{to: 2, what: "maintenance states and maintenance jobs move to buckets of their own", run: splitSharedBuckets},
}

// The keys by which schema 1 told the record types of a shared bucket apart.
const (
	v1MaintStateSuffix = "/maintenance" // a maintenance state in sessions
	v1MaintJobPrefix   = "maint:"       // a maintenance job in jobs
)

// splitSharedBuckets moves, under the same keys and as the same bytes, the
// maintenance states out of sessions and the maintenance jobs out of jobs,
// so that each bucket holds one record type.
func splitSharedBuckets(tx backendTx) error {
	for _, mv := range []struct {
		from, to Bucket
		is       func(id string) bool
	}{
		{Sessions, Maintenance, func(id string) bool { return strings.HasSuffix(id, v1MaintStateSuffix) }},
		{Jobs, MaintJobs, func(id string) bool { return strings.HasPrefix(id, v1MaintJobPrefix) }},
	} {
		type rec struct {
			id string
			v  []byte
		}
		var moving []rec
		err := tx.forEach(mv.from, func(id string, v []byte) error {
			if mv.is(id) {
				moving = append(moving, rec{id, bytes.Clone(v)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range moving {
			if err := tx.put(mv.to, r.id, r.v); err != nil {
				return fmt.Errorf("%s %q: %w", mv.to, r.id, err)
			}
			if _, err := tx.delete(mv.from, r.id); err != nil {
				return fmt.Errorf("%s %q: %w", mv.from, r.id, err)
			}
		}
	}
	return nil
}

// migrate brings a store at schema from (0: a store that never recorded
// one, which is new) to SchemaVersion. Each migration must be a no-op on a
// store that holds none of the records it moves.
func migrate(tx backendTx, from int, log *slog.Logger) error {
	if len(migrations)+1 != SchemaVersion {
		return fmt.Errorf("internal: %d migrations for schema version %d", len(migrations), SchemaVersion)
	}
	for _, m := range migrations[max(from, 1)-1:] {
		if err := m.run(tx); err != nil {
			return fmt.Errorf("migrate to schema version %d (%s): %w", m.to, m.what, err)
		}
		if from > 0 {
			log.Info("migrated the store", "schema_version", m.to, "change", m.what)
		}
	}
	return nil
}
