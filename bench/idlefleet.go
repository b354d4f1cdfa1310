package bench

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amtsim"
)

// fleetCmd is the parent's request to the fleet child of an idle run.
type fleetCmd struct {
	Cmd string `json:"cmd"` // "restart": count reconnections from now
}

// reconnect is the fleet's count of agents back since the last restart.
type reconnect struct {
	Connected int   `json:"connected"`
	Refused   int64 `json:"refused"`
	Failed    int64 `json:"failed"`
	Done      bool  `json:"done,omitempty"`
	// Errors are the first few distinct errors of the failed attempts.
	Errors []string `json:"errors,omitempty"`
	// Each agent's time from the restart to its first event from the new
	// server, percentiles (set when Done).
	P50 time.Duration `json:"p50,omitempty"`
	P95 time.Duration `json:"p95,omitempty"`
	Max time.Duration `json:"max,omitempty"`
}

// idleFleet is the fleet child's count of connections across restarts.
type idleFleet struct {
	f     *fleet
	epoch atomic.Int64 // restarts so far

	mu        sync.Mutex
	restartAt time.Time
	back      []time.Duration
	done      bool
	errs      []string
	refused   atomic.Int64
	failed    atomic.Int64
}

// runIdle runs every agent without Once: each activates its device (at
// most Concurrency at once), then stays connected. After the parent's
// "restart" it counts the agents back and reports, once a second and when
// all are.
func (f *fleet) runIdle(ctx context.Context, dec *json.Decoder) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := raiseNoFile(); err != nil {
		return err
	}
	idle := &idleFleet{f: f}
	go func() {
		defer cancel()
		for {
			var c fleetCmd
			if err := dec.Decode(&c); err != nil {
				return // the parent is done
			}
			if c.Cmd == "restart" {
				idle.restart()
			}
		}
	}()
	go idle.progress(ctx)
	cpu0 := processCPU()
	sem := make(chan struct{}, f.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, d := range f.devs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() { idle.runAgent(ctx, i, d, sem) })
	}
	wg.Wait()
	return f.send(fleetMsg{Kind: msgEnd, End: &fleetEnd{CPU: processCPU() - cpu0, PeakRSS: peakRSS()}})
}

// runAgent runs device i's agent until ctx ends. Its first final event
// (the activation's end) frees its place in sem and is reported as the
// device's outcome; each later one after a restart counts it back.
func (idle *idleFleet) runAgent(ctx context.Context, i int, d *amtsim.Device, sem <-chan struct{}) {
	f := idle.f
	r := fleetDevice{Index: i, UUID: d.ID().String(), Start: time.Now()}
	var first sync.Once
	report := func(errText string) {
		first.Do(func() {
			<-sem
			r.Latency, r.Error = time.Since(r.Start), errText
			_ = f.send(fleetMsg{Kind: msgDevice, Device: &r})
		})
	}
	var seen atomic.Int64 // the restart epoch of its last final event
	ag, err := agent.New(agent.Options{Server: f.srv.Gateway, EnrollToken: f.srv.Tokens[i+1], Hostname: "pc-" + r.UUID[:8], FQDN: "pc-" + r.UUID[:8] + "." + f.suffix,
		Backend: &agent.InProcess{Label: r.UUID, Host: d.Host(), Mng: d.Manageability(),
			Dial: func(ctx context.Context, port int) (net.Conn, error) { return d.DialLMS(ctx, port) }},
		TLS: f.tlsCfg,
		Events: func(ev wire.Event) {
			if !ev.Final() {
				return
			}
			if e := idle.epoch.Load(); seen.Swap(e) != e {
				idle.back1()
			}
			if ev.Kind == wire.EventFailed {
				report(ev.Error)
			} else {
				report("")
			}
		},
		Retrying: func(err error) {
			if errors.Is(err, syscall.ECONNREFUSED) {
				idle.refused.Add(1)
			} else {
				idle.failed.Add(1)
				idle.sample(err)
			}
		}})
	if err != nil {
		report(err.Error())
		return
	}
	if err := ag.Run(ctx); err != nil && ctx.Err() == nil {
		report(withDeviceError(err, d).Error())
	}
}

// maxErrors bounds the distinct errors a reconnection report quotes.
const maxErrors = 5

// sample keeps err's text if it is new and there is room.
func (idle *idleFleet) sample(err error) {
	idle.mu.Lock()
	defer idle.mu.Unlock()
	msg := err.Error()
	if len(idle.errs) >= maxErrors || slices.Contains(idle.errs, msg) {
		return
	}
	idle.errs = append(idle.errs, msg)
}

func (idle *idleFleet) restart() {
	idle.mu.Lock()
	idle.epoch.Add(1)
	idle.restartAt, idle.back, idle.done, idle.errs = time.Now(), nil, false, nil
	idle.refused.Store(0)
	idle.failed.Store(0)
	idle.mu.Unlock()
	_ = idle.f.send(fleetMsg{Kind: msgRestarting})
}

// back1 counts one agent back since the restart, and reports when all
// are.
func (idle *idleFleet) back1() {
	idle.mu.Lock()
	defer idle.mu.Unlock()
	if idle.restartAt.IsZero() {
		return // the first connection, before any restart
	}
	idle.back = append(idle.back, time.Since(idle.restartAt))
	if len(idle.back) == len(idle.f.devs) && !idle.done {
		idle.done = true
		_ = idle.f.send(fleetMsg{Kind: msgReconnect, Reconnect: idle.countLocked()})
	}
}

func (idle *idleFleet) countLocked() *reconnect {
	r := &reconnect{Connected: len(idle.back), Refused: idle.refused.Load(), Failed: idle.failed.Load(), Done: idle.done, Errors: slices.Clone(idle.errs)}
	if idle.done {
		b := append([]time.Duration(nil), idle.back...)
		sortDurations(b)
		r.P50, r.P95, r.Max = percentile(b, 50), percentile(b, 95), b[len(b)-1]
	}
	return r
}

// progress reports the count once a second between a restart and the
// last agent back.
func (idle *idleFleet) progress(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		idle.mu.Lock()
		var r *reconnect
		if !idle.restartAt.IsZero() && !idle.done {
			r = idle.countLocked()
		}
		idle.mu.Unlock()
		if r != nil {
			_ = idle.f.send(fleetMsg{Kind: msgReconnect, Reconnect: r})
		}
	}
}
