package rcs

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

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
