package provisioning

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"
)

// verifiedChains remembers the device-identity chains that verified, so
// that the same firmware presenting the same chain again (four TLS
// handshakes in one TLS-based activation, the next session of a device)
// is not verified again: each verification is several P-384 signature
// checks, which were 40 % of the server's CPU in TLS-based setup. Only
// successes are kept, with the time window in which the verified chain's
// every certificate is valid: outside it the chain is verified afresh. The
// roots and pins a chain is verified against are the engine's, fixed at
// New, so a chain's bytes are the whole question.
type verifiedChains struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]validWindow
}

// maxVerifiedChains bounds the cache; past it the cache starts over. One
// entry a device, and most are used within the minutes of its activation.
const maxVerifiedChains = 4096

type validWindow struct{ notBefore, notAfter time.Time }

// chainSum is the SHA-256 of a chain's certificates, one after the other
// (DER delimits each).
func chainSum(chain []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	for _, c := range chain {
		h.Write(c.Raw)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// verify is verify() for presented, unless presented verified before and
// now falls in that chain's validity.
func (v *verifiedChains) verify(presented []*x509.Certificate, now time.Time, verify func() ([][]*x509.Certificate, error)) error {
	key := chainSum(presented)
	v.mu.Lock()
	w, ok := v.m[key]
	v.mu.Unlock()
	if ok && !now.Before(w.notBefore) && !now.After(w.notAfter) {
		return nil
	}
	chains, err := verify()
	if err != nil || len(chains) == 0 {
		return err
	}
	w = validWindow{}
	for i, c := range chains[0] {
		if i == 0 || c.NotBefore.After(w.notBefore) {
			w.notBefore = c.NotBefore
		}
		if i == 0 || c.NotAfter.Before(w.notAfter) {
			w.notAfter = c.NotAfter
		}
	}
	v.mu.Lock()
	if v.m == nil || len(v.m) >= maxVerifiedChains {
		v.m = make(map[[sha256.Size]byte]validWindow)
	}
	v.m[key] = w
	v.mu.Unlock()
	return nil
}
