package amt

import (
	"errors"
	"reflect"
	"strings"
)

// RuleError is a refusal: by a firmware rule, or by any other rule of
// amtrcs, since every refusal takes this one shape. It carries the four
// things a user needs to act, so that callers can show it as one line,
// send it as JSON, or branch on Rule with errors.As. It is an error as a
// value and as a pointer; the firmware rules of this package return
// pointers. Find one inside any error with AsRefusal.
//
// Err is the cause the refusal wraps (a parse error, a failed call): it is
// for logs and errors.Is, never part of the message a user sees, which
// the four fields alone make.
type RuleError struct {
	Rule string `json:"rule"` // which rule, for example "custom root hashes"
	Seen string `json:"seen"` // what was given
	Want string `json:"want"` // what the rule allows
	Fix  string `json:"fix"`  // what the user can do about it
	Err  error  `json:"-"`    // the wrapped cause, never shown to a user
}

// Error puts the refusal on one line, "rule: seen; want W; fix: F"; an
// empty Want or Fix is left out.
func (e RuleError) Error() string {
	s := e.Problem()
	if e.Fix != "" {
		s += "; fix: " + e.Fix
	}
	return s
}

// Problem is the refusal's line without its fix, "rule: seen; want W", for
// callers that show the fix apart (the API's "error" and "fix" fields).
func (e RuleError) Problem() string {
	var b strings.Builder
	b.WriteString(e.Rule)
	if e.Seen != "" {
		b.WriteString(": " + e.Seen)
	}
	if e.Want != "" {
		b.WriteString("; want " + e.Want)
	}
	return b.String()
}

// Unwrap returns the cause, so that errors.Is sees through a refusal.
func (e RuleError) Unwrap() error { return e.Err }

// refusal is what RuleError, *RuleError and any error that embeds one
// (the API's refusal) have, so that one errors.As finds the first of
// them in an error tree.
type refusal interface{ refusal() RuleError }

func (e RuleError) refusal() RuleError { return e }

// AsRefusal finds the first refusal inside err, however deep: behind
// fmt.Errorf's %w, in an errors.Join, or among the reasons of an error
// that unwraps to several (as a preflight refusal does). It is the one
// way the layers above tell a refusal from a failure.
func AsRefusal(err error) (RuleError, bool) {
	var r refusal
	if !errors.As(err, &r) {
		return RuleError{}, false
	}
	// A typed nil in the chain (a nil *RuleError or *APIError) holds no
	// refusal: asking it for one would panic.
	if v := reflect.ValueOf(r); v.Kind() == reflect.Pointer && v.IsNil() {
		return RuleError{}, false
	}
	return r.refusal(), true
}

// Names of the rules a RuleError can carry.
const (
	RuleHashAlgorithm  = "root hash algorithm"
	RuleHashSize       = "root hash size"
	RuleHashName       = "root hash name"
	RuleCustomHashes   = "custom root hashes"
	RuleHashEntries    = "root hash table size"
	RuleDuplicateHash  = "duplicate root hash"
	RuleSHA1Hash       = "SHA-1 root hash"
	RuleHashNotPresent = "root hash not in table"
	RuleAMTVersion     = "AMT version"
)
