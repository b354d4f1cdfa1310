package amt

import (
	"errors"
	"fmt"
	"testing"
)

// TestRuleErrorLine pins the one line every refusal of amtrcs prints, and
// that a refusal is found as a value or as a pointer.
func TestRuleErrorLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		re   RuleError
		want string
	}{
		{RuleError{Rule: RuleChainLength, Seen: "5 certificates", Want: "at most 4", Fix: "ask for fewer intermediates"}, "chain length: 5 certificates; want at most 4; fix: ask for fewer intermediates"},
		{RuleError{Rule: RuleMarking, Seen: `OU "x"`}, `AMT marking: OU "x"`},
		{RuleError{Rule: RuleKeyType, Seen: "ECDSA", Fix: "use RSA"}, "key type: ECDSA; fix: use RSA"},
	} {
		if got := tc.re.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	var v RuleError
	if !errors.As(fmt.Errorf("check: %w", RuleError{Rule: RuleValidity}), &v) || v.Rule != RuleValidity {
		t.Errorf("a wrapped value is not found as a RuleError")
	}
	var p *RuleError
	if !errors.As(fmt.Errorf("check: %w", &RuleError{Rule: RuleValidity}), &p) || p.Rule != RuleValidity {
		t.Errorf("a wrapped pointer is not found as a *RuleError")
	}
}

// A typed nil in an error chain holds no refusal; asking must not panic.
func TestAsRefusalTypedNil(t *testing.T) {
	var p *RuleError
	if _, ok := AsRefusal(p); ok {
		t.Error("a nil *RuleError was taken for a refusal")
	}
	type wrapper struct{ RuleError }
	var w *wrapper
	if _, ok := AsRefusal(fmt.Errorf("wrapped: %w", w)); ok {
		t.Error("a nil embedding pointer was taken for a refusal")
	}
	if r, ok := AsRefusal(fmt.Errorf("x: %w", RuleError{Rule: "r", Seen: "s"})); !ok || r.Rule != "r" {
		t.Errorf("AsRefusal = %+v, %v", r, ok)
	}
}
