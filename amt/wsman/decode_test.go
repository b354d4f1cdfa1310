package wsman

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"encoding/xml"
)

func deepXML(depth int) string {
	return `<s:Envelope xmlns:s="` + NSSOAP + `"><s:Body>` + strings.Repeat("<x>", depth) + strings.Repeat("</x>", depth) + `</s:Body></s:Envelope>`
}

func TestDecodeEnvelopeErrors(t *testing.T) {
	t.Parallel()
	good, err := os.ReadFile(filepath.Join(responsesDir, "amt/general/get.xml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		in     string
		lim    Limits
		target any
		want   error  // sentinel, or nil to match text
		text   string // substring of the error
	}{
		"empty":                 {in: "", want: ErrNotEnvelope},
		"not xml":               {in: "HTTP/1.1 200 OK", want: ErrNotEnvelope},
		"wrong root":            {in: `<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body/></Envelope>`, want: ErrNotEnvelope, text: "soap/envelope/}Envelope"},
		"second root":           {in: string(good) + "<x/>", want: ErrNotEnvelope, text: "second root"},
		"truncated":             {in: string(good[:len(good)/2]), text: "unexpected EOF"},
		"too large":             {in: string(good), lim: Limits{MaxBodyBytes: 512}, want: ErrBodyTooLarge, text: "512 bytes"},
		"too deep":              {in: deepXML(70), want: ErrTooDeep, text: "64 levels"},
		"too deep custom":       {in: deepXML(8), lim: Limits{MaxDepth: 6}, want: ErrTooDeep},
		"body of another class": {in: string(good), target: &HostBasedSetupService{}, text: "expected element type <IPS_HostBasedSetupService>"},
		"bad number":            {in: strings.Replace(string(good), "<g:DDNSTTL>900", "<g:DDNSTTL>nine", 1), target: &GeneralSettings{}, text: "nine"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeEnvelope(strings.NewReader(tc.in), tc.lim, tc.target)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v, want it to mention %q", err, tc.text)
			}
		})
	}
	// Exactly at the limit is fine.
	if _, err := DecodeEnvelope(bytes.NewReader(good), Limits{MaxBodyBytes: int64(len(good))}, &GeneralSettings{}); err != nil {
		t.Errorf("body of exactly the limit: %v", err)
	}
	if _, err := DecodeEnvelope(strings.NewReader(deepXML(60)), Limits{}, nil); err != nil {
		t.Errorf("depth 62 under the default 64: %v", err)
	}
}

func TestMuxLimits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.mux.Limits = Limits{MaxBodyBytes: 4096, MaxDepth: 16}
	ts.mux.HandleMethod(ResourcePublicKeyManagementService, "AddTrustedRootCertificate", static(NewCreatedCertificateOutput("AddTrustedRootCertificate", "Intel(r) AMT Certificate: Handle: 1")))
	ctx := context.Background()

	if id, err := ts.client.AddTrustedRootCertificate(ctx, make([]byte, 1000)); err != nil || id != "Intel(r) AMT Certificate: Handle: 1" {
		t.Fatalf("small certificate: %q, %v", id, err)
	}
	_, err := ts.client.AddTrustedRootCertificate(ctx, make([]byte, 8000))
	var f *Fault
	if !errors.As(err, &f) || f.Subcode != SubcodeEncodingLimit || f.Detail != DetailMaxEnvelopeSize || !strings.Contains(f.Reason, "4096") {
		t.Errorf("large body: %v, want EncodingLimit naming 4096 with MaxEnvelopeSize detail", err)
	}

	// Depth: post a deep envelope by hand (the client never sends one).
	c, _ := ts.newClient(t, testPassword)
	_, err = c.Do(ctx, &Message{Action: ActionPut, ResourceURI: ResourceGeneralSettings, Body: &deepBody{Inner: nest(20)}}, nil)
	if !errors.Is(err, ErrEncodingLimit) || !strings.Contains(err.Error(), "16 levels") {
		t.Errorf("deep body: %v, want EncodingLimit naming 16 levels", err)
	}
}

type deepBody struct {
	XMLName xml.Name `xml:"Deep"`
	Inner   *nested  `xml:"n"`
}

type nested struct {
	N *nested `xml:"n"`
}

func nest(n int) *nested {
	var v *nested
	for range n {
		v = &nested{N: v}
	}
	return v
}

func TestClientResponseLimits(t *testing.T) {
	t.Parallel()
	big := &GeneralSettings{HostName: strings.Repeat("h", 5000)}
	deep := `<s:Envelope xmlns:s="` + NSSOAP + `"><s:Body><AMT_GeneralSettings xmlns="` + ResourceGeneralSettings + `">` +
		strings.Repeat("<x>", 100) + strings.Repeat("</x>", 100) + `</AMT_GeneralSettings></s:Body></s:Envelope>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/soap+xml")
		if r.URL.Query().Get("deep") != "" {
			_, _ = w.Write([]byte(deep))
			return
		}
		_ = WriteResponse(w, ResponseHeader{Action: ResponseAction(ActionGet)}, big)
	}))
	defer srv.Close()
	ctx := context.Background()
	c, err := NewClient(srv.URL+"/wsman", "admin", "pw", WithLimits(Limits{MaxBodyBytes: 2048}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetGeneralSettings(ctx); !errors.Is(err, ErrBodyTooLarge) {
		t.Errorf("large response: %v, want ErrBodyTooLarge", err)
	}
	c, _ = NewClient(srv.URL+"/wsman?deep=1", "admin", "pw")
	if _, err := c.GetGeneralSettings(ctx); !errors.Is(err, ErrTooDeep) {
		t.Errorf("deep response: %v, want ErrTooDeep", err)
	}
}

func TestMuxRefusesNonSOAP(t *testing.T) {
	t.Parallel()
	mux := NewMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/wsman")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: HTTP %d, want 405", res.StatusCode)
	}
	res, err = http.Post(srv.URL+"/wsman", "application/soap+xml", strings.NewReader("not xml"))
	if err != nil {
		t.Fatal(err)
	}
	h, derr := DecodeEnvelope(res.Body, Limits{}, nil)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !errors.Is(derr, ErrSchemaValidation) || h.Action != ActionFault {
		t.Errorf("garbage: HTTP %d, %v, action %q; want 400 SchemaValidationError", res.StatusCode, derr, h.Action)
	}
}
