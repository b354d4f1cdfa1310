package wsman

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkEncodeEnvelope(b *testing.B) {
	b.Run("request/AdminSetup", func(b *testing.B) {
		m := &Message{Action: MethodAction(ResourceHostBasedSetupService, "AdminSetup"), ResourceURI: ResourceHostBasedSetupService, MessageID: "uuid:1",
			Body: &AdminSetupInput{NetAdminPassEncryptionType: 2, NetworkAdminPassword: "7063f2d80585a760ecb6d00d5909a8ab", McNonce: "AAECAwQFBgcICQoLDA0ODxAREhM=", SigningAlgorithm: 2, DigitalSignature: "c2lnbmF0dXJl"}}
		b.ReportAllocs()
		for b.Loop() {
			if err := m.Encode(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("response/GeneralSettings", func(b *testing.B) {
		gs := loadFixture[GeneralSettings](b, "amt/general/get.xml")
		h := ResponseHeader{Action: ResponseAction(ActionGet), RelatesTo: "1", MessageID: "uuid:2", ResourceURI: ResourceGeneralSettings}
		b.ReportAllocs()
		for b.Loop() {
			if err := WriteResponse(io.Discard, h, gs); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	cases := []struct {
		name string
		file string
		mk   func() any
	}{
		{"GeneralSettings", "amt/general/get.xml", func() any { return &GeneralSettings{} }},
		{"PullCertificates", "amt/publickey/certificate/pull.xml", func() any { return &PullResponse[PublicKeyCertificate]{} }},
		{"AdminSetupOutput", "ips/hostbasedsetup/adminsetup.xml", func() any { return &ReturnOutput{} }},
	}
	for _, c := range cases {
		data, err := os.ReadFile(filepath.Join(responsesDir, c.file))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := DecodeEnvelope(bytes.NewReader(data), Limits{}, c.mk()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchAdminSetup is the largest request body of an activation.
func benchAdminSetup() *AdminSetupInput {
	return &AdminSetupInput{NetAdminPassEncryptionType: 2, NetworkAdminPassword: "7063f2d80585a760ecb6d00d5909a8ab", McNonce: "AAECAwQFBgcICQoLDA0ODxAREhM=", SigningAlgorithm: 2, DigitalSignature: "c2lnbmF0dXJl"}
}

// benchMux serves the calls the benchmarks make: Get of GeneralSettings,
// AdminSetup (which decodes its input), and an enumeration of certificates.
func benchMux(b *testing.B) *Mux {
	b.Helper()
	gs := loadFixture[GeneralSettings](b, "amt/general/get.xml")
	pull := loadFixture[PullResponse[PublicKeyCertificate]](b, "amt/publickey/certificate/pull.xml")
	certs := make([]any, len(pull.Items.Items))
	for i := range pull.Items.Items {
		certs[i] = &pull.Items.Items[i]
	}
	m := NewMux()
	m.Handle(ResourceGeneralSettings, ActionGet, static(gs))
	m.HandleMethod(ResourceHostBasedSetupService, "AdminSetup", func(_ context.Context, r *Request) (any, error) {
		var in AdminSetupInput
		if err := r.Decode(&in); err != nil {
			return nil, err
		}
		return NewReturnOutput(ResourceHostBasedSetupService, "AdminSetup", 0), nil
	})
	m.HandleEnumeration(ResourcePublicKeyCertificate, func(context.Context, *Request) ([]any, error) { return certs, nil })
	return m
}

func encodeRequest(b *testing.B, m *Message) []byte {
	b.Helper()
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkMux is the server side of one call, in process: decode the
// request, run the handler, encode the response.
func BenchmarkMux(b *testing.B) {
	m := benchMux(b)
	cases := []struct {
		name string
		req  []byte
	}{
		{"Get/GeneralSettings", encodeRequest(b, &Message{Action: ActionGet, ResourceURI: ResourceGeneralSettings, MessageID: "uuid:1"})},
		{"Invoke/AdminSetup", encodeRequest(b, &Message{Action: MethodAction(ResourceHostBasedSetupService, "AdminSetup"), ResourceURI: ResourceHostBasedSetupService, MessageID: "uuid:2", Body: benchAdminSetup()})},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				m.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/wsman", bytes.NewReader(c.req)))
				if rec.Code != http.StatusOK {
					b.Fatalf("HTTP %d: %s", rec.Code, rec.Body.Bytes())
				}
			}
		})
	}
	b.Run("EnumeratePull/Certificates", func(b *testing.B) {
		enum := encodeRequest(b, &Message{Action: ActionEnumerate, ResourceURI: ResourcePublicKeyCertificate, MessageID: "uuid:3", Body: &EnumerateRequest{}})
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			m.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/wsman", bytes.NewReader(enum)))
			var er EnumerateResponse
			if _, err := DecodeEnvelope(rec.Body, Limits{}, &er); err != nil {
				b.Fatal(err)
			}
			pull := encodeRequest(b, &Message{Action: ActionPull, ResourceURI: ResourcePublicKeyCertificate, MessageID: "uuid:4", Body: &PullRequest{EnumerationContext: er.EnumerationContext, MaxElements: 999}})
			rec = httptest.NewRecorder()
			m.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/wsman", bytes.NewReader(pull)))
			if rec.Code != http.StatusOK {
				b.Fatalf("HTTP %d: %s", rec.Code, rec.Body.Bytes())
			}
		}
	})
}

// muxTransport hands each request straight to a Mux, so a client benchmark
// measures WS-MAN and digest work rather than sockets.
type muxTransport struct{ h http.Handler }

func (t muxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	res := rec.Result()
	res.Request = r
	return res, nil
}

func benchAuth() *DigestAuth {
	ha1 := HA1(testUser, testRealm, testPassword)
	return &DigestAuth{Realm: testRealm, Lookup: func(u string) (string, bool) { return ha1, u == testUser }}
}

// BenchmarkClientDo is one call from the client's side with digest
// authentication on: encode, digest, the Mux's work, decode.
func BenchmarkClientDo(b *testing.B) {
	m := benchMux(b)
	m.Auth = benchAuth()
	c, err := NewClient("http://device.invalid:16992/wsman", testUser, testPassword, WithTransport(muxTransport{m}))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("Get/GeneralSettings", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.GetGeneralSettings(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Invoke/AdminSetup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out ReturnOutput
			if err := c.Invoke(ctx, ResourceHostBasedSetupService, "AdminSetup", benchAdminSetup(), &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("EnumerateAll/Certificates", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			certs, err := EnumerateAll[PublicKeyCertificate](ctx, c, ResourcePublicKeyCertificate)
			if err != nil || len(certs) == 0 {
				b.Fatal(len(certs), err)
			}
		}
	})
}

// BenchmarkDigestVerify is the server's check of one authorised request.
// Each nonce count is used once, so the headers are made ahead in batches.
func BenchmarkDigestVerify(b *testing.B) {
	a := benchAuth()
	ha1 := HA1(testUser, testRealm, testPassword)
	ha2 := md5hex("POST:/wsman")
	const batch = 4096
	headers := make([]string, 0, batch)
	refill := func() {
		nonce := a.newNonce()
		headers = headers[:0]
		for nc := 1; nc <= batch; nc++ {
			ncs := fmt.Sprintf("%08x", nc)
			resp := md5hex(ha1 + ":" + nonce + ":" + ncs + ":0a4f113b:auth:" + ha2)
			headers = append(headers, fmt.Sprintf(`Digest username=%q, realm=%q, nonce=%q, uri="/wsman", qop=auth, nc=%s, cnonce="0a4f113b", response=%q`, testUser, testRealm, nonce, ncs, resp))
		}
	}
	refill()
	r := httptest.NewRequest(http.MethodPost, "/wsman", nil)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i == len(headers) {
			b.StopTimer()
			refill()
			i = 0
			b.StartTimer()
		}
		r.Header.Set("Authorization", headers[i])
		i++
		if _, _, ok := a.verify(r); !ok {
			b.Fatal("verify refused a valid header")
		}
	}
}
