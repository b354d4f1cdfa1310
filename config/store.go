package config

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// StoreBackend names where the store keeps its records.
type StoreBackend string

const (
	// StoreBBolt is the embedded default: one file in the data directory,
	// one server.
	StoreBBolt StoreBackend = "bbolt"
	// StorePostgres is a PostgreSQL database that several servers share.
	StorePostgres StoreBackend = "postgres"
)

// Store is the store block. URL may hold a password (it usually comes from
// env.AMTRCS_DATABASE_URL), so it is never marshalled or shown: reports
// name the database through the store's own redaction.
type Store struct {
	Backend StoreBackend
	URL     string `json:"-"`
}

//	store {
//	  backend = "postgres"
//	  url     = env.AMTRCS_DATABASE_URL
//	}
type storeRaw struct {
	Backend      *string   `hcl:"backend,optional"`
	BackendRange hcl.Range `hcl:"backend,attr_value_range"`
	URL          *string   `hcl:"url,optional"`
	URLRange     hcl.Range `hcl:"url,attr_value_range"`
	DefRange     hcl.Range `hcl:",def_range"`
}

func (b *builder) store(raw *storeRaw, s *Store) {
	if raw == nil {
		return
	}
	if raw.Backend != nil {
		switch v := StoreBackend(*raw.Backend); v {
		case StoreBBolt, StorePostgres:
			s.Backend = v
		default:
			b.errorf(raw.BackendRange, "Unknown store backend", `store.backend = %q: want "bbolt" (the embedded file, one server) or "postgres" (a PostgreSQL database several servers share); fix: set one of them, or remove backend for "bbolt"`, *raw.Backend)
			return
		}
	}
	if raw.URL != nil {
		s.URL = *raw.URL
	}
	switch {
	case s.Backend == StorePostgres && raw.URL == nil:
		b.errorf(raw.DefRange, "Missing store URL", `store.backend = "postgres" needs the database's URL, and the store block has no url: want url = env.AMTRCS_DATABASE_URL (postgres://user:password@host:5432/amtrcs); fix: add that line and export AMTRCS_DATABASE_URL`)
	case s.Backend != StorePostgres && raw.URL != nil:
		b.errorf(raw.URLRange, "Store URL without PostgreSQL", `store.url is set but store.backend is %q, which keeps its records in the data directory and has no URL: want backend = "postgres" beside url; fix: add backend = "postgres", or remove url`, s.Backend)
	case s.Backend == StorePostgres && !postgresURL(s.URL):
		// The value is not quoted: it may hold a password.
		b.errorf(raw.URLRange, "Invalid store URL", `store.url (value not shown, it may hold a password) is not a PostgreSQL connection string: want postgres://user:password@host:5432/database or "host=... dbname=..."; fix: set AMTRCS_DATABASE_URL to such a URL`)
	}
}

// postgresURL says whether u has the shape of a PostgreSQL connection
// string; the driver checks the rest when the store opens.
func postgresURL(u string) bool {
	for _, p := range []string{"postgres://", "postgresql://"} {
		if strings.HasPrefix(u, p) && len(u) > len(p) {
			return true
		}
	}
	return strings.Contains(u, "=") && !strings.Contains(u, "://")
}
