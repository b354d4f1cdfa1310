package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Several servers may share one store (PostgreSQL). A lease is how one of
// them holds a thing for a while: a device's job slot, so that one job at
// a time runs on a device across the fleet, or a device's agent
// connection, so that a request made on one server reaches the server the
// agent is connected to. A lease expires unless its owner renews it, so
// the things of a server that died are free again after the lease's time
// to live; a server that stops cleanly releases them at once.
//
// Notifications wake the servers when something they wait for happens (a
// lease released, a job requested for a device whose agent one of them
// holds) instead of each polling the store.
//
// On bbolt the file has one server, so leases and notifications live in
// its memory, with the same semantics.

// Lease is one server's hold on a named thing until Expires.
type Lease struct {
	Name    string    `json:"name"`
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
}

// LeaseHeldError is Claim's answer when another server holds the lease.
type LeaseHeldError struct{ Held Lease }

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("%s is held by server %s until %s", e.Held.Name, e.Held.Owner, e.Held.Expires.UTC().Format(time.RFC3339Nano))
}

// ErrLeaseHeld is wrapped by every LeaseHeldError.
var ErrLeaseHeld = errors.New("lease held by another server")

func (e *LeaseHeldError) Unwrap() error { return ErrLeaseHeld }

// leaser is what a backend gives for leases and notifications.
type leaser interface {
	// claim takes name for owner until ttl from now, or renews it when
	// owner holds it; it returns the lease now in force, which is
	// another's when ok is false.
	claim(name, owner string, ttl time.Duration) (l Lease, ok bool, err error)
	release(name, owner string) error
	// renew extends every unexpired lease of owner to ttl from now.
	renew(owner string, ttl time.Duration) (int, error)
	// leases lists the unexpired leases whose names start with prefix.
	leases(prefix string) ([]Lease, error)
	notify(topic, payload string) error
	// subscribe delivers the payloads of topic until ctx ends.
	subscribe(ctx context.Context, topic string) (<-chan string, error)
}

// checkLease refuses what no backend could store.
func checkLease(name, owner string, ttl time.Duration) error {
	if name == "" || owner == "" || !textID(name) || !textID(owner) {
		return fmt.Errorf("lease %q for %q: want a non-empty UTF-8 name and owner", name, owner)
	}
	if ttl <= 0 {
		return fmt.Errorf("lease %s: time to live %s, want a positive duration", name, ttl)
	}
	return nil
}

// Claim takes the lease name for owner for ttl, or renews it when owner
// holds it already. When another owner holds it and it has not expired,
// the error is a *LeaseHeldError naming the holder and its expiry.
func (s *Store) Claim(name, owner string, ttl time.Duration) (Lease, error) {
	if err := checkLease(name, owner, ttl); err != nil {
		return Lease{}, err
	}
	l, ok, err := s.be.claim(name, owner, ttl)
	if err != nil {
		return Lease{}, fmt.Errorf("claim %s: %w", name, err)
	}
	if !ok {
		return l, &LeaseHeldError{Held: l}
	}
	return l, nil
}

// Release gives up owner's lease on name; a lease owner does not hold (it
// expired and another took it) is left alone.
func (s *Store) Release(name, owner string) error {
	if err := s.be.release(name, owner); err != nil {
		return fmt.Errorf("release %s: %w", name, err)
	}
	return nil
}

// Renew extends every unexpired lease owner holds to ttl from now, and
// says how many it holds. A lease that expired meanwhile is not renewed:
// another server may have taken it.
func (s *Store) Renew(owner string, ttl time.Duration) (int, error) {
	if err := checkLease("renew", owner, ttl); err != nil {
		return 0, err
	}
	n, err := s.be.renew(owner, ttl)
	if err != nil {
		return 0, fmt.Errorf("renew the leases of %s: %w", owner, err)
	}
	return n, nil
}

// Leases lists the unexpired leases whose names start with prefix, by
// name.
func (s *Store) Leases(prefix string) ([]Lease, error) {
	return s.be.leases(prefix)
}

// Notify tells every server sharing the store (this one included) that
// something happened on topic. Delivery is at most once and only to those
// listening: a listener must also look at the store when it starts.
func (s *Store) Notify(topic, payload string) error {
	if strings.ContainsRune(topic, notifySep) || topic == "" {
		return fmt.Errorf("notify: topic %q: want a non-empty name without %q", topic, notifySep)
	}
	return s.be.notify(topic, payload)
}

// Listen delivers the payloads notified on topic until ctx ends. A slow
// reader loses notifications rather than holding the others up, so a
// payload is a hint to look at the store, never the only record.
func (s *Store) Listen(ctx context.Context, topic string) (<-chan string, error) {
	return s.be.subscribe(ctx, topic)
}

// notifySep separates a notification's topic from its payload on the
// wire of a backend that has one channel.
const notifySep = '\x1f'

// hub fans notifications out to the subscribers of this process.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[chan string]struct{}
}

// hubBuffer is how many notifications a subscriber may have unread.
const hubBuffer = 256

func (h *hub) subscribe(ctx context.Context, topic string) <-chan string {
	ch := make(chan string, hubBuffer)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[string]map[chan string]struct{}{}
	}
	if h.subs[topic] == nil {
		h.subs[topic] = map[chan string]struct{}{}
	}
	h.subs[topic][ch] = struct{}{}
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		delete(h.subs[topic], ch)
		h.mu.Unlock()
		close(ch)
	}()
	return ch
}

func (h *hub) publish(topic, payload string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[topic] {
		select {
		case ch <- payload:
		default: // full: the reader looks at the store anyway
		}
	}
}

// memLeases are bbolt's leases: the file has one server, so they live in
// its memory.
type memLeases struct {
	mu  sync.Mutex
	m   map[string]Lease
	hub hub
	now func() time.Time
}

func (m *memLeases) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

func (m *memLeases) claim(name, owner string, ttl time.Duration) (Lease, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	if l, ok := m.m[name]; ok && l.Owner != owner && now.Before(l.Expires) {
		return l, false, nil
	}
	if m.m == nil {
		m.m = map[string]Lease{}
	}
	l := Lease{Name: name, Owner: owner, Expires: now.Add(ttl)}
	m.m[name] = l
	return l, true, nil
}

func (m *memLeases) release(name, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.m[name]; ok && l.Owner == owner {
		delete(m.m, name)
	}
	return nil
}

func (m *memLeases) renew(owner string, ttl time.Duration) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now, n := m.clock(), 0
	for name, l := range m.m {
		if l.Owner == owner && now.Before(l.Expires) {
			l.Expires = now.Add(ttl)
			m.m[name] = l
			n++
		}
	}
	return n, nil
}

func (m *memLeases) leases(prefix string) ([]Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	var out []Lease
	for name, l := range m.m {
		if strings.HasPrefix(name, prefix) && now.Before(l.Expires) {
			out = append(out, l)
		}
	}
	sortLeases(out)
	return out, nil
}

func (m *memLeases) notify(topic, payload string) error {
	m.hub.publish(topic, payload)
	return nil
}

func (m *memLeases) subscribe(ctx context.Context, topic string) (<-chan string, error) {
	return m.hub.subscribe(ctx, topic), nil
}

func sortLeases(ls []Lease) {
	slices.SortFunc(ls, func(a, b Lease) int { return strings.Compare(a.Name, b.Name) })
}
