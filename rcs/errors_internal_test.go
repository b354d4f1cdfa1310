package rcs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/store"
)

// A store refusal of an over-long id reaches the caller as a 400 naming
// the limit, never as an internal error.
func TestIDTooLongIs400(t *testing.T) {
	ae := toAPIError(fmt.Errorf("put device: %w", store.ErrIDTooLong))
	if ae.Status != http.StatusBadRequest || ae.Want == "" {
		t.Fatalf("%+v, want 400 naming the limit", ae)
	}
}

// A token sent without "Bearer " is never echoed in the refusal.
func TestSchemeSeenHidesBareTokens(t *testing.T) {
	const tok = "amtrcs-admin-0123456789abcdef0123456789abcdef"
	for _, h := range []string{tok, tok + " trailing", "Basic " + tok} {
		if got := schemeSeen(h); strings.Contains(got, tok) {
			t.Errorf("schemeSeen(%q) = %q: the token comes back", h, got)
		}
	}
	if got := schemeSeen("Digest username=x"); got != "scheme Digest" {
		t.Errorf("schemeSeen(Digest) = %q", got)
	}
}

// Every error that carries a refusal, however deep and in whichever of
// its shapes, reaches the API as a 4xx whose body names the refusal's
// rule, seen, want and fix; its wrapped cause stays out of the body.
func TestRefusalsReachTheAPI(t *testing.T) {
	first := amt.RuleError{Rule: "first rule", Seen: "seen 1", Want: "want 1", Fix: "fix 1"}
	second := amt.RuleError{Rule: "second rule", Seen: "seen 2", Want: "want 2", Fix: "fix 2"}
	cause := errors.New("the cause, for the log only")
	withCause := first
	withCause.Err = cause
	preflight := &provisioning.PreflightError{Device: "dev", Reasons: []provisioning.Reason{first, second}}
	tests := map[string]error{
		"value":                     first,
		"pointer":                   &first,
		"wrapped twice":             fmt.Errorf("activate dev: %w", fmt.Errorf("step: %w", &first)),
		"joined after a failure":    errors.Join(errors.New("not a refusal"), fmt.Errorf("check: %w", first)),
		"preflight of several":      preflight,
		"preflight wrapped, joined": errors.Join(fmt.Errorf("session: %w", preflight), second),
		"state":                     fmt.Errorf("deactivate: %w", &provisioning.StateError{Device: "dev", Reason: first}),
		"coverage":                  &csr.CoverageError{Reasons: []amt.RuleError{first, second}},
		"with a cause":              fmt.Errorf("import: %w", withCause),
		"an API refusal, wrapped":   fmt.Errorf("bind: %w", apiErr(http.StatusConflict, first.Rule, first.Seen, first.Want, first.Fix)),
	}
	for name, err := range tests {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, err)
			if rec.Code < 400 || rec.Code >= 500 {
				t.Fatalf("status %d, want 4xx", rec.Code)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %s: %v", rec.Body, err)
			}
			want := map[string]string{"rule": first.Rule, "seen": first.Seen, "want": first.Want, "fix": first.Fix}
			for k, v := range want {
				if body[k] != v {
					t.Errorf("%s = %q, want %q (body %s)", k, body[k], v, rec.Body)
				}
			}
			var back APIError
			if err := json.Unmarshal(rec.Body.Bytes(), &back); err != nil || back.Message == "" || strings.Count(back.Error(), "fix: "+first.Fix) != 1 {
				t.Errorf("read back %q (%v), want the message with the fix once", back.Error(), err)
			}
			if strings.Contains(rec.Body.String(), cause.Error()) {
				t.Errorf("the cause reached the user: %s", rec.Body)
			}
			if name == "with a cause" && !errors.Is(toAPIError(err), cause) {
				t.Errorf("the API error lost its cause")
			}
		})
	}
}

// An error that carries no refusal is the one 500, and says where to look.
func TestFailureIs500(t *testing.T) {
	ae := toAPIError(fmt.Errorf("dial: %w", errors.New("connection refused")))
	if ae.Status != http.StatusInternalServerError || ae.Fix == "" {
		t.Fatalf("%+v, want a 500 pointing at the log", ae)
	}
}
