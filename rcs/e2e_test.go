package rcs_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

func TestActivateACMThroughAgents(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		version string
		path    provisioning.Path
	}{
		{"11.8.55", provisioning.PathHostBased},
		{"16.1.27", provisioning.PathHostBased},
		{"19.0.5", provisioning.PathTLS},
	}
	for _, tt := range tests {
		t.Run("AMT "+tt.version, func(t *testing.T) {
			sd := e.device(tt.version, nil)
			evs, err := e.runOnce(sd, "")
			if err != nil {
				t.Fatalf("agent: %v (device: %s)", err, sd.LastError())
			}
			last := evs[len(evs)-1]
			if last.Kind != wire.EventDone || !strings.Contains(last.Message, string(tt.path)) {
				t.Fatalf("last event %+v, want done on %s", last, tt.path)
			}
			steps := 0
			for _, ev := range evs {
				if ev.Step != "" {
					steps++
				}
			}
			if steps == 0 {
				t.Errorf("no step progress reached the agent: %+v", evs)
			}
			if st, mode := sd.State(); st != amt.PostProvisioning || mode != amt.ControlACM {
				t.Fatalf("device %s %s, want post-provisioning ACM", st, mode)
			}
			id := sd.ID().String()
			var d rcs.DeviceDetail
			if code := e.call("GET", "/api/v1/devices/"+id, e.token, nil, &d); code != 200 {
				t.Fatalf("show: %d", code)
			}
			if d.Device.State != rcs.StateProvisioned || d.Device.Path != string(tt.path) || d.Device.Version != tt.version || len(d.Audit) == 0 || len(d.Jobs) != 1 {
				t.Fatalf("record %+v, %d audit events, %d jobs", d.Device, len(d.Audit), len(d.Jobs))
			}
			var pw rcs.DevicePassword
			if code := e.call("GET", "/api/v1/devices/"+id+"/password", e.token, nil, &pw); code != 200 {
				t.Fatalf("password: %d", code)
			}
			if err := authenticates(sd, pw.Password); err != nil {
				t.Fatalf("the password the API returns does not open the device: %v", err)
			}
			var audit []store.Event
			e.call("GET", "/api/v1/audit?subject="+id+"&action=device.password.read", e.token, nil, &audit)
			if len(audit) != 1 || audit[0].Outcome != store.OutcomeSuccess || !strings.HasPrefix(audit[0].Actor, "token:") {
				t.Fatalf("password read audit %+v", audit)
			}
			for _, ev := range audit {
				for _, v := range ev.Detail {
					if strings.Contains(v, pw.Password) {
						t.Fatal("the audit log holds the password")
					}
				}
			}
			// A second connection finds nothing to do.
			evs, err = e.runOnce(sd, "")
			if err != nil || evs[len(evs)-1].Kind != wire.EventIdle {
				t.Fatalf("reconnect of a provisioned device: %v %+v", err, evs)
			}
		})
	}
}

