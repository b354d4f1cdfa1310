package store

import (
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// WriteBackup writes a consistent copy of the database to w from one read
// transaction, while writers go on. The copy holds the secrets sealed: it
// is of no use without the KEK, which it never contains. start, when not
// nil, is told the copy's size before the first byte is written (an HTTP
// handler sets Content-Length with it, so a cut copy is noticed).
func (s *Store) WriteBackup(w io.Writer, start func(size int64)) (n int64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if start != nil {
			start(tx.Size())
		}
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
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
