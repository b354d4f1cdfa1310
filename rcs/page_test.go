package rcs_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

// getPage reads one page and the path of the next.
func (e *env) getPage(path string, out any) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s: %v", path, err)
		}
	}
	next := strings.TrimSuffix(strings.TrimPrefix(resp.Header.Get("Link"), "<"), `>; rel="next"`)
	return resp.StatusCode, next
}

// walk reads every page of a list, limit at a time, and returns the ids.
func walk[T any](e *env, path string, limit int, id func(T) string) []string {
	var ids []string
	p := fmt.Sprintf("%s?limit=%d", path, limit)
	for pages := 0; p != ""; pages++ {
		var items []T
		code, next := e.getPage(p, &items)
		if code != http.StatusOK || len(items) > limit || pages > 100 {
			e.t.Fatalf("%s: %d, %d items, page %d", p, code, len(items), pages)
		}
		for _, it := range items {
			ids = append(ids, id(it))
		}
		p = next
	}
	return ids
}

// The lists come a page at a time, each page at most the limit asked for
// and never more than the maximum, and the pages together hold every
// record once.
func TestListsArePaginated(t *testing.T) {
	e := newEnv(t, nil)
	const n = 23
	now := time.Now()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
		if err := e.st.Put(store.Devices, id, rcs.DeviceRecord{ID: id, State: rcs.StateDiscovered}); err != nil {
			t.Fatal(err)
		}
		if err := e.st.Put(store.Jobs, fmt.Sprintf("job%02d", i), rcs.Job{ID: fmt.Sprintf("job%02d", i), Device: id, Status: rcs.JobDone, Created: now.Add(time.Duration(i%5) * time.Second)}); err != nil {
			t.Fatal(err)
		}
		if i < 7 {
			if code := e.call("POST", wire.EnrollPath, "", wire.EnrollRequest{Token: e.enrollToken(), Hostname: "pc"}, nil); code != 200 {
				t.Fatalf("enroll: %d", code)
			}
		}
	}
	allEvents, err := e.st.AuditLog(store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	allJobs, err := store.List[rcs.Job](e.st, store.Jobs)
	if err != nil {
		t.Fatal(err)
	}
	maintJobs, err := store.List[rcs.Job](e.st, store.MaintJobs) // listed with the activation jobs
	if err != nil {
		t.Fatal(err)
	}
	allJobs = append(allJobs, maintJobs...)
	for _, tc := range []struct {
		name string
		ids  []string
		want int
	}{
		{"devices", walk(e, "/api/v1/devices", 10, func(d rcs.DeviceRecord) string { return d.ID }), n},
		{"jobs", walk(e, "/api/v1/jobs", 4, func(j rcs.Job) string { return j.ID }), len(allJobs)},
		{"agents", walk(e, "/api/v1/agents", 3, func(a rcs.AgentInfo) string { return a.ID }), 7},
		{"audit", walk(e, "/api/v1/audit", 6, func(ev store.Event) string { return fmt.Sprint(ev.Seq) }), len(allEvents)},
	} {
		seen := map[string]bool{}
		for _, id := range tc.ids {
			if seen[id] {
				t.Errorf("%s: %s on two pages", tc.name, id)
			}
			seen[id] = true
		}
		if len(seen) != tc.want {
			t.Errorf("%s: %d records over the pages, want %d", tc.name, len(seen), tc.want)
		}
	}
	// An unbounded page is refused with the maximum.
	var ae rcs.APIError
	if code := e.call("GET", fmt.Sprintf("/api/v1/devices?limit=%d", rcs.MaxPageSize+1), e.token, nil, &ae); code != 400 || ae.Rule != "page size" || ae.Fix == "" {
		t.Fatalf("limit above the maximum: %d %+v", code, ae)
	}
	// Without a limit a page holds at most the default.
	var ds []rcs.DeviceRecord
	if code, next := e.getPage("/api/v1/devices?limit=1", &ds); code != 200 || len(ds) != 1 || next == "" {
		t.Fatalf("first page of one: %d, %d, next %q", code, len(ds), next)
	}
}
