package rcs_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

// Refused enrollments (a wrong kind of credential among them) and 401s are
// audited, and a flood of them writes a handful of records carrying their
// counts, not one record each.
func TestRefusalsAreAuditedInAggregate(t *testing.T) {
	e := newEnv(t, nil)
	before, err := e.st.AuditLog(store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 150
	creds := []string{"amtrcs-enroll-0123456789abcdef.unknown", e.token, "garbage"}
	for i := 0; i < n; i++ {
		var ae rcs.APIError
		if code := e.call("POST", wire.EnrollPath, "", wire.EnrollRequest{Token: creds[i%len(creds)]}, &ae); code != http.StatusUnauthorized {
			t.Fatalf("enrollment %d: %d", i, code)
		}
		if i == 1 && ae.Seen != "an admin token" {
			t.Errorf("an admin token used to enroll: seen %q, want it named", ae.Seen)
		}
		if code := e.call("GET", "/api/v1/devices", "amtrcs-admin-0123456789abcdef.wrong", nil, nil); code != http.StatusUnauthorized {
			t.Fatalf("401 %d: %d", i, code)
		}
	}
	e.srv.Close() // writes the counts of the period
	after, err := e.st.AuditLog(store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	records, counted := 0, 0
	routes := map[string]int{}
	for _, ev := range after[:len(after)-len(before)] {
		if ev.Outcome != store.OutcomeDenied {
			continue
		}
		records++
		if ev.Action != rcs.ActionRefused {
			t.Errorf("a refusal recorded one by one: %+v", ev)
			continue
		}
		c, err := strconv.Atoi(ev.Detail["count"])
		if err != nil || ev.Detail["rule"] == "" || ev.Detail["source"] != "127.0.0.1" {
			t.Errorf("refusal record without count, rule or source: %+v", ev)
		}
		counted += c
		routes[ev.Subject] += c
	}
	// Four kinds (three credentials at enrollment, one at the devices
	// list): at most two records each, the first and the count.
	if records > 8 || counted != 2*n {
		t.Fatalf("%d refusals left %d audit records counting %d (%v), want at most 8 records counting %d", 2*n, records, counted, routes, 2*n)
	}
	if routes["POST "+wire.EnrollPath] != n || routes["GET /api/v1/devices"] != n {
		t.Errorf("counts by route %v, want %d each", routes, n)
	}
}

// An agent calling admin endpoints again and again (403) is audited like
// the 401s: a handful of records carrying the count, its actor and the
// reason, not one record per request.
func TestAgentDenialsAreAuditedInAggregate(t *testing.T) {
	e := newEnv(t, nil)
	var enr wire.EnrollResponse
	if code := e.call("POST", wire.EnrollPath, "", wire.EnrollRequest{Token: e.enrollToken(), Hostname: "pc1"}, &enr); code != http.StatusOK || enr.Credential == "" {
		t.Fatalf("enroll: %d", code)
	}
	const n = 200
	for i := 0; i < n; i++ {
		path := "/api/v1/devices/" + strconv.Itoa(i) // one route, many paths
		if i%2 == 1 {
			path = "/api/v1/audit"
		}
		if code := e.call("GET", path, enr.Credential, nil, nil); code != http.StatusForbidden {
			t.Fatalf("agent call %d: %d", i, code)
		}
	}
	e.srv.Close() // writes the counts of the period
	events, err := e.st.AuditLog(store.AuditFilter{Actor: "agent:" + enr.AgentID})
	if err != nil {
		t.Fatal(err)
	}
	records, counted := 0, 0
	for _, ev := range events {
		if ev.Outcome != store.OutcomeDenied {
			continue
		}
		records++
		c, err := strconv.Atoi(ev.Detail["count"])
		if err != nil || ev.Action != rcs.ActionDenied || ev.Detail["rule"] != "admin endpoint" || ev.Detail["fix"] == "" || ev.Detail["status"] != "403" {
			t.Errorf("denial record without count, rule, fix or status: %+v", ev)
		}
		if strings.Contains(fmt.Sprint(ev), enr.Credential) {
			t.Fatalf("the agent's credential in the audit log: %+v", ev)
		}
		counted += c
	}
	// Two routes: at most two records each, the first and the count.
	if records > 4 || counted != n {
		t.Fatalf("%d denials left %d audit records counting %d, want at most 4 records counting %d", n, records, counted, n)
	}
}
