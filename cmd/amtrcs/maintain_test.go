package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/rcs/jobs"
)

// runMaintain runs `amtrcs device maintain` in-process, with maintain
// added to the device group as device.go adds it.
func runMaintain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb}
	root := newRootCmd(a)
	var dev *cobra.Command
	for _, c := range root.Commands() {
		if c.Name() == "device" {
			dev = c
		}
	}
	if dev == nil {
		t.Fatal("no device command")
	}
	if !hasSub(dev, "maintain") {
		dev.AddCommand(newMaintainCmd(a))
	}
	root.SetArgs(append([]string{"device", "maintain"}, args...))
	code := exitOK
	if err := root.Execute(); err != nil {
		code = exitUsage
		if ee, ok := err.(*exitError); ok {
			code = ee.code
			if ee.err != nil {
				errb.WriteString(ee.err.Error())
			}
		}
	}
	return code, out.String(), errb.String()
}

func hasSub(c *cobra.Command, name string) bool {
	for _, s := range c.Commands() {
		if s.Name() == name {
			return true
		}
	}
	return false
}

// TestDeviceMaintain: the command posts the task with the token, prints
// the job, and passes a refusal's fix through with exit 1.
func TestDeviceMaintain(t *testing.T) {
	var got struct {
		path, auth string
		body       map[string]string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.path, got.auth = r.URL.Path, r.Header.Get("Authorization")
		_ = json.NewDecoder(r.Body).Decode(&got.body)
		if strings.Contains(r.URL.Path, "busy") {
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":"tls on device busy: the job is running","rule":"one job per device","fix":"wait for it to finish"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(jobs.Record{ID: "maint:pc1:tls", Device: "pc1-uuid", Task: got.body["task"], State: jobs.StateScheduled})
	}))
	defer srv.Close()
	code, out, errOut := runMaintain(t, "pc1", "--task", "tls", "--server", srv.URL, "--token", "tok123")
	if code != exitOK || got.path != "/api/v1/devices/pc1/maintain" || got.auth != "Bearer tok123" || got.body["task"] != "tls" {
		t.Fatalf("exit %d (%s), request %+v", code, errOut, got)
	}
	if !strings.Contains(out, "tls requested on device pc1-uuid (job maint:pc1:tls)") {
		t.Fatalf("output %q", out)
	}
	code, _, errOut = runMaintain(t, "busy", "--task", "tls", "--server", srv.URL, "--token", "tok123")
	if code != exitVerdict || !strings.Contains(errOut, "wait for it to finish") {
		t.Fatalf("refusal: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runMaintain(t, "pc1", "--task", "defrag", "--server", srv.URL, "--token", "tok123")
	if code != exitUsage || !strings.Contains(errOut, "clock-sync") {
		t.Fatalf("unknown task: exit %d, stderr %q", code, errOut)
	}
}

// TestDeviceMaintainDryRun: --dry-run goes to the API with the enforce
// task, and is refused before any request for another task.
func TestDeviceMaintainDryRun(t *testing.T) {
	var body map[string]any
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		body = nil
		_ = json.NewDecoder(r.Body).Decode(&body)
		task, _ := body["task"].(string)
		dry, _ := body["dry_run"].(bool)
		_ = json.NewEncoder(w).Encode(jobs.Record{ID: "maint:pc1:" + task, Device: "pc1-uuid", Task: task, DryRun: dry, State: jobs.StateIdle})
	}))
	defer srv.Close()
	code, out, errOut := runMaintain(t, "pc1", "--task", "enforce", "--dry-run", "--server", srv.URL, "--token", "tok123")
	if code != exitOK || body["task"] != "enforce" || body["dry_run"] != true || !strings.Contains(out, "enforce (dry run) requested on device pc1-uuid") {
		t.Fatalf("exit %d (%s), body %v, output %q", code, errOut, body, out)
	}
	code, _, _ = runMaintain(t, "pc1", "--task", "enforce", "--server", srv.URL, "--token", "tok123")
	if _, sent := body["dry_run"]; code != exitOK || sent {
		t.Fatalf("without --dry-run: exit %d, body %v", code, body)
	}
	code, _, errOut = runMaintain(t, "pc1", "--task", "tls", "--dry-run", "--server", srv.URL, "--token", "tok123")
	if code != exitUsage || !strings.Contains(errOut, "enforce") || requests != 2 {
		t.Fatalf("dry run of tls: exit %d, stderr %q, %d requests", code, errOut, requests)
	}
}
