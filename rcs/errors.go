package rcs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/store"
)

// APIError is a refusal of the API: the one refusal (amt.RuleError, whose
// Err keeps the cause for the log) with the HTTP status it maps to and the
// line a user sees. Its JSON is the body of every refusal:
// {"error", "rule", "seen", "want", "fix"}.
type APIError struct {
	Status  int
	Message string // the line a user sees, without the fix
	amt.RuleError
}

// Error is the message and the fix, the fix once: a message that lists
// several refusals (a preflight's) already has each fix in it.
func (e *APIError) Error() string {
	s := e.Message
	if e.Fix != "" && !strings.Contains(s, "fix: "+e.Fix) {
		s += "; fix: " + e.Fix
	}
	return s
}

// apiBody is APIError on the wire: empty fields are left out.
type apiBody struct {
	Message string `json:"error"`
	Rule    string `json:"rule,omitempty"`
	Seen    string `json:"seen,omitempty"`
	Want    string `json:"want,omitempty"`
	Fix     string `json:"fix,omitempty"`
}

// MarshalJSON writes the body of a refusal.
func (e APIError) MarshalJSON() ([]byte, error) {
	return json.Marshal(apiBody{Message: e.Message, Rule: e.Rule, Seen: e.Seen, Want: e.Want, Fix: e.Fix})
}

// UnmarshalJSON reads the body of a refusal, as the CLI does.
func (e *APIError) UnmarshalJSON(b []byte) error {
	var w apiBody
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	e.Message = w.Message
	e.RuleError = amt.RuleError{Rule: w.Rule, Seen: w.Seen, Want: w.Want, Fix: w.Fix}
	return nil
}

// refuse is a refusal of the API with its status; its message is the
// refusal's own line.
func refuse(status int, r amt.RuleError) *APIError {
	return &APIError{Status: status, Message: r.Problem(), RuleError: r}
}

func apiErr(status int, rule, seen, want, fix string) *APIError {
	return refuse(status, amt.RuleError{Rule: rule, Seen: seen, Want: want, Fix: fix})
}

// toAPIError maps an error from the packages below to a status and the
// reason the caller can act on. It is the one place where errors become
// HTTP: an error carrying a refusal anywhere inside it (amt.AsRefusal) is
// a 4xx with that refusal's rule, seen, want and fix, never a 500.
func toAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	if r, ok := amt.AsRefusal(err); ok {
		// The message keeps the context the error gathered on its way
		// up (device, step); the fix is shown once, in its own field.
		msg := strings.TrimSuffix(err.Error(), "; fix: "+r.Fix)
		r.Err = err
		return &APIError{Status: http.StatusUnprocessableEntity, Message: msg, RuleError: r}
	}
	refused := func(status int, rule, want, fix string) *APIError {
		return &APIError{Status: status, Message: err.Error(), RuleError: amt.RuleError{Rule: rule, Want: want, Fix: fix, Err: err}}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return refused(http.StatusNotFound, "not found", "", "check the id with the list endpoint")
	case errors.Is(err, store.ErrConflict):
		return refused(http.StatusConflict, "already exists", "", "use PUT to replace it, or another name")
	case errors.Is(err, store.ErrIDTooLong):
		return refused(http.StatusBadRequest, "name length", fmt.Sprintf("at most %d bytes", store.MaxIDLen), "use a shorter name or id")
	case errors.Is(err, store.ErrIDNotText):
		return refused(http.StatusBadRequest, "name text", "UTF-8 text without NUL bytes", "use a name of printable characters")
	case errors.Is(err, provisioning.ErrBusy):
		return refused(http.StatusConflict, "one session per device", "", "wait for the running job to finish")
	}
	return refused(http.StatusInternalServerError, "internal error", "", "see the server log")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	if rec, ok := w.(*refusalRecorder); ok {
		rec.rule = ae.Rule
	}
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="amtrcs"`)
	}
	writeJSON(w, ae.Status, ae)
}
