package rcs

import (
	"net"
	"testing"
	"time"
)

func TestAgentLink(t *testing.T) {
	for _, tc := range []struct {
		name        string
		closeFirst  bool
		wantRunsNow bool
	}{
		{"registered, then closed", false, false},
		{"closed before it was registered", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer b.Close()
			start := time.Now().Add(-time.Hour)
			l := newAgentLink(a, start)
			go func() { _, _ = b.Write([]byte("ping")) }()
			if _, err := l.Read(make([]byte, 4)); err != nil {
				t.Fatal(err)
			}
			if !l.lastRead().After(start) {
				t.Errorf("last read %s, not after the link's start %s", l.lastRead(), start)
			}
			runs := 0
			if tc.closeFirst {
				l.Close()
			}
			l.whenClosed(func() { runs++ })
			if (runs == 1) != tc.wantRunsNow {
				t.Fatalf("ran %d times at registration, want it to run then: %v", runs, tc.wantRunsNow)
			}
			l.Close()
			l.Close()
			if runs != 1 {
				t.Fatalf("the close function ran %d times, want once", runs)
			}
		})
	}
}
