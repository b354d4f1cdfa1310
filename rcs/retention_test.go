package rcs_test

import (
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

// The audit log's retention is applied at start (by count) and by the
// server's housekeeping (by age): the oldest records go, the newest stay
// as they were written.
func TestAuditRetention(t *testing.T) {
	clock := newTestClock()
	const max, written = 50, 150
	e := newEnvWith(t, func(c *config.Config) {
		c.Server.AuditMaxRecords, c.Server.AuditMaxAge = max, 30*24*time.Hour
	}, func(o *rcs.Options) {
		o.Now = clock.Now
		for i := 0; i < written; i++ {
			if err := o.Store.Audit(store.Event{Action: "test.event", Subject: strconv.Itoa(i), Outcome: store.OutcomeSuccess, Time: clock.Now()}); err != nil {
				t.Fatal(err)
			}
		}
	})
	log, err := e.st.AuditLog(store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	// The start left at most max records; those written since (the
	// domain's) are few.
	if len(log) > max+5 {
		t.Fatalf("%d audit records after start with audit_max_records = %d", len(log), max)
	}
	var kept []int
	for _, ev := range log {
		if ev.Action == "test.event" {
			n, _ := strconv.Atoi(ev.Subject)
			kept = append(kept, n)
		}
	}
	// Newest first: written-1, written-2, ... without a gap.
	for i, n := range kept {
		if n != written-1-i {
			t.Fatalf("records kept %v: want the newest, %d down, without a gap", kept, written-1)
		}
	}
	if len(kept) < max-10 {
		t.Fatalf("only %d of the newest records kept, want nearly %d", len(kept), max)
	}

	// A month later the records older than audit_max_age go; a new one
	// stays, and nothing kept changes.
	clock.Advance(31 * 24 * time.Hour)
	if err := e.st.Audit(store.Event{Action: "test.event", Subject: "new", Outcome: store.OutcomeSuccess, Time: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	before, _ := e.st.AuditLog(store.AuditFilter{Limit: 1})
	if err := e.srv.Housekeep(); err != nil {
		t.Fatal(err)
	}
	after, err := e.st.AuditLog(store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || !reflect.DeepEqual(after[0], before[0]) {
		t.Fatalf("after a month: %s, want only %+v as it was", fmt.Sprint(after), before[0])
	}
}
