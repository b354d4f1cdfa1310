package main

import (
	"log/slog"
	"path/filepath"

	"github.com/amtrcs/amtrcs/store"
)

// storeFile is the database file inside the data directory.
const storeFile = "amtrcs.db"

// openStore opens the store of --data-dir, creating it (and its KEK file)
// on first use. The store's notices, such as "back up the new KEK file", go
// to stderr so that reports on stdout stay parseable.
func (a *app) openStore() (*store.Store, error) {
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st, err := store.Open(filepath.Join(a.dataDir, storeFile), store.Options{Logger: log})
	if err != nil {
		return nil, usageError(err)
	}
	return st, nil
}
