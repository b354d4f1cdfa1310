package rcs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

// enrolled is an agent credential bought with a fresh enrollment token.
func (e *env) enrolled(hostname string) wire.EnrollResponse {
	e.t.Helper()
	var enr wire.EnrollResponse
	if code := e.call("POST", wire.EnrollPath, "", wire.EnrollRequest{Token: e.enrollToken(), Hostname: hostname}, &enr); code != http.StatusOK || enr.Credential == "" {
		e.t.Fatalf("enroll: %d", code)
	}
	return enr
}

// runAs runs an agent with credential cred that relays sd until its first
// final event; profile is what it asks for.
func (e *env) runAs(cred string, sd *amtsim.Device, profile string) ([]wire.Event, error) {
	e.t.Helper()
	host := fmt.Sprintf("pc-%s", sd.ID().String()[:8])
	var evs []wire.Event
	a, err := agent.New(agent.Options{
		Server: "https://" + e.srv.Addr("agent_gateway").String(), Credential: cred, Profile: profile,
		Hostname: host, FQDN: host + "." + testSuffix, Backend: agent.OnDevice(host, sd), TLS: e.tlsCfg,
		Events: func(ev wire.Event) { evs = append(evs, ev) }, Logger: testLogger(), Once: true,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = a.Run(ctx)
	return evs, err
}

// forgery is a device that answers on the host interface with victim's
// UUID: what an agent that relays one PC and reports another's UUID
// makes the RCS see.
func (e *env) forgery(victim *amtsim.Device, version string) *amtsim.Device {
	return e.device(version, func(c *amtsim.Config) { c.UUID = victim.ID() })
}

// TestStoredPasswordNeverReplacedBlind: the device's own agent credential,
// relaying another PC that reports the provisioned device's UUID, neither
// activates that PC nor changes the stored password.
func TestStoredPasswordNeverReplacedBlind(t *testing.T) {
	e := newEnv(t, nil)
	for _, version := range []string{"16.1.27", "19.0.5"} {
		t.Run("AMT "+version, func(t *testing.T) {
			x := e.device(version, nil)
			enr := e.enrolled("pc-x")
			if evs, err := e.runAs(enr.Credential, x, ""); err != nil {
				t.Fatalf("activate X: %v %+v", err, evs)
			}
			id := x.ID().String()
			before := e.password(id)

			y := e.forgery(x, version)
			evs, err := e.runAs(enr.Credential, y, "")
			var je *agent.JobError
			if !errors.As(err, &je) {
				t.Fatalf("forged report: %v %+v, want a failed job", err, evs)
			}
			if !strings.Contains(je.Event.Error, provisioning.RuleStoredPassword) || !strings.Contains(je.Event.Fix, "forget") {
				t.Fatalf("refusal %+v does not name the rule and the fix", je.Event)
			}
			if st, _ := y.State(); st != amt.PreProvisioning {
				t.Fatalf("the relayed PC was activated: %s", st)
			}
			if after := e.password(id); after != before {
				t.Fatal("the stored password of X changed")
			}
			if err := authenticates(x, before); err != nil {
				t.Fatalf("X no longer opens with its stored password: %v", err)
			}
			var audit []store.Event
			e.call("GET", "/api/v1/audit?subject="+id+"&action=provision.activate", e.token, nil, &audit)
			if len(audit) == 0 || audit[0].Outcome != store.OutcomeDenied {
				t.Fatalf("refusal not audited: %+v", audit)
			}
			// The fix: once an admin forgets the record (after checking in
			// MEBx that the PC was unprovisioned), the device activates.
			var d rcs.DeviceRecord
			if code := e.call("POST", "/api/v1/devices/"+id+"/forget", e.token, nil, &d); code != http.StatusOK || d.State != rcs.StateDiscovered {
				t.Fatalf("forget: %d %+v", code, d)
			}
			if code := e.call("GET", "/api/v1/devices/"+id+"/password", e.token, nil, nil); code != http.StatusNotFound {
				t.Fatalf("password after forget: %d", code)
			}
			if evs, err := e.runAs(enr.Credential, y, ""); err != nil {
				t.Fatalf("activate after forget: %v %+v", err, evs)
			}
		})
	}
}

// agents lists the enrolled agents by id.
func (e *env) agents() map[string]rcs.AgentInfo {
	e.t.Helper()
	var as []rcs.AgentInfo
	if code := e.call("GET", "/api/v1/agents", e.token, nil, &as); code != http.StatusOK {
		e.t.Fatalf("agents: %d", code)
	}
	out := map[string]rcs.AgentInfo{}
	for _, a := range as {
		out[a.ID] = a
	}
	return out
}

// TestAgentSpeaksForItsDevice: a credential is bound to the device of its
// first report; a report for another device, or from a second credential
// for a bound device, is refused (403, audited, in the agents list) and
// nothing runs; an admin moves the binding.
func TestAgentSpeaksForItsDevice(t *testing.T) {
	e := newEnv(t, nil)
	x, z := e.device("16.1.27", nil), e.device("16.1.27", nil)
	a, b := e.enrolled("pc-x"), e.enrolled("pc-z")
	for _, run := range []struct {
		cred string
		sd   *amtsim.Device
	}{{a.Credential, x}, {b.Credential, z}} {
		if evs, err := e.runAs(run.cred, run.sd, ""); err != nil {
			t.Fatalf("activate %s: %v %+v", run.sd.ID(), err, evs)
		}
	}
	id := x.ID().String()
	before := e.password(id)
	c := e.enrolled("pc-new")
	tests := []struct {
		name, cred, agentID, rule string
	}{
		{"bound agent reports another device", b.Credential, b.AgentID, rcs.RuleAgentBinding},
		{"new agent reports a bound device", c.Credential, c.AgentID, rcs.RuleDeviceBinding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := e.forgery(x, "16.1.27")
			evs, err := e.runAs(tt.cred, y, "")
			if !errors.Is(err, agent.ErrRejected) || !strings.Contains(err.Error(), tt.rule) || !strings.Contains(err.Error(), "rebind") {
				t.Fatalf("forged report: %v %+v, want a rejection naming %q and the fix", err, evs, tt.rule)
			}
			if st, _ := y.State(); st != amt.PreProvisioning {
				t.Fatalf("the relayed PC was activated: %s", st)
			}
			if got := e.agents()[tt.agentID]; !strings.Contains(got.Refused, id) || got.RefusedAt.IsZero() {
				t.Fatalf("agents list does not show the refusal: %+v", got)
			}
		})
	}
	if after := e.password(id); after != before {
		t.Fatal("the stored password of X changed")
	}
	var audit []store.Event
	e.call("GET", "/api/v1/audit?subject="+id+"&action=agent.report", e.token, nil, &audit)
	if len(audit) != 2 || audit[0].Outcome != store.OutcomeDenied || audit[1].Outcome != store.OutcomeDenied {
		t.Fatalf("refusals not audited: %+v", audit)
	}
	if got := e.agents()[a.AgentID]; got.Device != id || got.BoundHostname != "pc-"+id[:8] {
		t.Fatalf("agent of X: %+v", got)
	}

	// The PC of X enrolled again: the admin moves X to the new agent, and
	// the old credential no longer speaks for it.
	var moved rcs.AgentInfo
	if code := e.call("POST", "/api/v1/agents/"+c.AgentID+"/rebind", e.token, map[string]string{"device": id}, &moved); code != http.StatusOK || moved.Device != id || moved.Refused != "" {
		t.Fatalf("rebind: %d %+v", code, moved)
	}
	if got := e.agents()[a.AgentID]; got.Device != "" {
		t.Fatalf("the old agent still speaks for X: %+v", got)
	}
	if evs, err := e.runAs(c.Credential, x, ""); err != nil || evs[len(evs)-1].Kind != wire.EventIdle {
		t.Fatalf("the moved agent on X: %v %+v", err, evs)
	}
	if _, err := e.runAs(a.Credential, x, ""); !errors.Is(err, agent.ErrRejected) {
		t.Fatalf("the old agent on X: %v, want a rejection", err)
	}
	var ae rcs.APIError
	if code := e.call("POST", "/api/v1/agents/"+c.AgentID+"/rebind", e.token, map[string]string{"device": "not-a-uuid"}, &ae); code != http.StatusBadRequest || ae.Fix == "" {
		t.Fatalf("rebind to garbage: %d %+v", code, ae)
	}
}

// TestRevocation: a revoked agent is disconnected at once and cannot
// reconnect; a revoked enrollment token buys no agent.
func TestRevocation(t *testing.T) {
	e := newEnv(t, nil)
	x := e.device("16.1.27", nil)
	enr := e.enrolled("pc-x")
	host := "pc-x"
	ag, err := agent.New(agent.Options{
		Server: "https://" + e.srv.Addr("agent_gateway").String(), Credential: enr.Credential,
		Hostname: host, FQDN: host + "." + testSuffix, Backend: agent.OnDevice(host, x), TLS: e.tlsCfg,
		Logger: testLogger(), MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ag.Run(ctx) }()
	e.waitDevice(x.ID().String(), func(d rcs.DeviceRecord) bool { return d.Connected && d.State == rcs.StateProvisioned })

	var got rcs.AgentInfo
	if code := e.call("POST", "/api/v1/agents/"+enr.AgentID+"/revoke", e.token, nil, &got); code != http.StatusOK || !got.Revoked {
		t.Fatalf("revoke: %d %+v", code, got)
	}
	// Run returns only when the live session ended and the reconnection
	// was refused.
	if err := <-done; !errors.Is(err, agent.ErrRejected) {
		t.Fatalf("revoked agent: %v, want a rejection", err)
	}
	if d := e.waitDevice(x.ID().String(), func(d rcs.DeviceRecord) bool { return !d.Connected }); d.Connected {
		t.Fatal("still connected")
	}
	var audit []store.Event
	e.call("GET", "/api/v1/audit?subject="+enr.AgentID+"&action=agent.revoke", e.token, nil, &audit)
	if len(audit) != 1 {
		t.Fatalf("revocation audit %+v", audit)
	}

	var tok rcs.EnrollToken
	if code := e.call("POST", "/api/v1/agents/tokens", e.token, nil, &tok); code != http.StatusCreated {
		t.Fatalf("token: %d", code)
	}
	if code := e.call("POST", "/api/v1/agents/tokens/"+tok.ID+"/revoke", e.token, nil, nil); code != http.StatusNoContent {
		t.Fatalf("revoke token: %d", code)
	}
	var ae rcs.APIError
	if code := e.call("POST", wire.EnrollPath, "", wire.EnrollRequest{Token: tok.Token, Hostname: "pc"}, &ae); code != http.StatusUnauthorized || !strings.Contains(ae.Message, "revoked") {
		t.Fatalf("enroll with a revoked token: %d %+v", code, ae)
	}
	var ts []rcs.EnrollTokenInfo
	e.call("GET", "/api/v1/agents/tokens", e.token, nil, &ts)
	found := false
	for _, ti := range ts {
		found = found || (ti.ID == tok.ID && !ti.Revoked.IsZero())
	}
	if !found {
		t.Fatalf("token list %+v does not show the revocation", ts)
	}
}

// TestServerChoosesProfile: an agent's --profile is honoured only when the
// device's domain allows it; the admin allows it in the domain.
func TestServerChoosesProfile(t *testing.T) {
	e := newEnv(t, nil)
	lab := map[string]any{"name": "lab", "mode": "ccm", "admin_password": "random", "mebx_password": "random", "user_consent": "all", "network": map[string]bool{"dhcp": true, "sync_from_host": true}}
	if code := e.call("POST", "/api/v1/profiles", e.token, lab, nil); code != http.StatusCreated {
		t.Fatalf("create profile: %d", code)
	}
	sd := e.device("16.1.27", nil)
	enr := e.enrolled("pc-1")
	_, err := e.runAs(enr.Credential, sd, "lab")
	var je *agent.JobError
	if !errors.As(err, &je) || !strings.Contains(je.Event.Error, rcs.RuleProfileChoice) || !strings.Contains(je.Event.Error, `"lab"`) || !strings.Contains(je.Event.Fix, "allowed_profiles") {
		t.Fatalf("agent asking for a profile its domain does not allow: %v", err)
	}
	if st, _ := sd.State(); st != amt.PreProvisioning {
		t.Fatalf("the device was activated with the agent's profile: %s", st)
	}
	d := e.allowProfile("lab")
	if evs, err := e.runAs(enr.Credential, sd, "lab"); err != nil {
		t.Fatalf("allowed profile: %v %+v", err, evs)
	}
	if _, mode := sd.State(); mode != amt.ControlCCM {
		t.Fatalf("after the allowed CCM profile: %s", mode)
	}
	var ae rcs.APIError
	d.AllowedProfiles = []string{"nosuch"}
	if code := e.call("PUT", "/api/v1/domains/corp", e.token, d, &ae); code != http.StatusUnprocessableEntity || ae.Fix == "" {
		t.Fatalf("allowing an unknown profile: %d %+v", code, ae)
	}
}

// allowProfile lets agents of the test domain ask for profile name.
func (e *env) allowProfile(name string) rcs.Domain {
	e.t.Helper()
	var d rcs.Domain
	e.call("GET", "/api/v1/domains/corp", e.token, nil, &d)
	d.AllowedProfiles = append(d.AllowedProfiles, name)
	if code := e.call("PUT", "/api/v1/domains/corp", e.token, d, &d); code != http.StatusOK {
		e.t.Fatalf("allow profile %s: %d", name, code)
	}
	return d
}

// TestDeviceIdentityRefusesForgery: on AMT 19 the firmware's identity
// chain names the part. X's ROM certificate is recorded at its activation;
// after X is deactivated (so no stored password guards it), X's own agent
// credential relaying another AMT 19 PC under X's UUID is refused by the
// identity check before anything is written to that PC, audited, with the
// fix. Forgetting X drops the record, and the PC then activates (a
// replaced board).
func TestDeviceIdentityRefusesForgery(t *testing.T) {
	e := newEnv(t, nil)
	x := e.device("19.0.5", nil)
	id := x.ID().String()
	next, stop := e.liveAgent(x, "")
	if ev := next("activate X"); ev.Kind != wire.EventDone {
		t.Fatalf("activate X: %+v (%s)", ev, x.LastError())
	}
	var j rcs.Job
	if code := e.call("POST", "/api/v1/devices/"+id+"/deactivate", e.token, nil, &j); code != http.StatusAccepted {
		t.Fatalf("deactivate: %d", code)
	}
	if ev := next("deactivate X"); ev.Kind != wire.EventDone {
		t.Fatalf("deactivate X: %+v (%s)", ev, x.LastError())
	}
	stop()

	y := e.forgery(x, "19.0.5")
	var evs []wire.Event
	err := e.agentFor(y, "", true, func(ev wire.Event) { evs = append(evs, ev) }).Run(context.Background())
	var je *agent.JobError
	if !errors.As(err, &je) {
		t.Fatalf("forged report: %v %+v, want a failed job", err, evs)
	}
	if !strings.Contains(je.Event.Error, provisioning.RuleDeviceIdentity) || !strings.Contains(je.Event.Error, "ROM certificate") || !strings.Contains(je.Event.Fix, "forget") {
		t.Fatalf("refusal %+v does not name the rule, the ROM certificates and the fix", je.Event)
	}
	if st, _ := y.State(); st != amt.PreProvisioning {
		t.Fatalf("the relayed PC was activated: %s", st)
	}
	var audit []store.Event
	e.call("GET", "/api/v1/audit?subject="+id+"&action=device.identity", e.token, nil, &audit)
	if len(audit) == 0 || audit[0].Outcome != store.OutcomeDenied {
		t.Fatalf("refusal not audited: %+v", audit)
	}

	var d rcs.DeviceRecord
	if code := e.call("POST", "/api/v1/devices/"+id+"/forget", e.token, nil, &d); code != http.StatusOK {
		t.Fatalf("forget: %d %+v", code, d)
	}
	if err := e.agentFor(y, "", true, nil).Run(context.Background()); err != nil {
		t.Fatalf("activate after forget: %v (%s)", err, y.LastError())
	}
	if st, _ := y.State(); st != amt.PostProvisioning {
		t.Fatalf("after forget the PC is %s, want provisioned", st)
	}
}
