package amt

import "crypto/tls"

// rsaKeyExchangeSuites are the suites AMT 11 and 12 firmware offers on port
// 16993: RSA key exchange only, which Go's crypto/tls no longer offers by
// default. The set is the one a hardware-proven WS-MAN client adds for
// those devices (go-wsman-messages pkg/wsman/client/wsman.go,
// AllowInsecureCipherSuites).
var rsaKeyExchangeSuites = []uint16{
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

// LegacyCipherSuites returns the RSA key-exchange suites firmware of
// version v needs, or nil when Go's defaults reach it. An unknown version
// (zero: a legacy hello device before CIM_SoftwareIdentity is read) gets
// them too: only old firmware sends hellos.
func LegacyCipherSuites(v Version) []uint16 {
	if v.Major <= 12 {
		return append([]uint16(nil), rsaKeyExchangeSuites...)
	}
	return nil
}

// ClientCipherSuites is what a client offers firmware of version v: nil
// (Go's defaults) from AMT 16, else Go's default TLS 1.2 suites followed by
// the RSA key-exchange suites the firmware needs, so that a firmware
// update that adds ECDHE is still met with ECDHE.
func ClientCipherSuites(v Version) []uint16 {
	legacy := LegacyCipherSuites(v)
	if legacy == nil {
		return nil
	}
	var out []uint16
	for _, s := range tls.CipherSuites() {
		out = append(out, s.ID)
	}
	return append(out, legacy...)
}
