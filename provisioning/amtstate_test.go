package provisioning

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amtsim"
)

// A firmware that enforces TLS on its local ports refuses plain 16992;
// the engine reads the flag from the manageability client and speaks to
// 16993, with the local system account before activation and as admin
// after it (rpc-go base.go and local.go; Intel LMS WSmanCommands.cpp).
func TestTLSEnforcedLocalPorts(t *testing.T) {
	f := newFixture(t, Options{})
	cases := map[string]struct {
		version string
		profile Profile
		path    Path
		mode    amt.ControlMode
	}{
		"AMT 16.1 ACM":  {"16.1.27", DefaultProfile("default"), PathHostBased, amt.ControlACM},
		"AMT 16.1 CCM":  {"16.1.27", ccmProfile(), PathCCM, amt.ControlCCM},
		"AMT 19 ACM":    {"19.0.5", DefaultProfile("default"), PathTLS, amt.ControlACM},
		"AMT 19 CCM":    {"19.0.5", ccmProfile(), PathCCM, amt.ControlCCM},
		"AMT 16.1 open": {"16.1.27", DefaultProfile("default"), PathHostBased, amt.ControlACM},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			local := amtsim.LocalTLSEnforced
			if strings.HasSuffix(name, "open") {
				local = amtsim.LocalTLSOpen
			}
			sd, dev := f.device(tc.version, func(c *amtsim.Config) { c.LocalTLS = local })
			if err := dev.ReadInfo(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := dev.Info.TLSEnforced(); got != (local == amtsim.LocalTLSEnforced) {
				t.Fatalf("TLS enforced read as %v (flags %v)", got, dev.Info.AMTState)
			}
			res, err := f.e.Activate(context.Background(), dev, tc.profile)
			if err != nil {
				t.Fatalf("Activate: %v (device: %s)", err, sd.LastError())
			}
			if res.Path != tc.path || res.ControlMode != tc.mode {
				t.Fatalf("path %s mode %s, want %s %s", res.Path, res.ControlMode, tc.path, tc.mode)
			}
			if err := f.authenticates(sd); err != nil {
				t.Fatalf("stored password does not authenticate: %v", err)
			}
			// A restart keeps what was committed: CCM on such firmware
			// needs CommitChanges, as rpc-go and RPS send it.
			b, err := json.Marshal(sd)
			if err != nil {
				t.Fatal(err)
			}
			again, err := amtsim.LoadDevice(b, amtsim.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if st, mode := again.State(); st != amt.PostProvisioning || mode != tc.mode {
				t.Fatalf("after a restart the device is %s %s, want post-provisioning %s (the setup was not committed)", st, mode, tc.mode)
			}
		})
	}
}

// A device whose AMT is disabled (ME 16.1+) is enabled by activation when
// the profile allows it, as rpc-go does; otherwise it is refused before
// any write, with the fix.
func TestAMTDisabled(t *testing.T) {
	f := newFixture(t, Options{})
	for _, version := range []string{"16.1.27", "19.0.5"} {
		t.Run(version, func(t *testing.T) {
			sd, dev := f.device(version, func(c *amtsim.Config) { c.AMTDisabled = true })
			res, err := f.e.Activate(context.Background(), dev, DefaultProfile("default"))
			if err != nil {
				t.Fatalf("Activate: %v (device: %s)", err, sd.LastError())
			}
			if !sd.AMTState().Operational() || res.ControlMode != amt.ControlACM {
				t.Fatalf("after activation AMT is %v, mode %s", sd.AMTState(), res.ControlMode)
			}
			if !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.Contains(n, "enabled it") }) {
				t.Errorf("the result does not say AMT was enabled: %q", res.Notes)
			}
		})
	}
	t.Run("profile forbids", func(t *testing.T) {
		sd, dev := f.device("16.1.27", func(c *amtsim.Config) { c.AMTDisabled = true })
		p := DefaultProfile("locked")
		p.EnableAMT = false
		before := len(sd.Events())
		_, err := f.e.Activate(context.Background(), dev, p)
		var pe *PreflightError
		if !errors.As(err, &pe) || !slices.ContainsFunc(pe.Reasons, func(r Reason) bool {
			return r.Rule == RuleAMTDisabled && strings.Contains(r.Fix, "enable_amt = true")
		}) {
			t.Fatalf("Activate = %v, want a preflight refusal naming %q and enable_amt", err, RuleAMTDisabled)
		}
		if sd.AMTState().Operational() || len(sd.Events()) != before {
			t.Errorf("the refused device changed: %v, %d events (was %d)", sd.AMTState(), len(sd.Events()), before)
		}
	})
}

