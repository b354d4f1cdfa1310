package pgtest

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Throwaway starts a cluster of its own, apart from the tests' shared one,
// with one empty database, for a program that needs a database only while
// it runs (amtrcs bench): it returns the database's URL and stop, which
// stops the cluster and removes its directory.
func Throwaway() (url string, stop func(), err error) {
	c := start()
	if c.missing != "" {
		c.stop()
		return "", nil, fmt.Errorf("no PostgreSQL programs to start a throw-away cluster (%s): install them (%s), or give a database in AMTRCS_DATABASE_URL", c.missing, Install)
	}
	if c.err != nil {
		c.stop()
		return "", nil, fmt.Errorf("start a throw-away PostgreSQL cluster: %w", c.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, c.url("postgres"))
	if err == nil {
		_, err = admin.Exec(ctx, "CREATE DATABASE amtrcs")
		admin.Close(ctx)
	}
	if err != nil {
		c.stop()
		return "", nil, fmt.Errorf("throw-away PostgreSQL cluster: create the database: %w", err)
	}
	return c.url("amtrcs"), c.stop, nil
}
