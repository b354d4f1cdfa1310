package rcs_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/rcs/health"
	"github.com/amtrcs/amtrcs/rcs/jobs"
	"github.com/amtrcs/amtrcs/store"
)

// TestEnforceThroughAPI: settings changed out of band on a served device
// are found by a dry run of the enforce task, which the health report and
// the device's JSON then show as drift; the task run for real sets them
// back, and the report shows none.
func TestEnforceThroughAPI(t *testing.T) {
	e := newEnv(t, nil)
	// TLS off, as in TestMaintenanceThroughAPI: this server has no CA.
	e.maintProfile()
	sd := e.device("16.1.27", nil)
	e.connected(sd, "maint")
	id := sd.ID().String()

	enforce := func(dryRun bool) jobs.Record {
		t.Helper()
		var req jobs.Record
		if code := e.call("POST", "/api/v1/devices/"+id+"/maintain", e.token, map[string]any{"task": provisioning.TaskEnforce, "dry_run": dryRun}, &req); code != http.StatusAccepted {
			t.Fatalf("maintain enforce: %d, want 202", code)
		}
		if req.DryRun != dryRun {
			t.Fatalf("job record %+v, want dry run %v", req, dryRun)
		}
		r := e.waitMaintenance(req)
		if r.Error != "" {
			t.Fatalf("enforce job ended %+v", r)
		}
		return r
	}
	driftOf := func() *health.DeviceHealth {
		t.Helper()
		var rep health.Report
		if code := e.call("GET", "/api/v1/reports/health", e.token, nil, &rep); code != http.StatusOK {
			t.Fatalf("health report: %d", code)
		}
		for i := range rep.Devices {
			if rep.Devices[i].ID == id {
				return &rep.Devices[i]
			}
		}
		t.Fatalf("health report lacks %s", id)
		return nil
	}
	consent := func() int {
		t.Helper()
		c, err := wsman.NewClient("http://localhost:16992/wsman", "admin", e.password(id), wsman.WithDialer(func(ctx context.Context, _, _ string) (net.Conn, error) {
			return sd.DialLMS(ctx, amtsim.PortHTTP)
		}))
		if err != nil {
			t.Fatal(err)
		}
		o, err := c.GetOptInService(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return o.OptInRequired
	}

	if r := enforce(false); r.Changed {
		t.Fatalf("enforce on a device as activated changed it: %+v", r)
	}
	if err := sd.ChangeSettings(map[string]string{amtsim.SettingUserConsent: "none", amtsim.SettingKVM: "off"}); err != nil {
		t.Fatal(err)
	}

	if r := enforce(true); r.Changed || len(r.Notes) != 2 {
		t.Fatalf("dry run %+v, want two drifted settings noted and nothing changed", r)
	}
	h := driftOf()
	var problem *health.Problem
	for i := range h.Problems {
		if h.Problems[i].Check == health.CheckDrift {
			problem = &h.Problems[i]
		}
	}
	if h.Status != health.StatusFailing || problem == nil || problem.Task != provisioning.TaskEnforce || len(h.Drift) != 2 ||
		!strings.Contains(problem.Detail, "user consent: seen none, wanted kvm") || !strings.Contains(problem.Detail, "KVM: seen off, wanted on") {
		t.Fatalf("health after the dry run: %+v, want a configuration drift problem fixed by enforce", *h)
	}
	if consent() != wsman.OptInNone {
		t.Fatal("the dry run changed the user consent")
	}
	var detail rcs.DeviceDetail
	if code := e.call("GET", "/api/v1/devices/"+id, e.token, nil, &detail); code != http.StatusOK {
		t.Fatalf("device: %d", code)
	}
	if detail.Enforce == nil || !detail.Enforce.DryRun || len(detail.Enforce.Unfixed()) != 2 {
		t.Fatalf("device JSON enforce %+v, want the dry run's two drifted settings", detail.Enforce)
	}
	// The dashboard's device page shows the same drift, setting by setting.
	b := e.browser(t)
	csrf := b.login()
	resp, page := b.do("GET", "/ui/devices/"+id, nil, nil)
	if resp.StatusCode != http.StatusOK ||
		!strings.Contains(page, "Configuration drift") || !strings.Contains(page, "(dry run)") ||
		!regexp.MustCompile(`<th scope="row">user consent</th><td>none</td><td>kvm</td><td class="status-failed">no: run enforce</td>`).MatchString(page) {
		t.Fatalf("device page: %d, want the drift table with user consent seen none, wanted kvm:\n%s", resp.StatusCode, page)
	}
	// Its dry run button asks for a dry run: the firmware stays as it is.
	var before jobs.Record
	if err := e.st.Get(store.MaintJobs, jobs.Key(id, provisioning.TaskEnforce), &before); err != nil {
		t.Fatal(err)
	}
	if resp, page = b.do("POST", "/ui/devices/"+id+"/maintain", url.Values{"csrf": {csrf}, "task": {provisioning.TaskEnforce}, "dry_run": {"true"}}, nil); resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("dry run from the dashboard: %d\n%s", resp.StatusCode, page)
	}
	if r := e.waitMaintenance(before); r.Changed || r.Error != "" || consent() != wsman.OptInNone {
		t.Fatalf("dashboard dry run %+v, consent %d: want drift reported and nothing changed", r, consent())
	}

	if r := enforce(false); !r.Changed {
		t.Fatalf("enforce %+v, want the device changed", r)
	}
	if h := driftOf(); h.Status != health.StatusOK || len(h.Drift) != 0 {
		t.Fatalf("health after enforce: %+v, want ok without drift", *h)
	}
	if consent() != wsman.OptInKVM {
		t.Fatal("enforce did not set the user consent back")
	}
}
