package csr_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/csr/csrtest"
	"github.com/amtrcs/amtrcs/store"
)

func TestDeleteCSR(t *testing.T) {
	t.Parallel()
	b := newBench(t)
	pending, err := b.w.NewCSR(csr.CSRRequest{Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	issued, leaf := b.order(t, csrtest.LeafOptions{})
	if _, err := b.w.Import(b.deliver(t, leaf, b.vendor.Intermediate), b.opts); err != nil {
		t.Fatal(err)
	}

	// A pending CSR goes with its sealed key.
	rec, err := b.w.DeleteCSR(pending.ID)
	if err != nil || rec.ID != pending.ID {
		t.Fatalf("delete pending: %+v, %v", rec, err)
	}
	if _, err := b.w.CSR(pending.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CSR after delete: %v, want not found", err)
	}
	if _, err := b.st.Secret("provkey/" + pending.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("sealed key after delete: %v, want not found", err)
	}

	// An issued CSR is refused, naming rule, seen, want and fix; the
	// certificate keeps its key.
	_, err = b.w.DeleteCSR(issued.ID)
	re, ok := amt.AsRefusal(err)
	if !ok || re.Rule != csr.RuleCSRPending || !strings.Contains(re.Seen, issued.ID) || re.Want == "" || !strings.Contains(re.Fix, "cert renew") {
		t.Fatalf("delete issued: %v", err)
	}
	if _, err := b.w.Signer(issued.ID); err != nil {
		t.Fatalf("the certificate lost its key after a refused delete: %v", err)
	}

	// An unknown id is not found.
	if _, err := b.w.DeleteCSR("nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete unknown: %v, want not found", err)
	}

	events, err := b.st.AuditLog(store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		if strings.HasPrefix(e.Action, "csr.delete") {
			got = append(got, e.Subject+"/"+e.Outcome)
		}
	}
	if strings.Join(got, " ") != issued.ID+"/failure "+pending.ID+"/success" {
		t.Errorf("audit of deletes %q", got)
	}
}
