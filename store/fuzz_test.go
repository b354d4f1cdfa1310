package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/amtrcs/amtrcs/internal/fuzzmin"
	"github.com/amtrcs/amtrcs/internal/pgtest"
)

// TestMain keeps the fuzzer's minimization of a new input short (see
// package fuzzmin) and stops the PostgreSQL cluster of the contract tests.
func TestMain(m *testing.M) { fuzzmin.Main(m, pgtest.Stop) }

// FuzzOpenDamaged opens mutated store files: the whole file is the input,
// seeded with a small real store and damaged copies of it. A file the
// check refuses must be refused by Open with ErrDamaged and the fix; a file
// it passes must open as a store that reads and writes. Neither may panic
// or fault, which in bbolt would kill the process. The check runs first in
// memory, so that most mutations cost no file.
func FuzzOpenDamaged(f *testing.F) {
	path := filepath.Join(f.TempDir(), "amtrcs.db")
	s, err := Open(path, Options{KEK: KEKSource{Key: testKEK}, Logger: quietLogger(), NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := s.Put(Devices, id, device{ID: id, Host: "pc-" + id}); err != nil {
			f.Fatal(err)
		}
	}
	s.Close()
	whole, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	// The store is mostly unused pages of zeros: the fuzzer mutates the
	// pages in use, and a missing tail reads as a truncated file.
	used := bytes.TrimRight(whole, "\x00")
	f.Add(used)
	f.Add(whole[:len(whole)/2])
	f.Add(whole[:4096])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		if checkFile(bytes.NewReader(data), int64(len(data))) != nil {
			// Refused before bbolt: Open says so with the fix (checked
			// here on a sample, since a file per run is slow).
			if len(data)%64 != 0 {
				return
			}
		}
		p := filepath.Join(t.TempDir(), "amtrcs.db")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p, Options{KEK: KEKSource{Key: testKEK}, Logger: quietLogger(), NoSync: true})
		if err != nil {
			if errors.Is(err, ErrDamaged) && !bytes.Contains([]byte(err.Error()), []byte("restore amtrcs.db from a backup")) {
				t.Fatalf("damaged-store refusal without the fix: %v", err)
			}
			return
		}
		defer s.Close()
		for _, b := range append(EntityBuckets(), Secrets, Audit) {
			s.View(func(tx *Tx) error {
				return tx.tx.forEach(b, func(string, []byte) error { return nil })
			})
		}
		s.Put(Devices, "after", device{ID: "after"})
	})
}
