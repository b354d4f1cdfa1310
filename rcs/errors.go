package rcs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/store"
)

// APIError is the body of every refusal: what went wrong in one line, the
// rule it broke, what was seen, what was wanted and how to fix it.
type APIError struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
	Rule    string `json:"rule,omitempty"`
	Seen    string `json:"seen,omitempty"`
	Want    string `json:"want,omitempty"`
	Fix     string `json:"fix,omitempty"`
}

func (e *APIError) Error() string {
	s := e.Message
	if e.Fix != "" {
		s += "; fix: " + e.Fix
	}
	return s
}

func apiErr(status int, rule, seen, want, fix string) *APIError {
	msg := rule
	if seen != "" {
		msg = fmt.Sprintf("%s: %s", rule, seen)
	}
	if want != "" {
		msg += ", want " + want
	}
	return &APIError{Status: status, Message: msg, Rule: rule, Seen: seen, Want: want, Fix: fix}
}

// toAPIError maps an error from the packages below to a status and the
// reason the caller can act on.
func toAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	if r, ok := reasonOf(err); ok {
		return &APIError{Status: http.StatusUnprocessableEntity, Message: err.Error(), Rule: r.Rule, Seen: r.Seen, Want: r.Want, Fix: r.Fix}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &APIError{Status: http.StatusNotFound, Message: err.Error(), Rule: "not found", Fix: "check the id with the list endpoint"}
	case errors.Is(err, store.ErrConflict):
		return &APIError{Status: http.StatusConflict, Message: err.Error(), Rule: "already exists", Fix: "use PUT to replace it, or another name"}
	case errors.Is(err, store.ErrIDTooLong):
		return &APIError{Status: http.StatusBadRequest, Message: err.Error(), Rule: "name length", Want: fmt.Sprintf("at most %d bytes", store.MaxIDLen), Fix: "use a shorter name or id"}
	case errors.Is(err, provisioning.ErrBusy):
		return &APIError{Status: http.StatusConflict, Message: err.Error(), Rule: "one session per device", Fix: "wait for the running job to finish"}
	}
	return &APIError{Status: http.StatusInternalServerError, Message: err.Error(), Rule: "internal error", Fix: "see the server log"}
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

// reasonOf finds the first rule-seen-want-fix reason inside err.
func reasonOf(err error) (amt.RuleError, bool) {
	var pe *provisioning.PreflightError
	if errors.As(err, &pe) && len(pe.Reasons) > 0 {
		return pe.Reasons[0], true
	}
	var se *provisioning.StateError
	if errors.As(err, &se) {
		return se.Reason, true
	}
	var r amt.RuleError
	if errors.As(err, &r) {
		return r, true
	}
	var rp *amt.RuleError
	if errors.As(err, &rp) && rp != nil {
		return *rp, true
	}
	return amt.RuleError{}, false
}
