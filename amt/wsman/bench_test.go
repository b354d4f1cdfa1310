package wsman

import (
	"bytes"
	"io"
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
