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
const SchemaVersion = 2

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
	be     backend
	path   string // the bbolt file; "" on PostgreSQL
	sealer *sealer
	kek    KEKInfo
	log    *slog.Logger
	now    func() time.Time
	batch  *batcher
	stats  stats
	// onCommit is the CommitObserver (OnCommit), read on every commit.
	onCommit atomic.Pointer[CommitObserver]
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
}

// Open opens or creates the bbolt database at path. It checks the KEK
// against the store before writing anything, so a wrong KEK leaves the file
// untouched.
func Open(path string, opts Options) (*Store, error) {
	opts.defaults()
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

	sl, wrapper, info, err := openSealer(opts, path, dbNew)
	if err != nil {
		return nil, err
	}
	if wrapper != nil {
		defer wrapper.Close()
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
	s := newStore(&boltBackend{db: db, path: path, memLeases: memLeases{now: opts.Now}}, sl, info, opts)
	s.path = path
	if err := s.safeInit(wrapper); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// openSealer resolves the KEK (the default file sits in the directory of
// kekBeside) and makes the sealer of a store. With a KMS it returns no
// sealer but the key pair that wraps the store's data key: init unwraps
// it (or makes one for a new store) and builds the sealer. The caller
// closes the wrapper (logging out of the token) once the store is open.
func openSealer(opts Options, kekBeside string, dbNew bool) (*sealer, *kmsKEK, KEKInfo, error) {
	kek, info, err := resolveKEK(opts.KEK, kekBeside, dbNew, opts.LookupEnv, opts.Logger)
	if err != nil {
		return nil, nil, info, err
	}
	if opts.KEK.KMS != "" {
		wrapper, err := openKMSKEK(context.Background(), opts.KEK.KMS)
		if err != nil {
			return nil, nil, info, err
		}
		return nil, wrapper, KEKInfo{Source: "KMS key " + wrapper.ref.ref}, nil
	}
	sl, err := newSealer(kek)
	clear(kek)
	if err != nil {
		return nil, nil, info, fmt.Errorf("%w: %v", ErrKEK, err)
	}
	return sl, nil, info, nil
}

func newStore(be backend, sl *sealer, info KEKInfo, opts Options) *Store {
	s := &Store{be: be, sealer: sl, kek: info, log: opts.Logger, now: opts.Now}
	s.batch = &batcher{s: s, delay: opts.BatchDelay, max: opts.MaxBatch, full: make(chan struct{}, 1)}
	return s
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
// when the store is new, lacks a bucket, or has an older layout to migrate,
// so that a refused Open leaves the database as it was. With a KMS
// (wrapper not nil) it first unwraps the store's data key, or makes and
// wraps one for a new store, and builds the sealer from it.
func (s *Store) init(wrapper *kmsKEK) error {
	where := s.be.where()
	needWrite := false
	from := 0 // the schema the records are in; 0: none recorded
	var newWrapped []byte
	err := s.be.view(func(tx backendTx) error {
		needWrite = !tx.layoutComplete()
		v, err := tx.get(Meta, metaSchema)
		if err != nil {
			return err
		}
		if v != nil {
			n, err := strconv.Atoi(string(v))
			if err != nil {
				return fmt.Errorf("store %q has schema version %q, want a number: restore it from a backup", where, v)
			}
			if n > SchemaVersion {
				return fmt.Errorf("store %q has schema version %d, this amtrcs reads up to %d: run a newer amtrcs", where, n, SchemaVersion)
			}
			from = n
		}
		if from < SchemaVersion {
			needWrite = true
		}
		check, err := tx.get(Meta, metaKEKCheck)
		if err != nil {
			return err
		}
		wrapped, err := tx.get(Meta, metaKEKWrapped)
		if err != nil {
			return err
		}
		keyID, err := tx.get(Meta, metaKEKKMSKey)
		if err != nil {
			return err
		}
		if newWrapped, err = s.dataKey(wrapper, wrapped, keyID, check != nil); err != nil {
			return err
		}
		if newWrapped != nil {
			needWrite = true
		}
		if check == nil {
			hasSecrets := false
			err := tx.forEach(Secrets, func(string, []byte) error { hasSecrets = true; return errStop })
			if err != nil && err != errStop {
				return err
			}
			if hasSecrets {
				return fmt.Errorf("%w: store %q holds secrets but no KEK check value, so the KEK from %s cannot be verified: restore it from a backup", ErrKEKMismatch, where, s.kek.Source)
			}
			needWrite = true
			return nil
		}
		pt, err := s.sealer.open(purposeKEKCheck, "", check)
		if err != nil || !bytes.Equal(pt, []byte(kekCheckText)) {
			return fmt.Errorf("%w: the KEK from %s does not open store %q (created with another KEK): use the KEK file or environment variable that was used when %s was created, or move %s aside to start a new, empty store", ErrKEKMismatch, s.kek.Source, where, where, where)
		}
		return nil
	})
	if err != nil || !needWrite {
		return err
	}
	return s.be.update(func(tx backendTx) error {
		if err := tx.completeLayout(); err != nil {
			return fmt.Errorf("store %q: %w", where, err)
		}
		if err := migrate(tx, from, s.log); err != nil {
			return fmt.Errorf("store %q: %w", where, err)
		}
		if err := tx.put(Meta, metaSchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
			return err
		}
		if newWrapped != nil {
			if err := tx.put(Meta, metaKEKWrapped, newWrapped); err != nil {
				return err
			}
			if err := tx.put(Meta, metaKEKKMSKey, []byte(wrapper.keyID)); err != nil {
				return err
			}
		}
		check, err := tx.get(Meta, metaKEKCheck)
		if err != nil || check != nil {
			return err
		}
		if check, err = s.sealer.seal(purposeKEKCheck, "", []byte(kekCheckText)); err != nil {
			return err
		}
		return tx.put(Meta, metaKEKCheck, check)
	})
}

// errStop ends a walk early; it never leaves the store.
var errStop = errors.New("stop")

// Close releases the database file.
func (s *Store) Close() error { return s.be.close() }

// Path is the absolute path of the bbolt file, or "" on PostgreSQL.
func (s *Store) Path() string { return s.path }

// Backend names the backend: "bbolt" or "postgres".
func (s *Store) Backend() string { return s.be.kind() }

// Where says which database the store is, never with a password.
func (s *Store) Where() string { return s.be.where() }

// KEKInfo says where the KEK came from and whether Open created it.
func (s *Store) KEKInfo() KEKInfo { return s.kek }

// KEKCreated reports whether Open generated a new KEK file, which the admin
// must back up.
func (s *Store) KEKCreated() bool { return s.kek.Created }
