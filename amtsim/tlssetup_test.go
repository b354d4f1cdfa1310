package amtsim_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/amtsim/simtest"
)

// startTLSSetup announces the vendor's leaf over the host interface and
// returns the device certificate hash to pin.
func startTLSSetup(t *testing.T, d *amtsim.Device, leafHash []byte, suffixes ...string) []byte {
	t.Helper()
	if suffixes == nil {
		suffixes = []string{testSuffix}
	}
	res, err := hostif.NewClient(d.Host()).StartConfigurationHBased(ctx(t), hostif.StartConfig{Algorithm: amt.HashSHA256, LeafHash: leafHash, Suffixes: suffixes})
	if err != nil {
		t.Fatalf("StartConfigurationHBased: %v (%s)", err, d.LastError())
	}
	return res.CertHash
}

// TestTLSBasedSetup is the AMT 19 path as an RCS drives it: announce the
// leaf over the host interface, open mutual TLS on 16993 pinning the
// device's certificate, then SetAdminAclEntryEx, CommitChanges (2057 until
// the MEBx password is set), SetMEBxPassword and CommitChanges.
func TestTLSBasedSetup(t *testing.T) {
	t.Parallel()
	v := simtest.NewVendor(t, simtest.Options{})
	d := newDevice(t, "19.0.5", v, nil)
	// AMT 19 enforces TLS on its local ports: 16992 is closed, and 16993
	// takes the local system account over the device's identity chain,
	// without a client certificate, until a setup starts.
	if _, err := d.DialLMS(ctx(t), amtsim.PortHTTP); !errors.Is(err, amtsim.ErrPortClosed) {
		t.Fatalf("16992 with TLS enforced: %v, want %v", err, amtsim.ErrPortClosed)
	}
	if _, err := localClient(t, d).GetGeneralSettings(ctx(t)); err != nil {
		t.Fatalf("16993 before setup, local system account: %v", err)
	}
	pin := startTLSSetup(t, d, v.LeafHash())
	if st, _ := d.State(); st != amt.InProvisioning {
		t.Fatalf("state after start %v", st)
	}
	cert := v.TLSCertificate()
	setup := tlsClient(t, d, "admin", "", &cert, pin)
	gs, err := setup.GetGeneralSettings(ctx(t))
	if err != nil {
		t.Fatalf("GetGeneralSettings in the setup session: %v", err)
	}
	const password = "N3w-Admin-Pass"
	if rc := code(t, setup.SetAdminAclEntryEx(ctx(t), "admin", b64(amt.DigestPassword("admin", gs.DigestRealm, password)))); rc != 0 {
		t.Fatalf("SetAdminAclEntryEx %d: %s", rc, d.LastError())
	}
	// From here the session's digest user is admin with the new password.
	if _, err := setup.GetGeneralSettings(ctx(t)); !errors.As(err, new(*wsman.AuthError)) {
		t.Fatalf("empty password after SetAdminAclEntryEx: %v, want an AuthError", err)
	}
	admin := tlsClient(t, d, "admin", password, &cert, pin)
	if rc := code(t, admin.CommitChanges(ctx(t))); rc != amt.PTDataMissing {
		t.Fatalf("CommitChanges without MEBx password: %d, want %d", rc, amt.PTDataMissing)
	}
	if rc := code(t, admin.SetMEBxPassword(ctx(t), "Mebx-Pa55!")); rc != 0 {
		t.Fatalf("SetMEBxPassword %d: %s", rc, d.LastError())
	}
	if rc := code(t, admin.CommitChanges(ctx(t))); rc != 0 {
		t.Fatalf("CommitChanges %d: %s", rc, d.LastError())
	}
	h := hostif.NewClient(d.Host())
	if m, err := h.ControlMode(ctx(t)); err != nil || m != amt.ControlACM {
		t.Fatalf("control mode %v, %v", m, err)
	}
	if s, err := h.ProvisioningState(ctx(t)); err != nil || s != amt.PostProvisioning {
		t.Fatalf("provisioning state %v, %v", s, err)
	}
	// After the commit 16993 presents one self-signed certificate until a
	// TLS certificate is configured (what rpc-go accepts once the control
	// mode changed), and takes the admin user.
	var peers [][]byte
	cfg := &tls.Config{InsecureSkipVerify: true, VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error { peers = raw; return nil }} //nolint:gosec // the test looks at the certificate itself
	c, err := wsman.NewClient("https://localhost:16993/wsman", "admin", password, lmsDialer(d, amtsim.PortTLS), wsman.WithTLSConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSetupAndConfigurationService(ctx(t)); err != nil {
		t.Fatalf("admin on 16993 after TLS setup: %v", err)
	}
	if len(peers) != 1 {
		t.Fatalf("16993 after commit presents %d certificates, want one self-signed", len(peers))
	}
	if _, err := d.DialLMS(ctx(t), amtsim.PortHTTP); !errors.Is(err, amtsim.ErrPortClosed) {
		t.Fatalf("16992 after commit: %v, want closed (TLS enforced)", err)
	}
}

// TestTLSSetupRefusals shows each refusal of the setup port as the TLS
// alert the client gets, and the rule the device records.
func TestTLSSetupRefusals(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		opts     simtest.Options
		announce func(v *simtest.Vendor) []byte
		suffixes []string
		noCert   bool
		untrust  bool
		rule     string
		alert    string // default "bad certificate"
	}{
		"another leaf than announced": {announce: func(*simtest.Vendor) []byte {
			return simtest.NewVendor(t, simtest.Options{CN: "rcs2.corp.example.com"}).LeafHash()
		}, rule: amtsim.RuleLeafHash},
		"suffix not among those announced": {suffixes: []string{"branch.example.net"}, rule: amtsim.RuleDomainSuffix},
		"root not in the table":            {untrust: true, rule: amtsim.RuleRootHash},
		"SHA-1 intermediate":               {opts: simtest.Options{SHA1Intermediate: true}, rule: amtsim.RuleSHA1Chain},
		"no AMT marking":                   {opts: simtest.Options{Marking: simtest.MarkNone}, rule: amtsim.RuleLeafMarking},
		"chain too long":                   {opts: simtest.Options{Intermediates: 3}, rule: amtsim.RuleChainLength},
		"no client certificate":            {noCert: true, alert: "handshake failure"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := simtest.NewVendor(t, tc.opts)
			d := newDevice(t, "19.0.5", v, func(c *amtsim.Config) {
				if tc.untrust {
					c.CustomHashes = nil
				}
			})
			hash := v.LeafHash()
			if tc.announce != nil {
				hash = tc.announce(v)
			}
			pin := startTLSSetup(t, d, hash, tc.suffixes...)
			var cert *tls.Certificate
			if !tc.noCert {
				c := v.TLSCertificate()
				cert = &c
			}
			_, err := tlsClient(t, d, "admin", "", cert, pin).GetGeneralSettings(ctx(t))
			alert := tc.alert
			if alert == "" {
				alert = "bad certificate"
			}
			if err == nil || !strings.Contains(err.Error(), "remote error: tls: "+alert) {
				t.Fatalf("got %v, want the TLS alert %s", err, alert)
			}
			wantRefused(t, d, tc.rule)
			if st, _ := d.State(); st != amt.InProvisioning {
				t.Fatalf("a refused handshake changed the state to %v", st)
			}
		})
	}
}

