package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout this code reads and writes. Open refuses a
// store written by a newer amtrcs rather than misread it.
const SchemaVersion = 1

// DefaultLockTimeout is how long Open waits for another process to release
// the database file.
const DefaultLockTimeout = 2 * time.Second

const (
	metaSchema   = "schema"
	metaKEKCheck = "kek-check"
	kekCheckText = "amtrcs key-encryption key check v1"
)

// ErrLocked is wrapped when another process holds the database file.
var ErrLocked = errors.New("database file locked")

// Options configure Open. The zero value is usable: the KEK file beside the
// database, the default logger, fsync on every commit, the real clock.
type Options struct {
	KEK    KEKSource
	Logger *slog.Logger
	// NoSync skips fsync on commit: for tests and benchmarks only, since a
	// crash may then lose a password already set in firmware.
	NoSync      bool
	Now         func() time.Time
	LockTimeout time.Duration               // 0 means DefaultLockTimeout
	LookupEnv   func(string) (string, bool) // nil means os.LookupEnv
	// BatchDelay is how long a Batch commit waits for more calls to join
	// it before it starts. 0 (the default) starts at once: calls that
	// arrive while a commit runs join the next one anyway, so concurrent
	// writers share commits without any added latency.
	BatchDelay time.Duration
	// MaxBatch caps the calls one Batch commit takes (0 means
	// DefaultMaxBatch); a full batch starts without waiting for BatchDelay.
	MaxBatch int
}

// Store is an open database. It is safe for concurrent use.
type Store struct {
	db     *bolt.DB
	path   string
	sealer *sealer
	kek    KEKInfo
	log    *slog.Logger
	now    func() time.Time
	batch  *batcher
	stats  stats
	// onCommit is the CommitObserver (OnCommit), read on every commit.
	onCommit atomic.Pointer[CommitObserver]
}

// Open opens or creates the database at path. It checks the KEK against the
// store before writing anything, so a wrong KEK leaves the file untouched.
func Open(path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store path %q: %w", path, err)
	}
	path = abs
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create the store's directory %q: %v: give a writable data directory", filepath.Dir(path), unwrapPathError(err))
	}
	dbNew := false
	if st, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		dbNew = true
	} else if err != nil {
		return nil, fmt.Errorf("store %q: %v: make it readable and writable by the amtrcs user", path, unwrapPathError(err))
	} else if st.IsDir() {
		return nil, fmt.Errorf("store %q is a directory, want a database file: give the path of the file, e.g. %s", path, filepath.Join(path, "amtrcs.db"))
	} else if err := checkStoreFile(path); err != nil {
		// Before bbolt maps the file: it trusts every page and would crash
		// the process on one that lies. A 0-byte file is refused too: bbolt
		// writes its meta pages at creation, so an empty file is a store
		// whose content was lost, and re-creating it would hide the loss.
		return nil, err
	}

	kek, info, err := resolveKEK(opts.KEK, path, dbNew, opts.LookupEnv, opts.Logger)
	if err != nil {
		return nil, err
	}
	// With a KMS, init unwraps the store's data key (or makes one) and
	// builds the sealer; the token is logged out of once Open returns.
	var sl *sealer
	var wrapper *kmsKEK
	if opts.KEK.KMS != "" {
		if wrapper, err = openKMSKEK(context.Background(), opts.KEK.KMS); err != nil {
			return nil, err
		}
		defer wrapper.Close()
		info = KEKInfo{Source: "KMS key " + wrapper.ref.ref}
	} else {
		sl, err = newSealer(kek)
		clear(kek)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKEK, err)
		}
	}

	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	db, err := openBolt(path, &bolt.Options{
		Timeout: opts.LockTimeout,
		NoSync:  opts.NoSync,
		// The freelist is not written on each commit but rebuilt from the
		// pages when the file is opened: without this every commit rewrote
		// the whole freelist, which grows with the file. A crash loses
		// nothing, since the freelist is derived from the committed pages.
		NoFreelistSync: true,
		// The map freelist allocates in constant time where the array one
		// scans; it matters once the file has many free pages.
		FreelistType: bolt.FreelistMapType,
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: another process holds %q (another amtrcs serving, or running a command?); waited %s: stop that process, or give this command another data directory", ErrLocked, path, opts.LockTimeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("store %q is not a readable amtrcs database (%v): check the path, or restore the file from a backup", path, err)
	case err != nil:
		return nil, fmt.Errorf("open store %q: %v", path, unwrapPathError(err))
	}
	s := &Store{db: db, path: path, sealer: sl, kek: info, log: opts.Logger, now: opts.Now}
	s.batch = &batcher{s: s, delay: opts.BatchDelay, max: opts.MaxBatch, full: make(chan struct{}, 1)}
	if err := s.safeInit(wrapper); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// openBolt is bolt.Open with a panic turned into ErrDamaged. checkStoreFile
// has already refused every damage it knows; this catches the rest where
// bbolt panics in our goroutine (a fault in its own goroutine cannot be
// caught, which is why the check runs first).
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, damagedError(path, fmt.Errorf("bbolt panicked opening it (%v)", r))
		}
	}()
	return bolt.Open(path, 0o600, o)
}