// A CCM activation, the upgrade to ACM asked through the API, then
// deactivation: the agent stays connected throughout.
func TestCCMUpgradeDeactivate(t *testing.T) {
	e := newEnv(t, nil)
	ccm := map[string]any{"name": "ccm", "mode": "ccm", "admin_password": "random", "mebx_password": "random", "user_consent": "all", "network": map[string]bool{"dhcp": true, "sync_from_host": true}}
	if code := e.call("POST", "/api/v1/profiles", e.token, ccm, nil); code != http.StatusCreated {
		t.Fatalf("create profile: %d", code)
	}
	e.allowProfile("ccm")
	sd := e.device("16.1.27", nil)
	id := sd.ID().String()
	next, _ := e.liveAgent(sd, "ccm")
	if ev := next("ccm"); ev.Kind != wire.EventDone {
		t.Fatalf("ccm: %+v (%s)", ev, sd.LastError())
	}
	if _, mode := sd.State(); mode != amt.ControlCCM {
		t.Fatalf("after ccm: mode %s", mode)
	}
	d := e.waitDevice(id, func(d rcs.DeviceRecord) bool { return d.State == rcs.StateProvisioned })
	if d.Path != string(provisioning.PathCCM) || !d.Connected {
		t.Fatalf("after ccm: %+v", d)
	}

	var j rcs.Job
	if code := e.call("POST", "/api/v1/devices/"+id+"/activate", e.token, map[string]string{"profile": "default"}, &j); code != http.StatusAccepted {
		t.Fatalf("activate: %d", code)
	}
	if ev := next("upgrade"); ev.Kind != wire.EventDone {
		t.Fatalf("upgrade: %+v (%s)", ev, sd.LastError())
	}
	if _, mode := sd.State(); mode != amt.ControlACM {
		t.Fatalf("after upgrade: mode %s", mode)
	}
	if code := e.call("GET", "/api/v1/jobs/"+j.ID, e.token, nil, &j); code != 200 || j.Status != rcs.JobDone || j.Path != string(provisioning.PathUpgrade) {
		t.Fatalf("upgrade job %+v", j)
	}

	if code := e.call("POST", "/api/v1/devices/"+id+"/deactivate", e.token, nil, &j); code != http.StatusAccepted {
		t.Fatalf("deactivate: %d", code)
	}
	if ev := next("deactivate"); ev.Kind != wire.EventDone {
		t.Fatalf("deactivate: %+v (%s)", ev, sd.LastError())
	}
	if st, _ := sd.State(); st != amt.PreProvisioning {
		t.Fatalf("after deactivate: %s", st)
	}
	d = e.waitDevice(id, func(d rcs.DeviceRecord) bool { return d.State == rcs.StateNotProvisioned })
	var ae rcs.APIError
	if code := e.call("GET", "/api/v1/devices/"+id+"/password", e.token, nil, &ae); code != http.StatusNotFound || ae.Fix == "" {
		t.Fatalf("password after deactivation: %d %+v", code, ae)
	}
}

func TestLegacyHelloThroughListener(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Server.Hello = "127.0.0.1:0" })
	sd := e.device("11.8.55", func(c *amtsim.Config) {
		c.Hello = amtsim.HelloConfig{Server: e.srv.Addr("hello").String(), Interval: 50 * time.Millisecond, Source: "127.1.0.9"}
	})
	if err := sd.StartHello(); err != nil {
		t.Fatalf("start hello: %v", err)
	}
	t.Cleanup(sd.StopHello)
	d := e.waitDevice(sd.ID().String(), func(d rcs.DeviceRecord) bool { return d.State == rcs.StateProvisioned || d.State == rcs.StateFailed })
	if d.State != rcs.StateProvisioned || d.Path != string(provisioning.PathLegacy) || d.Source != "hello" || d.Address != "127.1.0.9" {
		t.Fatalf("record %+v (device: %s)", d, sd.LastError())
	}
	if st, mode := sd.State(); st != amt.PostProvisioning || mode != amt.ControlACM {
		t.Fatalf("device %s %s", st, mode)
	}
}

func TestPreflightRefusalReachesAgent(t *testing.T) {
	e := newEnv(t, nil)
	// A suffix the certificate (rcs.corp.example.com) does not cover.
	sd := e.device("16.1.27", func(c *amtsim.Config) { c.DHCPSuffix = "branch.example.net" })
	evs, err := e.runOnce(sd, "")
	if err == nil {
		t.Fatalf("activation of an uncovered suffix succeeded: %+v", evs)
	}
	last := evs[len(evs)-1]
	if last.Kind != wire.EventFailed || last.Fix == "" {
		t.Fatalf("last event %+v, want failed with a fix", last)
	}
	d := e.waitDevice(sd.ID().String(), func(d rcs.DeviceRecord) bool { return d.State == rcs.StateFailed })
	if d.Rule == "" || d.Fix == "" {
		t.Fatalf("record %+v, want rule and fix", d)
	}
	if st, _ := sd.State(); st != amt.PreProvisioning {
		t.Fatalf("device %s after a refused preflight", st)
	}
}
