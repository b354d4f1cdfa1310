package main

import (
	"errors"
	"log/slog"
	"path/filepath"

	"github.com/amtrcs/amtrcs/config"
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
	var kek store.KEKSource
	switch cfg.KEK.Source {
	case config.KEKEnv:
		kek.Env = cfg.KEK.Env
	case config.KEKKMS:
		return nil, usageError(errors.New("kek.kms: this build reads the key-encryption key from a file or an environment variable only; fix: set kek.file or kek.env"))
	default:
		// Empty: the store's own default, <data-dir>/kek, created on first run.
		kek.File = cfg.KEK.File
	}
	st, err := store.Open(filepath.Join(dataDir, storeFile), store.Options{KEK: kek, Logger: log})
	if err != nil {
		return nil, usageError(err)
	}
	return st, nil
}
