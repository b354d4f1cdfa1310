package provisioning

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
)

// idChain makes a device-identity chain: names[0] is the root, the last the
// leaf. It returns the chain as firmware sends it (leaf first, root not
// sent) and the root.
func idChain(t *testing.T, names []pkix.Name) ([]*x509.Certificate, *x509.Certificate) {
	t.Helper()
	now := time.Now()
	var parent *x509.Certificate
	var parentKey *ecdsa.PrivateKey
	var all []*x509.Certificate
	for i, n := range names {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		leaf := i == len(names)-1
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: n, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			BasicConstraintsValid: true, IsCA: !leaf, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		all = append(all, c)
		parent, parentKey = c, key
	}
	var sent []*x509.Certificate
	for i := len(all) - 1; i >= 1; i-- {
		sent = append(sent, all[i])
	}
	return sent, all[0]
}

func name(cn string, ou ...string) pkix.Name {
	return pkix.Name{CommonName: cn, OrganizationalUnit: ou}
}

// firmwareNames is a chain in the shape rpc-go's tests model for real
// firmware: root, five intermediates (the CSME ROM certificate third from
// the leaf, under an "On Die CSME P" issuer), the leaf.
func firmwareNames(leafCN, romCN, romIssuerOU string) []pkix.Name {
	return []pkix.Name{name("Test On Die Root"), name("On Die CA", "OnDie CA Signing"), name("CSME CA", romIssuerOU),
		name(romCN, "ROM"), name("Kernel CA", "Kernel"), name("IDevID CA", "IDevID"), name(leafCN, "leaf")}
}

// TestVerifyDeviceChain: the firmware's chain arrives without its root and
// verifies to a configured root; its shape is checked as hardware-proven
// clients check it, each refusal naming what was seen.
func TestVerifyDeviceChain(t *testing.T) {
	for label, tc := range map[string]struct {
		names []pkix.Name
		trim  int // certificates dropped from the end of the sent chain
		trust bool
		want  string // "" accepted, else a fragment of the refusal
	}{
		"six without root":         {names: firmwareNames("iAMT CSME IDevID RCFG", "CSME ROM CA", "On Die CSME P_MTL"), trust: true},
		"AMT RCFG leaf":            {names: firmwareNames("AMT RCFG", "CSME ROM DE", "ODCA 2 CSME P"), trust: true},
		"untrusted root":           {names: firmwareNames("AMT RCFG", "CSME ROM CA", "On Die CSME P"), want: "does not verify"},
		"wrong leaf name":          {names: firmwareNames("evil.example.com", "CSME ROM CA", "On Die CSME P"), trust: true, want: `leaf CN "evil.example.com"`},
		"no ROM certificate":       {names: firmwareNames("AMT RCFG", "Some CA", "On Die CSME P"), trust: true, want: `CN "Some CA"`},
		"ROM under another issuer": {names: firmwareNames("AMT RCFG", "CSME ROM CA", "Acme Corp"), trust: true, want: `issuer OU ["Acme Corp"]`},
		"five certificates":        {names: firmwareNames("AMT RCFG", "CSME ROM CA", "On Die CSME P"), trim: 1, trust: true, want: "a chain of 5 certificates"},
	} {
		t.Run(label, func(t *testing.T) {
			sent, root := idChain(t, tc.names)
			sent = sent[:len(sent)-tc.trim]
			opts := Options{}
			if tc.trust {
				opts.DeviceIdentityRoots = []*x509.Certificate{root}
			}
			e := &Engine{opts: opts}
			e.opts.Clock = time.Now
			pin := amt.HashSHA256.Sum(sent[0].Raw)
			err := e.verifyDevice(tls.ConnectionState{PeerCertificates: sent}, pin, amt.HashSHA256)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var r Reason
			if !errors.As(err, &r) || r.Rule != RuleDeviceIdentity || !strings.Contains(r.Error(), tc.want) || r.Fix == "" {
				t.Fatalf("err %v, want a %s refusal naming %q with a fix", err, RuleDeviceIdentity, tc.want)
			}
		})
	}
}

// TestIntelRootBuiltIn: with no root configured, an engine trusts Intel's
// On-Die root, which firmware does not send, and still refuses others.
func TestIntelRootBuiltIn(t *testing.T) {
	e := &Engine{opts: Options{Clock: time.Now}}
	sent, _ := idChain(t, firmwareNames("AMT RCFG", "CSME ROM CA", "On Die CSME P"))
	err := e.verifyDevice(tls.ConnectionState{PeerCertificates: sent}, nil, 0)
	if err == nil || !strings.Contains(err.Error(), "Intel's On-Die CA root (built in)") {
		t.Fatalf("foreign chain: %v", err)
	}
	// The pool holds Intel's root: a chain Intel signed would verify. We
	// cannot make one; check the root verifies as its own chain's anchor.
	ondie := amt.IntelOnDieRoot()
	if err := e.verifyDevice(tls.ConnectionState{PeerCertificates: []*x509.Certificate{ondie}}, nil, 0); err != nil {
		t.Fatalf("Intel's root against the built-in pool: %v", err)
	}
}