// The refusal for firmware that cannot be enabled from the host names the
// MEBx; a device without flags, or enabled, is not refused.
func TestAMTStateReason(t *testing.T) {
	flags := func(b amt.AMTState) *amt.AMTState { return &b }
	p := DefaultProfile("default")
	cases := []struct {
		state *amt.AMTState
		fix   string
	}{
		{nil, ""},
		{flags(0x82), ""},
		{flags(0x81), ""},     // disabled, may be enabled
		{flags(0x80), "MEBx"}, // disabled, transition not allowed
		{flags(0xA0), "MEBx"}, // disabled, restricted
		{flags(0x00), ""},     // before 16.1: no operational state
	}
	for _, c := range cases {
		r := amtStateReason(&Device{Info: hostif.Info{AMTState: c.state}}, p)
		switch {
		case c.fix == "" && r != nil:
			t.Errorf("%v refused: %v", c.state, r)
		case c.fix != "" && (r == nil || !strings.Contains(r.Fix, c.fix) || r.Rule != RuleAMTDisabled):
			t.Errorf("%v: %v, want a %q refusal naming %s", c.state, r, RuleAMTDisabled, c.fix)
		}
	}
}

// A certificate taken unverified is pinned for the session: the same one
// passes again, another is refused with the rule and both hashes.
func TestPinSession(t *testing.T) {
	one := &x509.Certificate{Raw: []byte("first certificate"), Subject: pkix.Name{CommonName: "iAMT"}}
	two := &x509.Certificate{Raw: []byte("another certificate")}
	r := &run{res: &Result{}}
	for i, c := range []*x509.Certificate{one, one} {
		if err := r.pinSession(tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	err := r.pinSession(tls.ConnectionState{PeerCertificates: []*x509.Certificate{two}})
	var re Reason
	if !errors.As(err, &re) || re.Rule != RuleDeviceIdentity || !strings.Contains(re.Want, amt.FormatHash(amt.HashSHA256.Sum(one.Raw))) {
		t.Fatalf("another certificate: %v, want a %q refusal naming the pinned hash", err, RuleDeviceIdentity)
	}
	if len(r.res.Notes) != 1 || !strings.Contains(r.res.Notes[0], "pinned") {
		t.Errorf("notes %q, want one saying the certificate was pinned", r.res.Notes)
	}
	if err := (&run{}).pinSession(tls.ConnectionState{}); err == nil {
		t.Error("no certificate accepted")
	}
}

// The firmware applies a commit after answering it: confirm waits while
// the host interface still reports the old state, as RPS waits after
// CommitChanges, instead of failing at the first read.
func TestConfirmWaitsForFirmware(t *testing.T) {
	f := newFixture(t, Options{})
	sd, dev := f.device("16.1.27", nil)
	res, err := f.e.Activate(context.Background(), dev, DefaultProfile("default"))
	if err != nil {
		t.Fatal(err)
	}
	late := 2 // reads that still see in-provisioning
	dev.Host = hostif.NewClient(hostif.TransportFunc(func(ctx context.Context, req []byte) ([]byte, error) {
		if cmd, _, _ := hostif.DecodeRequest(req); cmd == amt.CmdGetProvisioningState && late > 0 {
			late--
			return hostif.EncodeResponse(cmd, amt.HostSuccess, binary.LittleEndian.AppendUint32(nil, uint32(amt.InProvisioning))), nil
		}
		return sd.Host().Call(ctx, req)
	}))
	r := &run{e: f.e, dev: dev, res: res}
	if err := r.confirm(context.Background(), amt.ControlACM); err != nil || late != 0 {
		t.Fatalf("confirm = %v with %d late reads left, want it to wait for post-provisioning", err, late)
	}
}
