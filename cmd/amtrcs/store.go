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

// openStore opens the store of --data-dir with the KEK that --config names
// (the default KEK file beside the database when no config is given),
// creating both on first use. The store's notices, such as "back up the new
// KEK file", go to stderr so that reports on stdout stay parseable.
func (a *app) openStore() (*store.Store, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	return openStoreWith(cfg, a.dataDir, slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
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
