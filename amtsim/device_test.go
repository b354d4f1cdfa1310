package amtsim_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/amtsim/simtest"
)

// fakeClock is a host clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestFirmwareClock: the firmware clock drifts from the host's and can be
// set; certificate validity follows it.
func TestFirmwareClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &fakeClock{now: start}
	d := newDevice(t, "16.1.27", nil, func(c *amtsim.Config) { c.Clock = clk; c.DriftPPM = 100 })
	clk.advance(1e6 * time.Second)
	if got, want := d.FirmwareTime(), start.Add(1e6*time.Second+100*time.Second); !got.Equal(want) {
		t.Fatalf("after 10^6 s at +100 ppm: %v, want %v", got, want)
	}
	d.SetFirmwareTime(start)
	clk.advance(1e4 * time.Second)
	if got, want := d.FirmwareTime(), start.Add(1e4*time.Second+time.Second); !got.Equal(want) {
		t.Fatalf("after set and 10^4 s: %v, want %v", got, want)
	}
	// A certificate valid from an hour ago (host time) is not yet valid
	// for a firmware clock two hours behind.
	v := simtest.NewVendor(t, simtest.Options{Now: clk.Now(), LeafNotBefore: clk.Now().Add(-time.Hour)})
	d2 := newDevice(t, "16.1.27", v, func(c *amtsim.Config) { c.Clock = clk; c.ClockOffset = -2 * time.Hour })
	c := localClient(t, d2)
	if codes := sendChain(t, c, v.Chain); fmtCodes(codes) != "[4]" {
		t.Fatalf("codes %v, want [4]", codes)
	}
	wantRefused(t, d2, amtsim.RuleValidity)
	d2.SetFirmwareTime(clk.Now())
	if codes := sendChain(t, c, v.Chain); fmtCodes(codes) != "[0 0 0]" {
		t.Fatalf("after setting the clock: %v (%s)", codes, d2.LastError())
	}
}