// safeInit is init with a panic in bbolt turned into ErrDamaged.
func (s *Store) safeInit(wrapper *kmsKEK) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = damagedError(s.path, fmt.Errorf("bbolt panicked reading it (%v)", r))
		}
	}()
	return s.init(wrapper)
}

// init checks the schema and the KEK in a read transaction, and writes only
// when the store is new or lacks a bucket, so that a refused Open leaves the
// file byte for byte as it was. With a KMS (wrapper not nil) it first
// unwraps the store's data key, or makes and wraps one for a new store,
// and builds the sealer from it.
func (s *Store) init(wrapper *kmsKEK) error {
	needWrite := false
	var newWrapped []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if tx.Bucket([]byte(b)) == nil {
				needWrite = true
			}
		}
		meta := tx.Bucket([]byte(Meta))
		if meta == nil {
			return nil
		}
		if v := meta.Get([]byte(metaSchema)); v != nil {
			n, err := strconv.Atoi(string(v))
			if err != nil {
				return fmt.Errorf("store %q has schema version %q, want a number: restore the file from a backup", s.path, v)
			}
			if n > SchemaVersion {
				return fmt.Errorf("store %q has schema version %d, this amtrcs reads up to %d: run a newer amtrcs", s.path, n, SchemaVersion)
			}
		} else {
			needWrite = true
		}
		check := meta.Get([]byte(metaKEKCheck))
		var err error
		if newWrapped, err = s.dataKey(wrapper, meta, check != nil); err != nil {
			return err
		}
		if newWrapped != nil {
			needWrite = true
		}
		if check == nil {
			if sec := tx.Bucket([]byte(Secrets)); sec != nil {
				if k, _ := sec.Cursor().First(); k != nil {
					return fmt.Errorf("%w: store %q holds secrets but no KEK check value, so the KEK from %s cannot be verified: restore the file from a backup", ErrKEKMismatch, s.path, s.kek.Source)
				}
			}
			needWrite = true
			return nil
		}
		pt, err := s.sealer.open(purposeKEKCheck, "", check)
		if err != nil || !bytes.Equal(pt, []byte(kekCheckText)) {
			return fmt.Errorf("%w: the KEK from %s does not open store %q (created with another KEK): use the KEK file or environment variable that was used when %s was created, or move %s aside to start a new, empty store", ErrKEKMismatch, s.kek.Source, s.path, s.path, s.path)
		}
		return nil
	})
	if err == nil && s.sealer == nil {
		// A store with no meta bucket yet: new.
		newWrapped, err = s.dataKey(wrapper, nil, false)
	}
	if err != nil || !needWrite {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return fmt.Errorf("store %q: create bucket %s: %w", s.path, b, err)
			}
		}
		meta := tx.Bucket([]byte(Meta))
		if meta.Get([]byte(metaSchema)) == nil {
			if err := meta.Put([]byte(metaSchema), []byte(strconv.Itoa(SchemaVersion))); err != nil {
				return err
			}
		}
		if newWrapped != nil {
			if err := meta.Put([]byte(metaKEKWrapped), newWrapped); err != nil {
				return err
			}
			if err := meta.Put([]byte(metaKEKKMSKey), []byte(wrapper.keyID)); err != nil {
				return err
			}
		}
		if meta.Get([]byte(metaKEKCheck)) == nil {
			check, err := s.sealer.seal(purposeKEKCheck, "", []byte(kekCheckText))
			if err != nil {
				return err
			}
			return meta.Put([]byte(metaKEKCheck), check)
		}
		return nil
	})
}

// Close releases the database file.
func (s *Store) Close() error { return s.db.Close() }

// Path is the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// KEKInfo says where the KEK came from and whether Open created it.
func (s *Store) KEKInfo() KEKInfo { return s.kek }

// KEKCreated reports whether Open generated a new KEK file, which the admin
// must back up.
func (s *Store) KEKCreated() bool { return s.kek.Created }
