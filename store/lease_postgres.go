package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgreSQL's leases are rows of amtrcs.leases, timed by the database's
// clock (now()), so that servers whose clocks differ still agree on when
// a lease expired. Each statement stands alone (no SERIALIZABLE
// transaction, no retry): a claim is one upsert whose WHERE takes the row
// only when it is free, expired or already ours, and PostgreSQL's row lock
// orders two servers claiming at once.
//
// Leases have a small pool of connections of their own, and renewals one
// more of theirs: a server busy with many transactions (or many claims)
// would otherwise queue its renewals behind them, past their time to
// live, and the others would take its devices while it still runs their
// jobs.
//
// Notifications travel on one LISTEN channel, pgNotifyChannel, with the
// topic before notifySep in the payload; one connection of the pool
// listens for the whole process and the hub fans out.

// pgNotifyChannel is the PostgreSQL channel of the store's notifications.
const pgNotifyChannel = "amtrcs_events"

// pgListenWait bounds how long a subscriber waits for the first LISTEN.
const pgListenWait = 10 * time.Second

// pgListenRetry is the wait before the listening connection is made
// again after it broke.
const pgListenRetry = time.Second

type pgLeases struct {
	cfg       *pgxpool.Config // of the store's pool, copied for the leases'
	poolOnce  sync.Once
	pool      *pgxpool.Pool
	renewer   *pgxpool.Pool // one connection, for renewals only
	poolErr   error
	once      sync.Once
	ready     chan struct{} // closed once the first LISTEN is in place
	readyOnce sync.Once
	hub       hub
	cancel    context.CancelFunc
	done      chan struct{}
}

// pgLeaseConns is the size of the leases' pool: the listener holds one.
const pgLeaseConns = 3

// db is the leases' pool, made on first use.
func (p *pgBackend) db() (*pgxpool.Pool, error) {
	p.lz.poolOnce.Do(func() {
		cfg := p.lz.cfg.Copy()
		cfg.MaxConns, cfg.MinConns = pgLeaseConns, 0
		p.lz.pool, p.lz.poolErr = pgxpool.NewWithConfig(pgctx, cfg)
		if p.lz.poolErr != nil {
			return
		}
		rcfg := p.lz.cfg.Copy()
		rcfg.MaxConns, rcfg.MinConns = 1, 0
		if p.lz.renewer, p.lz.poolErr = pgxpool.NewWithConfig(pgctx, rcfg); p.lz.poolErr != nil {
			p.lz.pool.Close()
			p.lz.pool = nil
		}
	})
	if p.lz.pool == nil && p.lz.poolErr == nil {
		return nil, errors.New("the store is closed")
	}
	return p.lz.pool, p.lz.poolErr
}

// closeLeases ends the listener and closes the leases' pool.
func (p *pgBackend) closeLeases() {
	p.stopListening()
	p.lz.poolOnce.Do(func() {}) // no pool made after this
	if p.lz.pool != nil {
		p.lz.pool.Close()
		p.lz.renewer.Close()
	}
}

func (p *pgBackend) claim(name, owner string, ttl time.Duration) (Lease, bool, error) {
	db, err := p.db()
	if err != nil {
		return Lease{}, false, err
	}
	var l Lease
	l.Name = name
	err = db.QueryRow(pgctx, "INSERT INTO "+pgSchema+".leases AS l (name, owner, expires) VALUES ($1, $2, now() + make_interval(secs => $3)) "+
		"ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires "+
		"WHERE l.owner = excluded.owner OR l.expires <= now() RETURNING owner, expires", name, owner, ttl.Seconds()).Scan(&l.Owner, &l.Expires)
	if err == nil {
		return l, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Lease{}, false, err
	}
	// Held by another: say by whom. It may have been released between the
	// two statements; then the caller tries again later, as it would have.
	err = db.QueryRow(pgctx, "SELECT owner, expires FROM "+pgSchema+".leases WHERE name = $1", name).Scan(&l.Owner, &l.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return Lease{Name: name}, false, nil
	}
	return l, false, err
}

func (p *pgBackend) release(name, owner string) error {
	db, err := p.db()
	if err != nil {
		return err
	}
	_, err = db.Exec(pgctx, "DELETE FROM "+pgSchema+".leases WHERE name = $1 AND owner = $2", name, owner)
	return err
}

func (p *pgBackend) renew(owner string, ttl time.Duration) (int, error) {
	if _, err := p.db(); err != nil {
		return 0, err
	}
	tag, err := p.lz.renewer.Exec(pgctx, "UPDATE "+pgSchema+".leases SET expires = now() + make_interval(secs => $2) WHERE owner = $1 AND expires > now()", owner, ttl.Seconds())
	return int(tag.RowsAffected()), err
}

func (p *pgBackend) leases(prefix string) ([]Lease, error) {
	db, err := p.db()
	if err != nil {
		return nil, err
	}
	rows, err := db.Query(pgctx, "SELECT name, owner, expires FROM "+pgSchema+".leases WHERE starts_with(name, $1) AND expires > now() ORDER BY name", prefix)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Lease, error) {
		var l Lease
		err := r.Scan(&l.Name, &l.Owner, &l.Expires)
		return l, err
	})
}

func (p *pgBackend) notify(topic, payload string) error {
	db, err := p.db()
	if err != nil {
		return err
	}
	_, err = db.Exec(pgctx, "SELECT pg_notify($1, $2)", pgNotifyChannel, topic+string(notifySep)+payload)
	return err
}

func (p *pgBackend) subscribe(ctx context.Context, topic string) (<-chan string, error) {
	p.lz.once.Do(func() {
		lctx, cancel := context.WithCancel(context.Background())
		p.lz.cancel, p.lz.done, p.lz.ready = cancel, make(chan struct{}), make(chan struct{})
		go p.listen(lctx)
	})
	ch := p.lz.hub.subscribe(ctx, topic)
	// What is notified from now on is heard: the first subscriber waits
	// for the LISTEN (bounded: a broken database is the listener's to
	// report).
	select {
	case <-p.lz.ready:
	case <-ctx.Done():
	case <-time.After(pgListenWait):
	}
	return ch, nil
}

// listen holds one connection in LISTEN until close, making it again
// when it breaks.
func (p *pgBackend) listen(ctx context.Context) {
	defer close(p.lz.done)
	for ctx.Err() == nil {
		err := p.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		p.log.Warn("PostgreSQL store: the notification listener broke; listening again", "store", p.url, "err", err, "in", pgListenRetry)
		select {
		case <-ctx.Done():
		case <-time.After(pgListenRetry):
		}
	}
}

func (p *pgBackend) listenOnce(ctx context.Context) error {
	db, err := p.db()
	if err != nil {
		return err
	}
	conn, err := db.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection's session holds the LISTEN: it never goes back to
	// the pool.
	c := conn.Hijack()
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, "LISTEN "+pgNotifyChannel); err != nil {
		return err
	}
	p.lz.readyOnce.Do(func() { close(p.lz.ready) })
	for {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		topic, payload, ok := strings.Cut(n.Payload, string(notifySep))
		if ok {
			p.lz.hub.publish(topic, payload)
		}
	}
}

// stopListening ends the listener, before the pool closes.
func (p *pgBackend) stopListening() {
	if p.lz.cancel != nil {
		p.lz.cancel()
		<-p.lz.done
	}
}