// TestTLSSetupCalls covers the host-side and in-session rules around
// TLS-based setup.
func TestTLSSetupCalls(t *testing.T) {
	t.Parallel()
	t.Run("StartConfigurationHBased before AMT 19", func(t *testing.T) {
		t.Parallel()
		v := simtest.NewVendor(t, simtest.Options{})
		d := newDevice(t, "16.1.27", v, nil)
		_, err := hostif.NewClient(d.Host()).StartConfigurationHBased(ctx(t), hostif.StartConfig{Algorithm: amt.HashSHA256, LeafHash: v.LeafHash(), Suffixes: []string{testSuffix}})
		var se *hostif.StatusError
		if !errors.As(err, &se) || se.Status != amt.HostInvalidAMTMode {
			t.Fatalf("got %v, want status %d", err, amt.HostInvalidAMTMode)
		}
		wantRefused(t, d, amtsim.RuleTLSSetupVersion)
	})
	t.Run("StopConfiguration returns to pre-provisioning", func(t *testing.T) {
		t.Parallel()
		v := simtest.NewVendor(t, simtest.Options{})
		d := newDevice(t, "19.0.5", v, nil)
		h := hostif.NewClient(d.Host())
		var se *hostif.StatusError
		if err := h.StopConfiguration(ctx(t)); !errors.As(err, &se) || se.Status != amt.HostInvalidAMTMode {
			t.Fatalf("stop without start: %v", err)
		}
		startTLSSetup(t, d, v.LeafHash())
		if err := h.StopConfiguration(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if st, _ := d.State(); st != amt.PreProvisioning {
			t.Fatalf("state %v", st)
		}
		if _, err := tlsClient(t, d, "admin", "", nil, nil).GetGeneralSettings(ctx(t)); err == nil {
			t.Fatal("16993 after stop still takes the setup session's admin with an empty password")
		}
	})
	t.Run("DigestPassword and user name", func(t *testing.T) {
		t.Parallel()
		v := simtest.NewVendor(t, simtest.Options{})
		d := newDevice(t, "19.0.5", v, nil)
		pin := startTLSSetup(t, d, v.LeafHash())
		cert := v.TLSCertificate()
		c := tlsClient(t, d, "admin", "", &cert, pin)
		realm := d.Realm()
		hexForm := amt.NetworkAdminPassword(realm, "x") // what MeshCentral sends
		for _, tc := range []struct {
			user, digest string
			want         amt.ReturnCode
			rule         string
		}{
			{"admin", hexForm, amt.PTInvalidParameter, amtsim.RuleDigestPassword},
			{"admin", b64(make([]byte, 20)), amt.PTInvalidParameter, amtsim.RuleDigestPassword},
			{"", b64(amt.DigestPassword("", realm, "x")), amt.PTInvalidParameter, amtsim.RuleParameter},
			{"admin", b64(amt.DigestPassword("admin", realm, "Good-Pass1")), amt.PTSuccess, ""},
		} {
			if rc := code(t, c.SetAdminAclEntryEx(ctx(t), tc.user, tc.digest)); rc != tc.want {
				t.Fatalf("SetAdminAclEntryEx(%q, %q) = %d, want %d", tc.user, tc.digest, rc, tc.want)
			}
			wantRefused(t, d, tc.rule)
		}
	})
	t.Run("digest is required in the session", func(t *testing.T) {
		t.Parallel()
		v := simtest.NewVendor(t, simtest.Options{})
		d := newDevice(t, "19.0.5", v, nil)
		pin := startTLSSetup(t, d, v.LeafHash())
		cert := v.TLSCertificate()
		if _, err := tlsClient(t, d, "admin", "guess", &cert, pin).GetGeneralSettings(ctx(t)); !errors.As(err, new(*wsman.AuthError)) {
			t.Fatalf("wrong password in the setup session: %v, want an AuthError", err)
		}
	})
	t.Run("rule SetupDigestOff lets the client certificate alone authenticate", func(t *testing.T) {
		t.Parallel()
		v := simtest.NewVendor(t, simtest.Options{})
		d := newDevice(t, "19.0.5", v, func(c *amtsim.Config) { c.Rules.SetupDigestOff = true })
		pin := startTLSSetup(t, d, v.LeafHash())
		cert := v.TLSCertificate()
		if _, err := tlsClient(t, d, "admin", "guess", &cert, pin).GetGeneralSettings(ctx(t)); err != nil {
			t.Fatalf("with SetupDigestOff: %v", err)
		}
	})
	t.Run("SetMEBxPassword policy", func(t *testing.T) {
		t.Parallel()
		v := simtest.NewVendor(t, simtest.Options{})
		d := newDevice(t, "19.0.5", v, nil)
		pin := startTLSSetup(t, d, v.LeafHash())
		cert := v.TLSCertificate()
		c := tlsClient(t, d, "admin", "", &cert, pin)
		for pw, want := range map[string]amt.ReturnCode{"short1!": amt.PTInvalidPassword, "alllowercase1!": amt.PTInvalidPassword, "NoDigits!!": amt.PTInvalidPassword, "Good-Pass1": 0} {
			if rc := code(t, c.SetMEBxPassword(ctx(t), pw)); rc != want {
				t.Errorf("SetMEBxPassword(%q) = %d, want %d", pw, rc, want)
			}
		}
	})
}
