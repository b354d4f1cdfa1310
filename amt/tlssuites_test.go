package amt

import (
	"crypto/tls"
	"slices"
	"testing"
)

// TestClientCipherSuites: RSA key exchange is added for AMT 11 and 12 (and
// a version not known yet), after Go's defaults, and never for AMT 16+.
func TestClientCipherSuites(t *testing.T) {
	for _, tc := range []struct {
		v   Version
		rsa bool
	}{{Version{}, true}, {Version{Major: 11, Minor: 8}, true}, {Version{Major: 12}, true}, {Version{Major: 16, Minor: 1}, false}, {Version{Major: 19}, false}} {
		got := ClientCipherSuites(tc.v)
		if !tc.rsa {
			if got != nil {
				t.Errorf("AMT %s: %v, want Go's defaults (nil)", tc.v, got)
			}
			continue
		}
		if !slices.Contains(got, tls.TLS_RSA_WITH_AES_128_GCM_SHA256) || !slices.Contains(got, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) {
			t.Errorf("AMT %s: %v, want Go's defaults and the RSA key-exchange suites", tc.v, got)
		}
	}
}
