package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// RestoreResult says what Restore did.
type RestoreResult struct {
	Path     string         `json:"path"`                // the store now holding the backup
	From     string         `json:"from"`                // the backup file
	SideCopy string         `json:"side_copy,omitempty"` // the previous store, moved aside; "" when there was none
	Bytes    int64          `json:"bytes"`
	Secrets  int            `json:"secrets"` // sealed secrets, each opened with the KEK
	Records  map[Bucket]int `json:"records"` // entities by bucket
}

// CheckFile refuses a file that is not a sound bbolt database, with the
// damage checks Open runs, without opening it.
func CheckFile(path string) error { return checkStoreFile(path) }

// Restore replaces the database at path with the backup at from, offline.
// It refuses while another process holds path (a server), a backup that is
// damaged, and a backup whose secrets the KEK of opts does not open; in
// each case path is left as it was. The previous database is kept beside
// it, renamed to sideName, never deleted.
func Restore(path, from, sideName string, opts Options) (res RestoreResult, err error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if path, err = filepath.Abs(path); err != nil {
		return res, err
	}
	res = RestoreResult{Path: path, From: from}
	if err := checkStoreFile(from); err != nil {
		return res, fmt.Errorf("backup %s: %w", from, err)
	}
	// Hold the current store's lock until the swap is done, so that no
	// server starts on it in between. A damaged store cannot be served, so
	// it has no lock worth taking (and bbolt must not map it).
	_, statErr := os.Stat(path)
	exists := statErr == nil
	if exists && checkStoreFile(path) == nil {
		cur, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
		if errors.Is(err, berrors.ErrTimeout) {
			return res, fmt.Errorf("%w: restore needs the store %q to itself; another process holds it (amtrcs serve, or a command) and did not let go within %s, want no process using it: stop amtrcs serve on this data directory, then run restore again", ErrLocked, path, opts.LockTimeout)
		}
		if err != nil {
			return res, fmt.Errorf("open store %q: %v", path, unwrapPathError(err))
		}
		defer cur.Close()
	} else if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
		return res, fmt.Errorf("store %q: %v", path, unwrapPathError(statErr))
	}

	tmp := path + ".restoring"
	if res.Bytes, err = copyFile(tmp, from); err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("copy backup %s to %s: %v", from, tmp, unwrapPathError(err))
	}
	// Open checks the KEK against the copy before anything else: a backup
	// made under another KEK is refused here, and every secret is opened.
	if opts.KEK.File == "" && opts.KEK.Env == "" && opts.KEK.KMS == "" && opts.KEK.Key == nil {
		opts.KEK.File = filepath.Join(filepath.Dir(path), DefaultKEKFile)
	}
	if err := checkRestored(tmp, opts, &res); err != nil {
		os.Remove(tmp)
		return res, err
	}
	if exists {
		res.SideCopy = filepath.Join(filepath.Dir(path), sideName)
		if err := os.Rename(path, res.SideCopy); err != nil {
			os.Remove(tmp)
			return res, fmt.Errorf("move the previous store aside to %s: %v", res.SideCopy, unwrapPathError(err))
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return res, fmt.Errorf("put the restored store in place %s: %v (the previous store is at %s)", path, unwrapPathError(err), res.SideCopy)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return res, nil
}

func checkRestored(tmp string, opts Options, res *RestoreResult) error {
	s, err := Open(tmp, opts)
	if err != nil {
		return fmt.Errorf("backup %s does not open with this data directory's KEK: %w", res.From, err)
	}
	defer s.Close()
	if res.Secrets, err = s.CheckSecrets(); err != nil {
		return fmt.Errorf("backup %s: a sealed secret does not open with the KEK (%v), want every secret to open: give the KEK the backup's server used (kek.file or kek.env)", res.From, err)
	}
	res.Records = map[Bucket]int{}
	return s.View(func(tx *Tx) error {
		for _, b := range EntityBuckets() {
			n := 0
			if err := tx.ForEach(b, func(string, []byte) error { n++; return nil }); err != nil {
				return err
			}
			res.Records[b] = n
		}
		return nil
	})
}

// copyFile writes a copy of from at to, mode 0600, synced to disk.
func copyFile(to, from string) (int64, error) {
	in, err := os.Open(from)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}
