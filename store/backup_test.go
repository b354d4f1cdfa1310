package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A backup written while the store is open opens as a store with the same
// KEK, holding the same records and secrets.
func TestWriteBackupOpens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kek := filepath.Join(dir, DefaultKEKFile)
	s, err := Open(filepath.Join(dir, "a.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PutSecret("device/1/admin", []byte("pw-1")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var size int64
	if n, err := s.WriteBackup(&buf, func(sz int64) { size = sz }); err != nil || n != size || n != int64(buf.Len()) {
		t.Fatalf("WriteBackup = %d, %v; announced %d, wrote %d", n, err, size, buf.Len())
	}
	copyPath := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(copyPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(copyPath, Options{KEK: KEKSource{File: kek}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, err := c.CheckSecrets(); err != nil || n != 1 {
		t.Fatalf("CheckSecrets = %d, %v; want 1, nil", n, err)
	}
	if pt, err := c.Secret("device/1/admin"); err != nil || string(pt) != "pw-1" {
		t.Fatalf("secret in the copy = %q, %v", pt, err)
	}
}

// With another KEK the copy is refused by Open, before any secret is read.
func TestBackupWithAnotherKEKRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "a.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var buf bytes.Buffer
	if _, err := s.WriteBackup(&buf, nil); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	// A second store creates its own KEK file.
	o, err := Open(filepath.Join(other, "o.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	copyPath := filepath.Join(other, "copy.db")
	os.WriteFile(copyPath, buf.Bytes(), 0o600)
	if _, err := Open(copyPath, Options{KEK: KEKSource{File: filepath.Join(other, DefaultKEKFile)}, NoSync: true}); !errors.Is(err, ErrKEKMismatch) {
		t.Fatalf("Open with another KEK: %v, want ErrKEKMismatch", err)
	}
}
