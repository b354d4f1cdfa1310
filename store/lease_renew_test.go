package store

import (
	"errors"
	"testing"
	"time"
)

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
