package store

import (
	"path/filepath"
	"testing"

	"github.com/amtrcs/amtrcs/internal/pgtest"
)

// backendCase is one implementation of the store contract. The contract's
// tests run on each: one suite, two implementations.
type backendCase struct {
	name string
	// place makes a new, empty place for a store: a bbolt file path, or
	// the URL of a new PostgreSQL database.
	place func(t testing.TB) string
	// open opens (or creates) the store at a place.
	open func(t testing.TB, place string, opts Options) (*Store, error)
}

var backends = []backendCase{
	{
		name:  "bbolt",
		place: func(t testing.TB) string { return filepath.Join(t.TempDir(), "amtrcs.db") },
		open: func(_ testing.TB, place string, opts Options) (*Store, error) {
			return Open(place, opts)
		},
	},
	{
		name:  "postgres",
		place: func(t testing.TB) string { return pgtest.URL(t) },
		open: func(t testing.TB, place string, opts Options) (*Store, error) {
			return OpenPostgres(place, t.TempDir(), opts)
		},
	},
}

// forBackends runs fn as a parallel subtest on each backend.
func forBackends(t *testing.T, fn func(t *testing.T, b backendCase)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// openTest opens the store at place with a fixed KEK given directly, so
// tests that are not about KEK sources do not depend on files or the
// environment.
func (b backendCase) openTest(t testing.TB, place string) *Store {
	t.Helper()
	s, err := b.open(t, place, Options{KEK: KEKSource{Key: testKEK}, Logger: quietLogger(), NoSync: true})
	if err != nil {
		t.Fatalf("open %s store %s: %v", b.name, RedactURL(place), err)
	}
	return s
}

// newTest opens a new, empty store.
func (b backendCase) newTest(t testing.TB) *Store {
	t.Helper()
	return b.openTest(t, b.place(t))
}
