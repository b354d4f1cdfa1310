package amtsim_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/amtsim/simtest"
)

const testSuffix = "corp.example.com"

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustVersion(t *testing.T, s string) amt.Version {
	t.Helper()
	v, err := amt.ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// trust is the custom hash entry for the vendor's root.
func trust(v *simtest.Vendor) amtsim.CustomHash {
	return amtsim.CustomHash{Name: "simtest root", Algorithm: amt.HashSHA256, Hash: v.RootHash()}
}

// newDevice is a device in pre-provisioning whose suffix is testSuffix and
// that trusts the vendor's root (when v is not nil).
func newDevice(t *testing.T, version string, v *simtest.Vendor, edit func(*amtsim.Config)) *amtsim.Device {
	t.Helper()
	cfg := amtsim.Config{Version: mustVersion(t, version), DHCPSuffix: testSuffix, OSHostname: "pc01"}
	if v != nil {
		cfg.CustomHashes = []amtsim.CustomHash{trust(v)}
	}
	if edit != nil {
		edit(&cfg)
	}
	d, err := amtsim.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

func lmsDialer(d *amtsim.Device, port int) wsman.ClientOption {
	return wsman.WithDialer(func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialLMS(ctx, port) })
}

// localClient is what an RCS uses before provisioning: the local system
// account from the host interface, over LMS port 16992.
func localClient(t *testing.T, d *amtsim.Device) *wsman.Client {
	t.Helper()
	acct, err := hostif.NewClient(d.Host()).LocalSystemAccount(ctx(t))
	if err != nil {
		t.Fatalf("LocalSystemAccount: %v", err)
	}
	return client(t, d, acct.Username, acct.Password)
}

func client(t *testing.T, d *amtsim.Device, user, pass string) *wsman.Client {
	t.Helper()
	if d.AMTState().TLSEnforced() {
		return tlsClient(t, d, user, pass, nil, nil)
	}
	c, err := wsman.NewClient("http://localhost:16992/wsman", user, pass, lmsDialer(d, amtsim.PortHTTP))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tlsClient speaks to port 16993 with the vendor chain as client
// certificate, pinning the device certificate's SHA-256 (as the RCS pins the
// hash StartConfigurationHBased returned).
func tlsClient(t *testing.T, d *amtsim.Device, user, pass string, cert *tls.Certificate, pin []byte) *wsman.Client {
	t.Helper()
	cfg := &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // the device certificate is pinned below instead
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if pin != nil && !bytes.Equal(amtsim.CertHash(raw[0]), pin) {
				return errors.New("device certificate hash differs from the pinned one")
			}
			return nil
		},
	}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c, err := wsman.NewClient("https://localhost:16993/wsman", user, pass, lmsDialer(d, amtsim.PortTLS), wsman.WithTLSConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// code is the ReturnValue a call got: 0 for success, the code of a
// *wsman.ReturnError; anything else fails the test.
func code(t *testing.T, err error) amt.ReturnCode {
	t.Helper()
	if err == nil {
		return 0
	}
	var re *wsman.ReturnError
	if errors.As(err, &re) {
		return re.Code
	}
	t.Fatalf("want a return code, got %v", err)
	return 0
}

// sendChain sends the certificates with the flags AddNextCertInChain takes
// and returns each return code.
func sendChain(t *testing.T, c *wsman.Client, chain []*x509.Certificate) []amt.ReturnCode {
	t.Helper()
	var out []amt.ReturnCode
	for i, cert := range chain {
		rc := code(t, c.AddNextCertInChain(ctx(t), cert.Raw, i == 0, i == len(chain)-1))
		out = append(out, rc)
		if rc != 0 {
			break
		}
	}
	return out
}

func mcNonce(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// adminSetup is AdminSetup as an RCS sends it: read the nonce, sign it with
// the leaf key, send the digest A1 of the new password.
func adminSetup(t *testing.T, c *wsman.Client, v *simtest.Vendor, realm, password string) error {
	t.Helper()
	hbs, err := c.GetHostBasedSetupService(ctx(t))
	if err != nil {
		t.Fatalf("Get IPS_HostBasedSetupService: %v", err)
	}
	nonce, err := hbs.Nonce()
	if err != nil || len(nonce) != 20 {
		t.Fatalf("ConfigurationNonce %q: %v", hbs.ConfigurationNonce, err)
	}
	mc := mcNonce(t)
	return c.AdminSetup(ctx(t), &wsman.AdminSetupInput{
		NetAdminPassEncryptionType: wsman.PassEncryptionHTTPDigestMD5A1,
		NetworkAdminPassword:       amt.NetworkAdminPassword(realm, password),
		McNonce:                    base64.StdEncoding.EncodeToString(mc),
		SigningAlgorithm:           wsman.SigningAlgorithmRSASHA256,
		DigitalSignature:           base64.StdEncoding.EncodeToString(v.SignSetup(t, nonce, mc)),
	})
}

// wantRefused checks that the device's last error names the rule.
func wantRefused(t *testing.T, d *amtsim.Device, rule string) {
	t.Helper()
	if rule == "" {
		return
	}
	if le := d.LastError(); !strings.Contains(le, rule+":") {
		t.Errorf("last error %q does not name rule %q", le, rule)
	}
}

func fmtCodes(cs []amt.ReturnCode) string { return fmt.Sprint(cs) }
