package rcs_test

import (
	"bytes"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// TestIdleAgentHoldsNoHandler: an agent that stays connected costs the
// RCS its session's reader and writer, not the HTTP connection's goroutine
// blocked in the connect handler with its request and stack, nor a
// keepalive goroutine (what a fleet of idle agents multiplies). The agents
// run in this process too: theirs are the only keepalives.
func TestIdleAgentHoldsNoHandler(t *testing.T) {
	e := newEnv(t, nil)
	const agents = 3
	for i := range agents {
		next, _ := e.liveAgent(e.device("16.1.27", nil), "")
		if ev := next("activation"); ev.Kind != "done" {
			t.Fatalf("agent %d: %+v", i, ev)
		}
	}
	var handlers, keepalives int
	deadline := time.Now().Add(30 * time.Second)
	for {
		var b bytes.Buffer
		if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
			t.Fatal(err)
		}
		handlers, keepalives = 0, 0
		// A frame is "pkg.(*gateway).name(args)"; "created by" lines name
		// the creator without the parenthesis.
		for g := range strings.SplitSeq(b.String(), "\n\n") {
			if strings.Contains(g, "(*gateway).handleConnect(") {
				handlers++
			}
			if strings.Contains(g, "(*Session).keepalive(") {
				keepalives++
			}
		}
		if (handlers == 0 && keepalives == agents) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if handlers != 0 || keepalives != agents {
		t.Fatalf("%d goroutines in the connect handler, %d yamux keepalives, for %d idle agents: want 0, and %d (the agents')", handlers, keepalives, agents, agents)
	}
}
