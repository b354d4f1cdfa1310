package rcs_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/rcs/health"
	"github.com/amtrcs/amtrcs/rcs/jobs"
	"github.com/amtrcs/amtrcs/store"
)

// connected activates sd through an agent that stays connected, as
// maintenance needs: the server reaches a provisioned device only through
// its agent.
func (e *env) connected(sd *amtsim.Device, profile string) {
	e.t.Helper()
	next, _ := e.liveAgent(sd, profile)
	if ev := next("activation of " + sd.ID().String()); ev.Kind != wire.EventDone {
		e.t.Fatalf("activation of %s: %+v (device: %s)", sd.ID(), ev, sd.LastError())
	}
}

// waitMaintenance waits for the scheduler's record of (device, task) to
// show a finished run after the one counted in req.
func (e *env) waitMaintenance(req jobs.Record) jobs.Record {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last jobs.Record
	for time.Now().Before(deadline) {
		// A fresh record each time: the JSON omits fields that went zero.
		var r jobs.Record
		if err := e.st.Get(store.MaintJobs, req.ID, &r); err == nil && r.RunsTotal > req.RunsTotal && r.State != jobs.StateRunning {
			return r
		}
		last = r
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("job %s never finished; last %+v", req.ID, last)
	return last
}

func (e *env) password(id string) string {
	e.t.Helper()
	var pw rcs.DevicePassword
	if code := e.call("GET", "/api/v1/devices/"+id+"/password", e.token, nil, &pw); code != http.StatusOK || pw.Password == "" {
		e.t.Fatalf("password of %s: %d", id, code)
	}
	return pw.Password
}

// TestMaintenanceThroughAPI: tasks requested with POST .../maintain run
// through the devices' agents and fix the devices themselves; the health
// report lists them.
func TestMaintenanceThroughAPI(t *testing.T) {
	e := newEnv(t, nil)
	// TLS off: the health report would otherwise ask for the tls task,
	// which needs an internal CA this server does not have.
	prof := map[string]any{"name": "maint", "mode": "acm", "admin_password": "random", "mebx_password": "random", "user_consent": "kvm",
		"network": map[string]bool{"dhcp": true, "sync_from_host": true}, "sync_hostname": true}
	if code := e.call("POST", "/api/v1/profiles", e.token, prof, nil); code != http.StatusCreated {
		t.Fatalf("create profile: %d", code)
	}
	e.allowProfile("maint")
	drifted, rotated := e.device("16.1.27", nil), e.device("11.8.55", nil)
	e.connected(drifted, "maint")
	e.connected(rotated, "maint")

	const drift = 5 * time.Minute
	offset := func() time.Duration { return time.Until(drifted.FirmwareTime()) }
	oldPassword := e.password(rotated.ID().String())
	tests := []struct {
		name    string
		dev     *amtsim.Device
		task    string
		prepare func(t *testing.T)
		check   func(t *testing.T, r jobs.Record)
	}{
		{
			name: "clock-sync sets a drifted firmware clock",
			dev:  drifted, task: provisioning.TaskClockSync,
			prepare: func(t *testing.T) {
				drifted.SetFirmwareTime(time.Now().Add(-drift))
				if o := offset(); o > -drift+time.Second {
					t.Fatalf("the firmware clock is off by %s before the sync, want about -%s", o, drift)
				}
			},
			check: func(t *testing.T, r jobs.Record) {
				// The firmware keeps whole seconds.
				if o := offset(); o.Abs() > 2*time.Second {
					t.Fatalf("the firmware clock is off by %s after the sync", o)
				}
				if !r.Changed {
					t.Errorf("record %+v does not say the device changed", r)
				}
				st, err := e.srv.Engine().State(drifted.ID().String())
				if err != nil || st.Clock == nil || !st.Clock.Corrected || (st.Clock.Drift+drift).Abs() > 2*time.Second {
					t.Fatalf("clock state %+v (%v), want a corrected drift of -%s", st.Clock, err, drift)
				}
			},
		},
		{
			name: "password-rotation sets a new admin password the device takes",
			dev:  rotated, task: provisioning.TaskPasswordRotation,
			prepare: func(t *testing.T) {
				if err := authenticates(rotated, oldPassword); err != nil {
					t.Fatalf("the activation's password does not open the device: %v", err)
				}
			},
			check: func(t *testing.T, _ jobs.Record) {
				pw := e.password(rotated.ID().String())
				if pw == oldPassword {
					t.Fatal("the rotated password is the old one")
				}
				if err := authenticates(rotated, pw); err != nil {
					t.Fatalf("the rotated password does not open the device: %v", err)
				}
				var ae *wsman.AuthError
				if err := authenticates(rotated, oldPassword); !errors.As(err, &ae) {
					t.Fatalf("the old password after the rotation: %v, want an authentication refusal", err)
				}
				st, err := e.srv.Engine().State(rotated.ID().String())
				if err != nil || st.Rotations != 1 || st.PasswordSet.IsZero() {
					t.Fatalf("state after the rotation: rotations %d, set %s (%v)", st.Rotations, st.PasswordSet, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := tt.dev.ID().String()
			tt.prepare(t)
			var req jobs.Record
			if code := e.call("POST", "/api/v1/devices/"+id+"/maintain", e.token, map[string]string{"task": tt.task}, &req); code != http.StatusAccepted {
				t.Fatalf("maintain: %d, want 202", code)
			}
			if req.ID != jobs.Key(id, tt.task) || req.Device != id || req.Task != tt.task || req.Requested.IsZero() || req.Actor == "" {
				t.Fatalf("job record %+v, want a request of %s on %s", req, tt.task, id)
			}
			r := e.waitMaintenance(req)
			if r.Error != "" || r.Attempts != 0 || r.LastOK.IsZero() || !r.Requested.IsZero() {
				t.Fatalf("job ended %+v, want done", r)
			}
			tt.check(t, r)
		})
	}

	// The job list shows maintenance records with a status, so that
	// ?status= filters find them.
	var listed []rcs.Job
	if code := e.call("GET", "/api/v1/jobs?device="+drifted.ID().String(), e.token, nil, &listed); code != http.StatusOK {
		t.Fatalf("job list: %d", code)
	}
	var maint *rcs.Job
	for i := range listed {
		if listed[i].Kind == "maintain/clock-sync" {
			maint = &listed[i]
		}
	}
	if maint == nil || maint.Status == "" || maint.Status != maint.State {
		t.Fatalf("job list of %s: %+v, want a maintain/clock-sync record whose status is its scheduler state", drifted.ID(), listed)
	}

	var rep health.Report
	if code := e.call("GET", "/api/v1/reports/health", e.token, nil, &rep); code != http.StatusOK {
		t.Fatalf("health report: %d", code)
	}
	for _, sd := range []*amtsim.Device{drifted, rotated} {
		var found *health.DeviceHealth
		for i := range rep.Devices {
			if rep.Devices[i].ID == sd.ID().String() {
				found = &rep.Devices[i]
			}
		}
		if found == nil {
			t.Fatalf("health report lacks %s: %+v", sd.ID(), rep.Devices)
		}
		if found.Status != health.StatusOK || found.LastContact == nil || found.PasswordAgeDays == nil {
			t.Errorf("health of %s: %+v, want ok with a contact and a password age", sd.ID(), *found)
		}
	}
}

// TestMaintenanceRefusals: every refusal of the maintenance endpoints
// names its rule, the value seen, the value wanted and the fix.
func TestMaintenanceRefusals(t *testing.T) {
	e := newEnv(t, nil)
	var enr wire.EnrollResponse
	if code := e.call("POST", wire.EnrollPath, "", wire.EnrollRequest{Token: e.enrollToken(), Hostname: "pc1"}, &enr); code != http.StatusOK || enr.Credential == "" {
		t.Fatalf("enroll: %d", code)
	}
	sd := e.device("19.0.5", nil)
	if _, err := e.runOnce(sd, ""); err != nil {
		t.Fatalf("activate: %v", err)
	}
	id := sd.ID().String()
	maintain := "/api/v1/devices/" + id + "/maintain"
	tests := []struct {
		name      string
		method    string
		path      string
		token     string
		body      any
		want      int
		rule      string
		seen      string // in the refusal's seen
		wantField string // in the refusal's want
	}{
		{"unknown task", "POST", maintain, e.token, map[string]string{"task": "defragment"}, http.StatusBadRequest, provisioning.RuleTask, `"defragment"`, provisioning.TaskClockSync},
		{"no task", "POST", maintain, e.token, map[string]string{}, http.StatusBadRequest, provisioning.RuleTask, `""`, provisioning.TaskPasswordRotation},
		{"dry run of another task", "POST", maintain, e.token, map[string]any{"task": provisioning.TaskTLS, "dry_run": true}, http.StatusBadRequest, provisioning.RuleDryRun, `"tls"`, provisioning.TaskEnforce},
		{"no token", "POST", maintain, "", map[string]string{"task": provisioning.TaskClockSync}, http.StatusUnauthorized, "", "", ""},
		{"agent credential", "POST", maintain, enr.Credential, map[string]string{"task": provisioning.TaskClockSync}, http.StatusForbidden, "", "", ""},
		{"unknown device", "POST", "/api/v1/devices/nosuchpc/maintain", e.token, map[string]string{"task": provisioning.TaskClockSync}, http.StatusNotFound, "", "nosuchpc", ""},
		{"health report without a token", "GET", "/api/v1/reports/health", "", nil, http.StatusUnauthorized, "", "", ""},
		{"health report for an agent", "GET", "/api/v1/reports/health", enr.Credential, nil, http.StatusForbidden, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var raw json.RawMessage
			code := e.call(tt.method, tt.path, tt.token, tt.body, &raw)
			if code != tt.want {
				t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, code, raw, tt.want)
			}
			var ae rcs.APIError
			if err := json.Unmarshal(raw, &ae); err != nil {
				t.Fatalf("refusal is not JSON: %s", raw)
			}
			if ae.Message == "" || ae.Rule == "" || ae.Fix == "" {
				t.Fatalf("refusal without error, rule and fix: %s", raw)
			}
			if (tt.rule != "" && ae.Rule != tt.rule) || !strings.Contains(ae.Seen, tt.seen) || !strings.Contains(ae.Want, tt.wantField) {
				t.Fatalf("refusal %s: want rule %q, seen with %q, want with %q", raw, tt.rule, tt.seen, tt.wantField)
			}
			if tt.seen != "" && ae.Seen == "" || tt.wantField != "" && ae.Want == "" {
				t.Fatalf("refusal %s lacks seen or want", raw)
			}
			if tt.token != "" && strings.Contains(string(raw), tt.token) {
				t.Fatal("the refusal repeats the credential")
			}
		})
	}
	// A refused request leaves no job behind.
	rs, err := jobs.Records(e.st)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Device == id {
			t.Errorf("a refused request left job %+v", r)
		}
	}
}

