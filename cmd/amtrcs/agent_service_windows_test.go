//go:build windows

package main

import (
	"context"
	"errors"
	"testing"

	"golang.org/x/sys/windows/svc"
)

// The handler is plain Go over channels: the service control manager
// played by the test.
func TestAgentServiceStops(t *testing.T) {
	started := make(chan struct{})
	h := &agentService{run: func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return nil
	}}
	req := make(chan svc.ChangeRequest)
	status := make(chan svc.Status, 8)
	type result struct {
		specific bool
		code     uint32
	}
	done := make(chan result)
	go func() { s, c := h.Execute(nil, req, status); done <- result{s, c} }()
	<-started
	req <- svc.ChangeRequest{Cmd: svc.Stop}
	if r := <-done; r.specific || r.code != 0 {
		t.Fatalf("stop: exit %+v, want 0", r)
	}
	var states []svc.State
	for len(status) > 0 {
		states = append(states, (<-status).State)
	}
	want := []svc.State{svc.StartPending, svc.Running, svc.StopPending}
	if len(states) != len(want) {
		t.Fatalf("states %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("states %v, want %v", states, want)
		}
	}
}

func TestAgentServiceFailure(t *testing.T) {
	h := &agentService{run: func(context.Context) error { return errors.New("no HECI device") }}
	status := make(chan svc.Status, 8)
	if specific, code := h.Execute(nil, make(chan svc.ChangeRequest), status); !specific || code != 1 || h.err == nil {
		t.Fatalf("failure: %v %d %v, want a service-specific exit 1 so that the recovery actions run", specific, code, h.err)
	}
}
