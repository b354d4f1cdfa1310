package rcs

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/amtrcs/amtrcs/agent/wire"
)

// FuzzDecodeJSON feeds the REST bodies' one decoder: it never panics, and
// what it accepts is one valid UTF-8 JSON value that decodes again after a
// round trip. The seeds (f.Add and testdata/fuzz) run with the normal tests.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"name":"acm","mode":"acm","admin_password_value":"x"}`,
		`{"name":"corp","suffixes":["corp.example.com"],"cert_id":"c1","profile":"acm"}`,
		`{"token":"amtrcs-enroll-0123456789abcdef.abc","hostname":"pc1"}`,
		`{"ttl":"24h"}`, `{"profile":"acm"}`, `{}`, ` {} `, `{}{}`, `{} x`, `[]`, `null`,
		"{\"name\":\"\xff\"}", `{"name":"\ud800"}`, `{"unknown":1}`, `{"ttl":`, "",
	} {
		f.Add([]byte(s))
	}
	targets := []func() any{
		func() any { return new(profileRequest) },
		func() any { return new(Domain) },
		func() any { return new(wire.EnrollRequest) },
		func() any { return new(TokenRequest) },
		func() any { return new(activateRequest) },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mk := range targets {
			v := mk()
			if err := decodeJSON(data, v); err != nil {
				if toAPIError(err).Status != 400 {
					t.Fatalf("refusal with status %d, want 400: %v", toAPIError(err).Status, err)
				}
				continue
			}
			if !utf8.Valid(data) || !json.Valid(data) {
				t.Fatalf("accepted %q: not one valid UTF-8 JSON value", data)
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("accepted %q, which does not encode again: %v", data, err)
			}
			if err := decodeJSON(again, mk()); err != nil {
				t.Fatalf("accepted %q, but not its own encoding %s: %v", data, again, err)
			}
		}
	})
}
