package rcs_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs/jobs"
)

// scrape reads url with the given bearer token and parses the answer.
func (e *env) scrape(client *http.Client, url, token string) (int, map[string]*dto.MetricFamily) {
	e.t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		e.t.Fatalf("scrape %s: %v", url, err)
	}
	return resp.StatusCode, mfs
}

// sample finds the sample of family name whose labels include want.
func sample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// TestMetricsAfterActivation: a real activation through an agent moves the
// job counter, the step histograms and the store's commit histogram; the
// gauges read the agents, devices and certificates; the API listener
// refuses an unauthenticated scrape, and the metrics listener needs none.
func TestMetricsAfterActivation(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Server.Metrics = "127.0.0.1:0" })
	sd := e.device("19.0.5", nil)
	next, stop := e.liveAgent(sd, "")
	if ev := next("activation"); ev.Kind != wire.EventDone {
		t.Fatalf("activation: %+v (device: %s)", ev, sd.LastError())
	}
	id := sd.ID().String()
	var req jobs.Record
	if code := e.call("POST", "/api/v1/devices/"+id+"/maintain", e.token, map[string]string{"task": provisioning.TaskClockSync}, &req); code != http.StatusAccepted {
		t.Fatalf("maintain: %d, want 202", code)
	}
	if r := e.waitMaintenance(req); r.Error != "" {
		t.Fatalf("clock-sync: %+v", r)
	}

	for _, tok := range []string{"", "not-a-token"} {
		if code, _ := e.scrape(e.client, e.srv.URL()+"/metrics", tok); code != http.StatusUnauthorized {
			t.Fatalf("scrape of the API listener with token %q: %d, want 401", tok, code)
		}
	}
	_, mfs := e.scrape(e.client, e.srv.URL()+"/metrics", e.token)
	path := string(provisioning.PathTLS)
	if m := sample(mfs, "amtrcs_provisioning_jobs_total", map[string]string{"kind": "activate", "path": path, "outcome": "success"}); m.GetCounter().GetValue() != 1 {
		t.Errorf("activations on %s: %v, want 1", path, m)
	}
	if m := sample(mfs, "amtrcs_maintenance_jobs_total", map[string]string{"task": provisioning.TaskClockSync, "outcome": "success"}); m.GetCounter().GetValue() != 1 {
		t.Errorf("clock-sync jobs: %v, want 1", m)
	}
	steps := 0
	for _, m := range mfs["amtrcs_step_duration_seconds"].GetMetric() {
		if m.GetHistogram().GetSampleCount() > 0 {
			steps++
		}
	}
	if steps == 0 || sample(mfs, "amtrcs_step_duration_seconds", map[string]string{"path": path, "outcome": "success"}) == nil {
		t.Errorf("step histograms with samples: %d, want the steps of %s", steps, path)
	}
	if m := sample(mfs, "amtrcs_store_commit_duration_seconds", nil); m.GetHistogram().GetSampleCount() == 0 {
		t.Errorf("store commits observed: %v, want some", m)
	}
	if m := sample(mfs, "amtrcs_agents_connected", nil); m.GetGauge().GetValue() != 1 {
		t.Errorf("agents connected: %v, want 1", m)
	}
	// This server has no internal CA, so the device's TLS may be judged
	// failing: the gauge counts it under one status or the other.
	ok, failing := sample(mfs, "amtrcs_devices", map[string]string{"health": "ok"}), sample(mfs, "amtrcs_devices", map[string]string{"health": "failing"})
	if ok.GetGauge().GetValue()+failing.GetGauge().GetValue() != 1 {
		t.Errorf("devices by health: ok %v, failing %v, want the activated one", ok, failing)
	}
	if m := sample(mfs, "amtrcs_provisioning_certificate_days_left", map[string]string{"cert_id": e.certID}); m.GetGauge().GetValue() < 300 {
		t.Errorf("days left of %s: %v, want about a year", e.certID, m)
	}
	for _, name := range []string{"amtrcs_hello_queue_depth", "amtrcs_hello_connections_held"} {
		if sample(mfs, name, nil) == nil {
			t.Errorf("%s not exported", name)
		}
	}
	// No label value is a device's UUID or a secret.
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if strings.Contains(lp.GetValue(), id) || strings.Contains(lp.GetValue(), e.token) {
					t.Errorf("%s label %s=%q names the device or the token", name, lp.GetName(), lp.GetValue())
				}
			}
		}
	}

	// The metrics listener: plain HTTP, no authentication.
	code, plain := e.scrape(http.DefaultClient, "http://"+e.srv.Addr("metrics").String()+"/metrics", "")
	if code != http.StatusOK || plain["amtrcs_provisioning_jobs_total"] == nil {
		t.Fatalf("scrape of the metrics listener: %d, families %d", code, len(plain))
	}
	stop()
	// The server sees the agent's session end on its own time: wait for
	// it (the bound only turns "never" into a failure).
	var left float64
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, mfs = e.scrape(e.client, e.srv.URL()+"/metrics", e.token)
		if left = sample(mfs, "amtrcs_agents_connected", nil).GetGauge().GetValue(); left == 0 {
			break
		}
	}
	if left != 0 {
		t.Errorf("agents connected after the agent stopped: %v, want 0", left)
	}
}

// TestGrafanaDashboard: the example dashboard is valid JSON, has a panel
// for each metric, and queries only metrics the server exports.
func TestGrafanaDashboard(t *testing.T) {
	e := newEnv(t, nil)
	raw, err := os.ReadFile("../examples/grafana-amtrcs.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	exported := e.srv.MetricNames()
	metricName := regexp.MustCompile(`amtrcs_[a-z_]+`)
	queried := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			continue // a row
		}
		for _, tg := range p.Targets {
			names := metricName.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no amtrcs metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				base := n
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(n, suffix); ok && slices.Contains(exported, b) {
						base = b
					}
				}
				if !slices.Contains(exported, base) {
					t.Errorf("panel %q queries %s, which the server does not export (it exports %v)", p.Title, n, exported)
				}
				queried[base] = true
			}
		}
	}
	for _, n := range exported {
		if !queried[n] {
			t.Errorf("no panel shows %s", n)
		}
	}
}
