package rcs

import (
	"fmt"
	"net/http"
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
