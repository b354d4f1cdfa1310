//go:build !linux

package agent

import (
	"net"
	"testing"
)

// refusedAddr is a loopback port that was just closed: connecting is
// refused, as on a host where no LMS runs (unless a parallel test takes the
// port first; the Linux version holds it).
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
