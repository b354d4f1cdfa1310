package amt

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// TestIntelOnDieRoot pins the embedded root: its hash, its subject and its
// validity are Intel's, and it signed itself.
func TestIntelOnDieRoot(t *testing.T) {
	c := IntelOnDieRoot()
	sum := sha256.Sum256(c.Raw)
	if got := strings.ToUpper(hex.EncodeToString(sum[:])); got != IntelOnDieRootSHA256 {
		t.Fatalf("embedded root SHA-256 %s, want %s", got, IntelOnDieRootSHA256)
	}
	if got, want := c.Subject.String(), "CN=www.intel.com,OU=OnDie CA Root Cert Signing,O=Intel Corporation,L=Santa Clara,ST=CA,C=US"; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	if !c.NotBefore.Equal(time.Date(2019, 4, 3, 0, 0, 0, 0, time.UTC)) || !c.NotAfter.Equal(time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)) {
		t.Errorf("validity %s to %s, want 2019-04-03 to 2049-12-31", c.NotBefore, c.NotAfter)
	}
	if !c.IsCA || c.CheckSignatureFrom(c) != nil {
		t.Errorf("IsCA %v, self-signature %v", c.IsCA, c.CheckSignatureFrom(c))
	}
}