// TestLatency: the configured delay is added to each PTHI and WS-MAN call
// with a timer, and the caller's context ends the wait. With an hour's
// latency a call can only end by its context, so the test reads no clock:
// a call that returns anything but the context's error skipped the delay.
func TestLatency(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "16.1.27", nil, nil)
	h := hostif.NewClient(d.Host())
	c := localClient(t, d)
	if _, err := c.GetGeneralSettings(ctx(t)); err != nil { // digest challenge + first call, no latency yet
		t.Fatal(err)
	}
	d.SetLatency(time.Hour)
	short := func() context.Context {
		cctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		t.Cleanup(cancel)
		return cctx
	}
	if _, err := h.ControlMode(short()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PTHI call under an hour's latency = %v, want the caller's deadline", err)
	}
	if _, err := c.GetGeneralSettings(short()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WS-MAN call under an hour's latency = %v, want the caller's deadline", err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Host().Call(cctx, hostif.EncodeRequest(amt.CmdGetControlMode, nil)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	// Latency 0 again: the same calls answer.
	d.SetLatency(0)
	if _, err := h.ControlMode(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetGeneralSettings(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

// TestStateRules: calls made in the wrong state or by the wrong account get
// the codes the reference gives.
func TestStateRules(t *testing.T) {
	t.Parallel()
	v := simtest.NewVendor(t, simtest.Options{})
	provision := func(t *testing.T, d *amtsim.Device) *wsman.Client {
		t.Helper()
		c := localClient(t, d)
		sendChain(t, c, v.Chain)
		if rc := code(t, adminSetup(t, c, v, d.Realm(), "State-Pass1")); rc != 0 {
			t.Fatalf("AdminSetup %d: %s", rc, d.LastError())
		}
		return client(t, d, "admin", "State-Pass1")
	}
	t.Run("local account may not configure", func(t *testing.T) {
		t.Parallel()
		d := newDevice(t, "16.1.27", v, nil)
		c := localClient(t, d)
		if err := c.SetMEBxPassword(ctx(t), "Mebx-Pa55!"); !errors.Is(err, wsman.ErrAccessDenied) {
			t.Fatalf("SetMEBxPassword as local account: %v, want AccessDenied", err)
		}
		wantRefused(t, d, amtsim.RuleAccess)
	})
	t.Run("AddNextCertInChain after provisioning", func(t *testing.T) {
		t.Parallel()
		d := newDevice(t, "16.1.27", v, nil)
		admin := provision(t, d)
		if rc := code(t, admin.AddNextCertInChain(ctx(t), v.Leaf.Raw, true, false)); rc != amt.CertChainInvalidState {
			t.Fatalf("got %d, want %d", rc, amt.CertChainInvalidState)
		}
		wantRefused(t, d, amtsim.RuleState)
	})
	t.Run("UpgradeClientToAdmin outside CCM", func(t *testing.T) {
		t.Parallel()
		d := newDevice(t, "16.1.27", v, nil)
		c := localClient(t, d)
		sendChain(t, c, v.Chain)
		err := c.UpgradeClientToAdmin(ctx(t), &wsman.UpgradeClientToAdminInput{McNonce: b64(mcNonce(t)), SigningAlgorithm: 2, DigitalSignature: b64([]byte{1})})
		if rc := code(t, err); rc != amt.SetupInvalidState {
			t.Fatalf("got %d, want %d", rc, amt.SetupInvalidState)
		}
	})
	t.Run("CCM: Setup, MEBx password refused, host unprovision", func(t *testing.T) {
		t.Parallel()
		d := newDevice(t, "16.1.27", v, nil)
		c := localClient(t, d)
		if rc := code(t, c.Setup(ctx(t), amt.NetworkAdminPassword(d.Realm(), "Ccm-Pass1"))); rc != 0 {
			t.Fatalf("Setup %d: %s", rc, d.LastError())
		}
		admin := client(t, d, "admin", "Ccm-Pass1")
		if rc := code(t, admin.Setup(ctx(t), amt.NetworkAdminPassword(d.Realm(), "Ccm-Pass2"))); rc != amt.SetupInvalidState {
			t.Fatalf("Setup twice: %d", rc)
		}
		if rc := code(t, admin.SetMEBxPassword(ctx(t), "Mebx-Pa55!")); rc != amt.PTNotPermitted {
			t.Fatalf("SetMEBxPassword in CCM: %d, want %d", rc, amt.PTNotPermitted)
		}
		if _, err := admin.PutOptInService(ctx(t), &wsman.OptInService{OptInRequired: wsman.OptInNone}); !errors.Is(err, wsman.ErrAccessDenied) {
			t.Fatalf("consent off in CCM: %v", err)
		}
		if st, known, err := hostif.NewClient(d.Host()).Unprovision(ctx(t), 1); err != nil || !known || st != amt.PreProvisioning {
			t.Fatalf("host unprovision in CCM: %v, %v", st, err)
		}
	})
	t.Run("ACM: unprovision over WS-MAN only", func(t *testing.T) {
		t.Parallel()
		d := newDevice(t, "16.1.27", v, func(c *amtsim.Config) { c.MEBxPassword = "Mebx-0ld!" })
		admin := provision(t, d)
		var se *hostif.StatusError
		if _, _, err := hostif.NewClient(d.Host()).Unprovision(ctx(t), 1); !errors.As(err, &se) || se.Status != amt.HostInvalidAMTMode {
			t.Fatalf("host unprovision in ACM: %v, want status %d", err, amt.HostInvalidAMTMode)
		}
		if rc := code(t, admin.Unprovision(ctx(t), 3)); rc != amt.PTInvalidParameter {
			t.Fatalf("Unprovision(3): %d", rc)
		}
		if rc := code(t, admin.Unprovision(ctx(t), wsman.UnprovisionFull)); rc != 0 {
			t.Fatalf("Unprovision(1): %d", rc)
		}
		if st, mode := d.State(); st != amt.PreProvisioning || mode != amt.ControlNone {
			t.Fatalf("after unprovision: %v %v", st, mode)
		}
		tbl := d.HashTable()
		if _, ok := tbl.Find(v.Root.Raw); ok || tbl.CustomCount() != 0 {
			t.Fatal("full unprovision kept the custom hash")
		}
		if _, err := admin.GetGeneralSettings(ctx(t)); !errors.As(err, new(*wsman.AuthError)) {
			t.Fatalf("admin after unprovision: %v, want an AuthError", err)
		}
	})
	t.Run("flash write limit on AMT_ classes", func(t *testing.T) {
		t.Parallel()
		d := newDevice(t, "16.1.27", v, func(c *amtsim.Config) { c.FlashWriteLimit = 1 })
		admin := provision(t, d) // AdminSetup takes the one write
		if rc := code(t, admin.SetMEBxPassword(ctx(t), "Mebx-Pa55!")); rc != amt.PTFlashWriteLimitExceed {
			t.Fatalf("SetMEBxPassword past the limit: %d, want %d", rc, amt.PTFlashWriteLimitExceed)
		}
		wantRefused(t, d, amtsim.RuleFlashWrites)
		if n := d.Status().FlashWrites; n != 1 {
			t.Fatalf("flash writes %d, want 1", n)
		}
	})
	t.Run("Put AMT_GeneralSettings host and domain", func(t *testing.T) {
		t.Parallel()
		d := newDevice(t, "16.1.27", v, nil)
		admin := provision(t, d)
		gs, err := admin.SetHostAndDomain(ctx(t), "pc77", "branch."+testSuffix)
		if err != nil || gs.HostName != "pc77" || gs.DomainName != "branch."+testSuffix {
			t.Fatalf("SetHostAndDomain: %+v, %v", gs, err)
		}
		if _, err := admin.SetHostAndDomain(ctx(t), "pc77.branch", testSuffix); !errors.Is(err, &wsman.Fault{Subcode: wsman.SubcodeInvalidRepresentation}) {
			t.Fatalf("dotted host name: %v", err)
		}
		wantRefused(t, d, amtsim.RuleParameter)
	})
}

// TestHandler serves a device over the caller's own HTTP server: a
// request without TLS is port 16992.
func TestHandler(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "12.0.40", nil, nil)
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	acct, _ := d.LocalSystemAccount()
	c, err := wsman.NewClient(srv.URL+"/wsman", acct.Username, acct.Password)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := c.FirmwareVersion(ctx(t)); err != nil || v != d.Version() {
		t.Fatalf("FirmwareVersion over Handler: %v, %v", v, err)
	}
	if _, err := c.GetGeneralSettings(ctx(t)); err != nil {
		t.Fatal(err)
	}
	bad, _ := wsman.NewClient(srv.URL+"/wsman", acct.Username, "wrong")
	if _, err := bad.GetGeneralSettings(ctx(t)); !errors.As(err, new(*wsman.AuthError)) {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestHashTableEdits: custom hashes as MEBx adds them, at most 3.
func TestHashTableEdits(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "16.1.27", nil, nil)
	for i := 0; i < 3; i++ {
		h := make([]byte, 32)
		h[0] = byte(i + 1)
		if err := d.AddCustomHash(amtsim.CustomHash{Name: "c", Algorithm: amt.HashSHA256, Hash: h}); err != nil {
			t.Fatal(err)
		}
	}
	var re *amt.RuleError
	if err := d.AddCustomHash(amtsim.CustomHash{Name: "c", Algorithm: amt.HashSHA256, Hash: make([]byte, 32)}); !errors.As(err, &re) || re.Rule != amt.RuleCustomHashes {
		t.Fatalf("4th custom hash: %v", err)
	}
	if err := d.AddCustomHash(amtsim.CustomHash{Name: "s", Algorithm: amt.HashSHA1, Hash: make([]byte, 20)}); err == nil {
		t.Fatal("SHA-1 custom hash on AMT 16")
	}
	tbl, err := hostif.NewClient(d.Host()).HashTable(ctx(t))
	if err != nil || tbl.CustomCount() != 3 {
		t.Fatalf("host table: %d custom, %v", tbl.CustomCount(), err)
	}
	// Another device of the same version still has the factory table.
	if other := newDevice(t, "16.1.27", nil, nil).HashTable(); other.CustomCount() != 0 {
		t.Fatal("custom hashes leaked into the shared factory table")
	}
}