// TestMaintenanceRunsWhenTheAgentComesBack: a task requested while the
// device's agent was away fails and backs off for minutes; the agent's
// return runs it at once instead of after the back-off.
func TestMaintenanceRunsWhenTheAgentComesBack(t *testing.T) {
	e := newEnv(t, nil)
	e.maintProfile()
	sd := e.device("16.1.27", nil)
	next, stop := e.liveAgent(sd, "maint")
	if ev := next("activation"); ev.Kind != wire.EventDone {
		t.Fatalf("activation: %+v (device: %s)", ev, sd.LastError())
	}
	id := sd.ID().String()
	stop()
	e.waitDevice(id, func(d rcs.DeviceRecord) bool { return !d.Connected })

	var req jobs.Record
	if code := e.call("POST", "/api/v1/devices/"+id+"/maintain", e.token, map[string]any{"task": provisioning.TaskClockSync}, &req); code != http.StatusAccepted {
		t.Fatalf("maintain: %d", code)
	}
	failed := e.waitMaintenance(req)
	if failed.State != jobs.StateBackoff || failed.Error == "" || time.Until(failed.NextRun) < time.Minute {
		t.Fatalf("clock-sync without an agent: %+v, want a failure backing off for minutes", failed)
	}
	e.liveAgent(sd, "maint")
	done := e.waitMaintenance(failed)
	if done.Error != "" || done.State != jobs.StateScheduled {
		t.Fatalf("clock-sync after the agent came back: %+v, want it run and done", done)
	}
}

// maintProfile creates profile "maint" (ACM, KVM and SOL, TLS off: this
// server has no internal CA) and lets the test domain's agents ask for it.
func (e *env) maintProfile() {
	e.t.Helper()
	prof := map[string]any{"name": "maint", "mode": "acm", "admin_password": "random", "mebx_password": "random", "user_consent": "kvm",
		"redirection": map[string]bool{"kvm": true, "sol": true}, "network": map[string]bool{"dhcp": true, "sync_from_host": true}, "sync_hostname": true}
	if code := e.call("POST", "/api/v1/profiles", e.token, prof, nil); code != http.StatusCreated {
		e.t.Fatalf("create profile: %d", code)
	}
	e.allowProfile("maint")
}
