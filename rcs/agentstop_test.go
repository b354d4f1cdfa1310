package rcs_test

import (
	"context"
	"crypto/tls"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
)

// What reconnecting cannot cure ends the agent with its fix, without
// waiting: an RCS certificate it does not trust, a spent token, a device
// the RCS refuses. Each agent here would otherwise retry every few
// milliseconds until the test's context ends; the error returned says
// which way it went.
func TestAgentStopsOnPermanentFailures(t *testing.T) {
	e := newEnv(t, nil)
	spent := e.enrollToken()
	first := e.device("16.1.27", nil)
	if _, err := e.runAgent(first, agent.Options{EnrollToken: spent, TLS: e.tlsCfg}); err != nil {
		t.Fatalf("first use of the token: %v", err)
	}
	tests := []struct {
		name string
		opts agent.Options
		want error
		fix  string
	}{
		{"untrusted RCS certificate", agent.Options{EnrollToken: e.enrollToken(), TLS: &tls.Config{RootCAs: nil, ServerName: "rcs.invalid"}}, agent.ErrPermanent, "--ca"},
		{"spent enrollment token", agent.Options{EnrollToken: spent, TLS: e.tlsCfg}, agent.ErrRejected, "token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd := e.device("16.1.27", nil)
			err := func() error { _, err := e.runAgent(sd, tt.opts); return err }()
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.fix) {
				t.Fatalf("Run = %v, want %v with the fix %q", err, tt.want, tt.fix)
			}
			if st, _ := sd.State(); st != amt.PreProvisioning {
				t.Errorf("device %s after a refused agent", st)
			}
		})
	}
}

// runAgent runs an agent of sd with opts (server, backend and names
// filled in) once, bounded by a correctness limit, never a timing claim.
func (e *env) runAgent(sd *amtsim.Device, opts agent.Options) ([]wire.Event, error) {
	e.t.Helper()
	host := "pc-" + sd.ID().String()[:8]
	var evs []wire.Event
	opts.Server = "https://" + e.srv.Addr("agent_gateway").String()
	opts.StateFile = filepath.Join(e.dir, "agent-"+sd.ID().String()+".json")
	opts.Hostname, opts.FQDN = host, host+"."+testSuffix
	opts.Backend = agent.OnDevice(host, sd)
	opts.Events = func(ev wire.Event) { evs = append(evs, ev) }
	opts.Logger, opts.Once = testLogger(), true
	opts.MinBackoff, opts.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	a, err := agent.New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = a.Run(ctx)
	if ctx.Err() != nil {
		return evs, errors.New("the agent ran until the test's limit: it retried what it should have given up")
	}
	return evs, err
}
