package rcs

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestAdmission: with one slot, the second connection is accepted only
// once the first has been served (or closed), and closing the listener
// wakes an Accept that waits for a slot.
func TestAdmission(t *testing.T) {
	for _, tc := range []struct {
		name string
		free func(c net.Conn)
	}{
		{"first request hijacked", func(c net.Conn) { releaseAdmitted(c, http.StateHijacked) }},
		{"first request answered, connection idle", func(c net.Conn) { releaseAdmitted(c, http.StateIdle) }},
		{"connection closed", func(c net.Conn) { c.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln := newAdmission(1).listener(raw)
			defer ln.Close()
			for range 2 {
				c, err := net.Dial("tcp", raw.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}
			first, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					accepted <- c
				}
			}()
			// Still being set up: holds the one slot. An active request
			// does not free it either.
			releaseAdmitted(first, http.StateActive)
			select {
			case <-accepted:
				t.Fatal("a second connection was accepted while the first held the only slot")
			case <-time.After(100 * time.Millisecond):
			}
			tc.free(first)
			select {
			case c := <-accepted:
				c.Close()
			case <-time.After(10 * time.Second):
				t.Fatal("the freed slot did not admit the waiting connection")
			}
		})
	}
	t.Run("listener closed while Accept waits for a slot", func(t *testing.T) {
		raw, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := newAdmission(1)
		a.slots <- struct{}{} // taken
		ln := a.listener(raw)
		done := make(chan error, 1)
		go func() { _, err := ln.Accept(); done <- err }()
		ln.Close()
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Accept still waits after the listener closed")
		}
	})
}
