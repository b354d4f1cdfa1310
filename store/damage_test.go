package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// filledStore writes a store of about 1 MiB, a fleet's worth of devices,
// secrets and audit records, and returns its path once closed.
func filledStore(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "amtrcs.db")
	s := openTest(t, path)
	for i := range 40 {
		err := s.Update(func(tx *Tx) error {
			for j := range 50 {
				id := fmt.Sprintf("%08d-0000-4000-8000-%012d", i, j)
				d := device{ID: id, Host: "pc-" + id + ".branch.corp.example.com", State: strings.Repeat("acm ", 40)}
				if err := tx.Put(Devices, id, d); err != nil {
					return err
				}
				if err := tx.PutSecret("device/"+id+"/admin", []byte("Passw0rd!-"+id)); err != nil {
					return err
				}
				if err := tx.Audit(Event{Actor: "test", Action: "device.activate", Subject: id, Outcome: OutcomeSuccess}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// damage copies the store at src into a new directory, lets f change the
// bytes, and returns the new path.
func damaged(t *testing.T, src string, f func([]byte) []byte) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "amtrcs.db")
	if err := os.WriteFile(path, f(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantDamaged opens path and wants the damaged-store refusal: named rule,
// the fix, and the file left as it was.
func wantDamaged(t *testing.T, path string) {
	t.Helper()
	before, _ := os.ReadFile(path)
	s, err := Open(path, Options{KEK: KEKSource{Key: testKEK}, Logger: quietLogger(), NoSync: true})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a damaged store")
	}
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open error = %v, want ErrDamaged", err)
	}
	for _, want := range []string{path, "restore", "backup"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("Open changed the damaged file")
	}
}

func TestOpenRefusesDamagedStore(t *testing.T) {
	t.Parallel()
	src := filledStore(t)
	tests := map[string]func([]byte) []byte{
		"truncated to 256 KiB": func(b []byte) []byte { return b[:256<<10] },
		"truncated mid-page":   func(b []byte) []byte { return b[:len(b)/2+1000] },
		"cut to its meta pages": func(b []byte) []byte {
			return b[:2*4096]
		},
		"zeroed":       func(b []byte) []byte { return make([]byte, len(b)) },
		"metas zeroed": func(b []byte) []byte { clear(b[:2*4096]); return b },
		"pages zeroed": func(b []byte) []byte { clear(b[2*4096:]); return b },
		"0 bytes":      func([]byte) []byte { return nil },
		"shorter than a page": func(b []byte) []byte {
			return b[:1000]
		},
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantDamaged(t, damaged(t, src, f))
		})
	}
}

// TestOpenSurvivesPageCorruption overwrites random pages with random bytes
// (seeded, so a failure replays). Open either refuses with ErrDamaged or,
// when the corruption hit only free pages or record values, opens a store
// whose records can all be read; it never panics.
func TestOpenSurvivesPageCorruption(t *testing.T) {
	t.Parallel()
	src := filledStore(t)
	refused := 0
	for seed := range uint64(40) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 12))
			path := damaged(t, src, func(b []byte) []byte {
				pages := len(b) / 4096
				for range 1 + r.IntN(3) {
					p := 2 + r.IntN(pages-2)
					off := p*4096 + r.IntN(4096-64)
					for i := range 1 + r.IntN(64) {
						b[off+i] = byte(r.Uint32())
					}
				}
				return b
			})
			s, err := Open(path, Options{KEK: KEKSource{Key: testKEK}, Logger: quietLogger(), NoSync: true})
			if err != nil {
				if !errors.Is(err, ErrDamaged) {
					t.Fatalf("Open error = %v, want ErrDamaged", err)
				}
				refused++
				return
			}
			defer s.Close()
			// Whatever opened must be readable without a panic.
			for _, b := range append(EntityBuckets(), Secrets, Audit) {
				s.View(func(tx *Tx) error {
					tx.tx.forEach(b, func(string, []byte) error { return nil })
					return nil
				})
			}
			if err := s.Put(Devices, "after", device{ID: "after"}); err != nil {
				t.Logf("write after open: %v", err)
			}
		})
	}
	t.Logf("%d of 40 corruptions refused", refused)
}
