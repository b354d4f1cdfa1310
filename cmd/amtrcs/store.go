package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/pki"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

// storeFile is the database file inside the data directory.
const storeFile = "amtrcs.db"

// openExistingStore opens the store of the data directory, refusing when
// there is none: a command that only reads must not leave a new empty
// store and a new KEK behind, and must say where it looked.
func (a *app) openExistingStore() (*store.Store, error) {
	return a.openStoreMode(true)
}

// openStoreMode opens the store of the data directory (dataDirFor) with the
// KEK that --config names (the default KEK file beside the database when no
// config is given), creating both on first use unless mustExist. The
// store's notices, such as "back up the new KEK file", go to stderr so that
// reports on stdout stay parseable.
func (a *app) openStoreMode(mustExist bool) (*store.Store, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	// A PostgreSQL store is no file of the data directory: the database
	// says whether it holds one (OpenPostgres migrates an empty one).
	if mustExist && cfg.Store.Backend != config.StorePostgres {
		if err := a.checkStoreExists(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	return openStoreWith(cfg, cfg.DataDir, slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
}

// checkStoreExists refuses a data directory without a store, naming the
// path looked at, where that path came from, and how to point elsewhere.
func (a *app) checkStoreExists(dataDir string) error {
	db := filepath.Join(dataDir, storeFile)
	_, err := os.Stat(db)
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return usageError(fmt.Errorf("store %s: %v: make it readable by this user", db, err))
	}
	if abs, aerr := filepath.Abs(db); aerr == nil {
		db = abs
	}
	return usageError(fmt.Errorf("no store here: %s does not exist (data directory from %s); this command reads a store and creates none; "+
		"want the data directory of a server; fix: pass --data-dir DIR or --config FILE naming it, "+
		"or create a store with amtrcs serve (or amtrcs demo for a simulated fleet)", db, a.dataDirSource()))
}

// dataDirFor is the data directory a command works in: --data-dir when
// given on the command line, else the data_dir of --config when it sets
// one, else $AMTRCS_DATA_DIR, else ./amtrcs-data. loadConfig puts it in
// the config's DataDir, so every command that opens the store, the CA or
// the server's admin token looks in the same place.
func (a *app) dataDirFor(cfg *config.Config) string {
	if !a.dataDirSet && a.configPath != "" && cfg.DataDir != "" && cfg.DataDir != config.DefaultDataDir {
		return cfg.DataDir
	}
	return a.dataDir
}

// dataDirSource says where the data directory came from, for messages.
func (a *app) dataDirSource() string {
	switch {
	case a.dataDirSet:
		return "--data-dir"
	case a.configPath != "" && a.dataDir != a.resolvedDataDir:
		return "data_dir of " + a.configPath
	case os.Getenv("AMTRCS_DATA_DIR") != "":
		return "$AMTRCS_DATA_DIR"
	}
	return "the default, as neither --data-dir, --config's data_dir nor $AMTRCS_DATA_DIR is set"
}

// openStoreWith opens the store of dataDir with the KEK the configuration
// names. Every command that opens the store goes through here, so that all
// of them read the same KEK.
func openStoreWith(cfg *config.Config, dataDir string, log *slog.Logger) (*store.Store, error) {
	if cfg.Store.Backend == config.StorePostgres {
		st, err := store.OpenPostgres(cfg.Store.URL, dataDir, store.Options{KEK: kekSource(cfg), Logger: log})
		if err != nil {
			return nil, usageError(err)
		}
		return st, nil
	}
	if err := checkStoreNotLost(dataDir); err != nil {
		return nil, usageError(err)
	}
	st, err := store.Open(filepath.Join(dataDir, storeFile), store.Options{KEK: kekSource(cfg), Logger: log})
	if err != nil {
		return nil, usageError(err)
	}
	return st, nil
}

// kekSource is the store's view of the configuration's kek block, for
// every command that opens a store and for config check, so that all of
// them fetch the same KEK and refuse the same things (store.CheckKEK).
func kekSource(cfg *config.Config) store.KEKSource {
	switch cfg.KEK.Source {
	case config.KEKEnv:
		return store.KEKSource{Env: cfg.KEK.Env}
	case config.KEKKMS:
		return store.KEKSource{KMS: cfg.KEK.KMS}
	}
	// Empty File: the store's own default, <data-dir>/kek, created on first run.
	return store.KEKSource{File: cfg.KEK.File}
}

// storeTraces are files amtrcs writes into a data directory only after it
// has opened the store there: the first admin token, the internal CA.
var storeTraces = []string{rcs.AdminTokenFile, pki.DBFile}

// checkStoreNotLost refuses a data directory whose store is missing but
// which holds traces of one. Opening would create an empty store: the
// fleet would vanish, and serve would mint a new admin token over the old.
// (A store that is present but empty or cut short, store.Open refuses.)
func checkStoreNotLost(dataDir string) error {
	db := filepath.Join(dataDir, storeFile)
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	for _, name := range storeTraces {
		if _, err := os.Stat(filepath.Join(dataDir, name)); err == nil {
			return fmt.Errorf("store %q does not exist, but the data directory holds %s, which amtrcs writes only beside a store: want the store that was there, not a new empty one; "+
				"restore amtrcs.db from a backup (stop amtrcs, copy the backup of amtrcs.db and of its KEK file into %s, start amtrcs), "+
				"or, to start over with an empty store, move the data directory aside", db, name, dataDir)
		}
	}
	return nil
}
