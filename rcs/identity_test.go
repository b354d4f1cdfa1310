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
