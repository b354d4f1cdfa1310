package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestLeaseContract: a lease is held by one owner at a time, renewed and
// released by that owner only, and free again once it expired; on
// PostgreSQL two stores on one database (two servers) see each other's
// leases.
func TestLeaseContract(t *testing.T) {
	forBackends(t, func(t *testing.T, b backendCase) {
		place := b.place(t)
		a := b.openTest(t, place)
		defer a.Close()
		other := a
		if b.name == "postgres" {
			other = b.openTest(t, place)
			defer other.Close()
		}
		const ttl = time.Hour
		if _, err := a.Claim("device:1", "srv-a", ttl); err != nil {
			t.Fatalf("first claim: %v", err)
		}
		if _, err := a.Claim("device:1", "srv-a", ttl); err != nil {
			t.Fatalf("the holder's second claim (a renewal): %v", err)
		}
		_, err := other.Claim("device:1", "srv-b", ttl)
		var held *LeaseHeldError
		if !errors.As(err, &held) || !errors.Is(err, ErrLeaseHeld) || held.Held.Owner != "srv-a" || held.Held.Expires.IsZero() {
			t.Fatalf("claim of a held lease = %v, want a LeaseHeldError naming srv-a and its expiry", err)
		}
		if err := other.Release("device:1", "srv-b"); err != nil {
			t.Fatal(err)
		}
		if ls, _ := a.Leases("device:"); len(ls) != 1 || ls[0].Owner != "srv-a" {
			t.Fatalf("after a release by a non-holder, leases = %+v, want srv-a's still", ls)
		}
		if n, err := a.Renew("srv-a", ttl); err != nil || n != 1 {
			t.Fatalf("renew = %d, %v; want 1 lease renewed", n, err)
		}
		if err := a.Release("device:1", "srv-a"); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Claim("device:1", "srv-b", ttl); err != nil {
			t.Fatalf("claim after release: %v", err)
		}
		// An expired lease is free, and not renewed by its old owner.
		if _, err := a.Claim("device:2", "srv-a", 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			_, err := other.Claim("device:2", "srv-b", ttl)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrLeaseHeld) || time.Now().After(deadline) {
				t.Fatalf("claim of an expired lease: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n, _ := a.Renew("srv-a", ttl); n != 0 {
			t.Errorf("srv-a renewed %d leases after losing its only one, want 0", n)
		}
		ls, err := a.Leases("device:")
		if err != nil || len(ls) != 2 || ls[0].Name != "device:1" || ls[1].Owner != "srv-b" {
			t.Fatalf("leases = %+v, %v; want device:1 and device:2, both srv-b's", ls, err)
		}
		if _, err := a.Claim("", "srv-a", ttl); err == nil {
			t.Error("a lease without a name was claimed")
		}
	})
}

// TestLeaseOneWinner: many servers claim one lease at once; exactly one
// gets it.
func TestLeaseOneWinner(t *testing.T) {
	forBackends(t, func(t *testing.T, b backendCase) {
		place := b.place(t)
		stores := []*Store{b.openTest(t, place)}
		if b.name == "postgres" {
			stores = append(stores, b.openTest(t, place), b.openTest(t, place))
		}
		defer func() {
			for _, s := range stores {
				s.Close()
			}
		}()
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := range 24 {
			wg.Go(func() {
				_, err := stores[i%len(stores)].Claim("device:x", "srv-"+string(rune('a'+i)), time.Hour)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case !errors.Is(err, ErrLeaseHeld):
					t.Errorf("claim: %v", err)
				}
			})
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d owners won one lease, want 1", won)
		}
	})
}

// TestNotify: a notification reaches the listeners of its topic on every
// store of the database, and not those of another topic.
func TestNotify(t *testing.T) {
	forBackends(t, func(t *testing.T, b backendCase) {
		place := b.place(t)
		a := b.openTest(t, place)
		defer a.Close()
		other := a
		if b.name == "postgres" {
			other = b.openTest(t, place)
			defer other.Close()
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		got, err := other.Listen(ctx, "lease")
		if err != nil {
			t.Fatal(err)
		}
		wrong, err := other.Listen(ctx, "job")
		if err != nil {
			t.Fatal(err)
		}
		// LISTEN starts asynchronously: notify until one arrives.
		deadline := time.After(time.Minute)
		for {
			if err := a.Notify("lease", "device:1"); err != nil {
				t.Fatal(err)
			}
			select {
			case p := <-got:
				if p != "device:1" {
					t.Fatalf("payload %q, want device:1", p)
				}
			case <-time.After(100 * time.Millisecond):
				continue
			case <-deadline:
				t.Fatal("no notification arrived")
			}
			break
		}
		select {
		case p := <-wrong:
			t.Fatalf("the job topic got %q, notified on lease", p)
		default:
		}
		if err := a.Notify("bad\x1ftopic", "x"); err == nil {
			t.Error("a topic holding the separator was accepted")
		}
	})
}

// TestLeaseRenewKeepsIt: a lease renewed more often than its time to live
// stays its owner's past that time.
func TestLeaseRenewKeepsIt(t *testing.T) {
	forBackends(t, func(t *testing.T, b backendCase) {
		place := b.place(t)
		a := b.openTest(t, place)
		defer a.Close()
		other := a
		if b.name == "postgres" {
			other = b.openTest(t, place)
			defer other.Close()
		}
		const ttl = 600 * time.Millisecond
		if _, err := a.Claim("device:1", "srv-a", ttl); err != nil {
			t.Fatal(err)
		}
		end := time.Now().Add(3 * ttl)
		for time.Now().Before(end) {
			time.Sleep(ttl / 4)
			if n, err := a.Renew("srv-a", ttl); err != nil || n != 1 {
				t.Fatalf("renew = %d, %v", n, err)
			}
			if _, err := other.Claim("device:1", "srv-b", ttl); !errors.Is(err, ErrLeaseHeld) {
				t.Fatalf("a renewed lease was taken: %v", err)
			}
		}
	})
}
