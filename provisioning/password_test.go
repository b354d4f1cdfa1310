package provisioning

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckPassword(t *testing.T) {
	tests := map[string]struct {
		pw   string
		ok   bool
		seen string
	}{
		"strong":        {"Aa1!aaaa", true, ""},
		"too short":     {"Aa1!aa", false, "6-character"},
		"too long":      {"Aa1!" + strings.Repeat("a", 29), false, "33-character"},
		"no digit":      {"Aaaa!aaa", false, "without a digit"},
		"no upper":      {"aa1!aaaa", false, "without an upper-case letter"},
		"no lower":      {"AA1!AAAA", false, "without a lower-case letter"},
		"no symbol":     {"Aa1aaaaa", false, "without a symbol"},
		"colon":         {"Aa1!aa:a", false, `':'`},
		"comma":         {"Aa1!aa,a", false, `','`},
		"quote":         {`Aa1!aa"a`, false, `'"'`},
		"non-ascii":     {"Aa1!aaaé", false, "outside printable ASCII"},
		"space":         {"Aa1! aaa", false, "outside printable ASCII"},
		"empty":         {"", false, "0-character"},
		"exactly 32 ok": {"Aa1!" + strings.Repeat("b", 28), true, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckPassword(tc.pw)
			if tc.ok {
				if err != nil {
					t.Fatalf("CheckPassword: %v", err)
				}
				return
			}
			var r Reason
			if !errors.As(err, &r) {
				t.Fatalf("CheckPassword = %v, want a Reason", err)
			}
			if r.Rule != RulePasswordStrength || !strings.Contains(r.Seen, tc.seen) || r.Want == "" || r.Fix == "" {
				t.Errorf("reason = %+v, want rule %q and seen containing %q", r, RulePasswordStrength, tc.seen)
			}
			if len(tc.pw) >= 4 && strings.Contains(err.Error(), tc.pw) {
				t.Errorf("error repeats the password: %v", err)
			}
		})
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range []int{0, 8, 16, 24, 32} {
		for range 50 {
			pw, err := GeneratePassword(n)
			if err != nil {
				t.Fatal(err)
			}
			want := n
			if n == 0 {
				want = DefaultPasswordLength
			}
			if len(pw) != want {
				t.Fatalf("len = %d, want %d", len(pw), want)
			}
			if err := CheckPassword(pw); err != nil {
				t.Fatalf("generated password fails the rule: %v", err)
			}
			if seen[pw] {
				t.Fatalf("generated the same password twice")
			}
			seen[pw] = true
		}
	}
	for _, n := range []int{7, 33, -1} {
		if _, err := GeneratePassword(n); err == nil {
			t.Errorf("GeneratePassword(%d) succeeded, want an error", n)
		}
	}
}
