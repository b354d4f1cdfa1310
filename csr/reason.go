package csr

import (
	"errors"
	"github.com/amtrcs/amtrcs/amt"
)

// Reason is one thing wrong with a request, a delivery or a chain, in the
// shape every refusal of amtrcs takes: the rule, what was seen, what the rule
// wants, and what the user can do about it.
type Reason struct {
	Rule string `json:"rule"`
	Seen string `json:"seen"`
	Want string `json:"want"`
	Fix  string `json:"fix"`
}

// Error puts the reason on one line, so that it can be printed as a refusal.
func (r Reason) Error() string {
	s := r.Rule + ": " + r.Seen
	if r.Want != "" {
		s += "; want " + r.Want
	}
	if r.Fix != "" {
		s += "; fix: " + r.Fix
	}
	return s
}

// ErrUnreadable marks input that is not a certificate delivery at all (wrong
// format, too large, a bomb, a wrong password): the CLI exits 2 on it rather
// than giving a verdict.
var ErrUnreadable = errors.New("unreadable input")

// inputError is a Reason about unreadable input.
type inputError struct{ Reason }

func (e *inputError) Is(target error) bool { return target == ErrUnreadable }

// Unwrap lets callers reach the Reason with errors.As.
func (e *inputError) Unwrap() error { return e.Reason }

func unreadable(rule, seen, want, fix string) error {
	return &inputError{Reason{Rule: rule, Seen: seen, Want: want, Fix: fix}}
}

func asRuleError(err error, target **amt.RuleError) bool { return errors.As(err, target) }
