package store

import (
	"fmt"
	"log/slog"
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
var migrations = []migration{}

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
