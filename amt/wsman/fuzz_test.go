package wsman

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeEnvelope feeds arbitrary bytes to the decoder with the typed
// targets the client uses. It must never panic, and whatever decodes must
// re-encode into an envelope that decodes again.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, name := range referenceFiles(f) {
		data, err := os.ReadFile(filepath.Join(responsesDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(deepXML(80)))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxBodyBytes: 1 << 16, MaxDepth: 32}
		targets := []func() any{
			func() any { return nil },
			func() any { return &GeneralSettings{} },
			func() any { return &PullResponse[PublicKeyCertificate]{} },
			func() any { return &ResourceCreated{} },
			func() any { return &ReturnOutput{} },
		}
		for _, mk := range targets {
			v := mk()
			h, err := DecodeEnvelope(bytes.NewReader(data), lim, v)
			var f *Fault
			if errors.As(err, &f) {
				var b bytes.Buffer
				if err := WriteResponse(&b, ResponseHeader{Action: f.action()}, f); err != nil {
					t.Fatalf("re-encode fault: %v", err)
				}
				if _, err := DecodeEnvelope(&b, Limits{}, nil); !errors.As(err, new(*Fault)) {
					t.Fatalf("re-encoded fault decodes as %v", err)
				}
				continue
			}
			if err != nil || v == nil {
				continue
			}
			if _, ok := v.(*ReturnOutput); ok {
				// Its element name is whatever was received, possibly
				// not an encodable name.
				continue
			}
			var b bytes.Buffer
			if err := WriteResponse(&b, ResponseHeader{Action: h.Action, RelatesTo: h.RelatesTo, MessageID: h.MessageID, ResourceURI: h.ResourceURI}, v); err != nil {
				t.Fatalf("re-encode %T: %v", v, err)
			}
			if _, err := DecodeEnvelope(bytes.NewReader(b.Bytes()), Limits{}, mk()); err != nil {
				t.Fatalf("re-encoded %T does not decode: %v\n%s", v, err, b.Bytes())
			}
		}
		_, _ = ElementPaths(bytes.NewReader(data), false)
	})
}
