package csr

import (
	"errors"

	"github.com/amtrcs/amtrcs/amt"
)

// The workshop refuses with amt.RuleError, the one shape of every refusal
// of amtrcs: the rule, what was seen, what the rule wants, and what the
// user can do about it. The chain rules it applies are amt's.

// ErrUnreadable marks input that is not a certificate delivery at all (wrong
// format, too large, a bomb, a wrong password): the CLI exits 2 on it rather
// than giving a verdict.
var ErrUnreadable = errors.New("unreadable input")

// inputError is a refusal of unreadable input.
type inputError struct{ amt.RuleError }

func (e *inputError) Is(target error) bool { return target == ErrUnreadable }

// Unwrap lets callers reach the amt.RuleError with errors.As.
func (e *inputError) Unwrap() error { return e.RuleError }

func unreadable(rule, seen, want, fix string) error {
	return &inputError{amt.RuleError{Rule: rule, Seen: seen, Want: want, Fix: fix}}
}
