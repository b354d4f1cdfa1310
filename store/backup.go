package store

import (
	"errors"
	"fmt"
	"io"

	"github.com/amtrcs/amtrcs/amt"
)

// ErrBackupElsewhere is wrapped when WriteBackup is asked of a PostgreSQL
// store: its backup is the database's own (pg_dump), which copies every
// server's writes consistently; a copy through one server would be a
// second, weaker tool for the same job.
var ErrBackupElsewhere = errors.New("backup is the database's own")

// WriteBackup writes a consistent copy of the database to w from one read
// transaction, while writers go on. The copy holds the secrets sealed: it
// is of no use without the KEK, which it never contains. start, when not
// nil, is told the copy's size before the first byte is written (an HTTP
// handler sets Content-Length with it, so a cut copy is noticed). On
// PostgreSQL it refuses, wrapping ErrBackupElsewhere, and names pg_dump.
func (s *Store) WriteBackup(w io.Writer, start func(size int64)) (n int64, err error) {
	if b, ok := s.be.(*boltBackend); ok {
		return b.writeBackup(w, start)
	}
	return 0, amt.RuleError{
		Rule: "backup of a PostgreSQL store",
		Seen: "the store is the PostgreSQL database " + s.be.where(),
		Want: "a backup made by PostgreSQL itself, which holds every server's writes (the secrets in it stay sealed)",
		Fix:  "run pg_dump --format=custom on that database (and keep the KEK apart from the dump); restore with pg_restore",
		Err:  ErrBackupElsewhere,
	}
}

// CheckSecrets opens every sealed secret with the store's KEK and returns
// how many there are. Open checks the KEK against one known value; this
// checks every secret, as a restore must before it replaces a store.
func (s *Store) CheckSecrets() (n int, err error) {
	err = s.View(func(tx *Tx) error {
		for _, name := range tx.SecretNames() {
			pt, err := tx.Secret(name)
			if err != nil {
				return fmt.Errorf("secret %q: %w", name, err)
			}
			clear(pt)
			n++
		}
		return nil
	})
	return n, err
}
