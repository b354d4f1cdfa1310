package provisioning

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/csr/csrtest"
	"github.com/amtrcs/amtrcs/store"
)

func TestPreflightRefusesBeforeAnyWrite(t *testing.T) {
	plain := newFixture(t, Options{})
	sha1 := newVendorFixture(t, Options{}, csrtest.VendorOptions{Name: "Old Vendor", IntermediateSHA1: true})
	tests := map[string]struct {
		f       *fixture
		version string
		edit    func(*amtsim.Config)
		rule    string
		clock   string
	}{
		"root hash absent": {plain, "16.1.27", func(c *amtsim.Config) { c.CustomHashes = nil }, RuleRootInDevice, ClockDevice},
		"inactive hash": {plain, "16.1.27", func(c *amtsim.Config) {
			h := plain.rootHash()
			h.Inactive = true
			c.CustomHashes = []amtsim.CustomHash{h}
		}, RuleRootInDevice, ClockDevice},
		"suffix mismatch":        {plain, "16.1.27", func(c *amtsim.Config) { c.DHCPSuffix = "branch.example.net" }, amt.RuleSuffix, ClockDevice},
		"SHA-1 chain on 16":      {sha1, "16.1.27", nil, amt.RuleSHA1, ClockDevice},
		"expired by device time": {plain, "16.1.27", func(c *amtsim.Config) { c.ClockOffset = 2 * 365 * 24 * time.Hour }, amt.RuleValidity, ClockDevice},
		"expired on AMT 19":      {plain, "19.0.5", func(c *amtsim.Config) { c.ClockOffset = 2 * 365 * 24 * time.Hour }, amt.RuleValidity, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sd, dev := tc.f.device(tc.version, tc.edit)
			before, events := sd.Status(), sd.Events()
			res, err := tc.f.e.Activate(context.Background(), dev, DefaultProfile("default"))
			var pe *PreflightError
			if !errors.As(err, &pe) {
				t.Fatalf("Activate = %v, want a *PreflightError", err)
			}
			if !pe.Has(tc.rule) {
				t.Fatalf("reasons %v, want rule %q", pe.Reasons, tc.rule)
			}
			for _, r := range pe.Reasons {
				if r.Rule == "" || r.Seen == "" || r.Want == "" || r.Fix == "" {
					t.Errorf("reason without rule, seen, want or fix: %+v", r)
				}
			}
			after := sd.Status()
			if after.FlashWrites != before.FlashWrites || after.ProvisioningState != before.ProvisioningState || after.Setup != "" {
				t.Errorf("device changed: %+v -> %+v", before, after)
			}
			if got := sd.Events(); !reflect.DeepEqual(got, events) {
				t.Errorf("device event log changed: %v -> %v", events, got)
			}
			if tc.clock != "" && (res.Preflight == nil || res.Preflight.ClockSource != tc.clock) {
				t.Errorf("clock source %+v, want %s", res.Preflight, tc.clock)
			}
			// The refusal is audited, as denied.
			log, err := tc.f.st.AuditLog(store.AuditFilter{Subject: dev.ID()})
			if err != nil || len(log) != 1 || log[0].Outcome != store.OutcomeDenied {
				t.Errorf("audit %+v, %v; want one denied event", log, err)
			}
			if _, err := tc.f.e.GetSession(dev.ID()); !errors.Is(err, ErrNoSession) {
				t.Errorf("a refused preflight left a session: %v", err)
			}
		})
	}
}

// TestPreflightListsEveryReason: several faults at once are all reported.
func TestPreflightListsEveryReason(t *testing.T) {
	f := newVendorFixture(t, Options{}, csrtest.VendorOptions{Name: "Old Vendor", IntermediateSHA1: true})
	_, dev := f.device("16.1.27", func(c *amtsim.Config) { c.CustomHashes = nil; c.DHCPSuffix = "branch.example.net" })
	_, err := f.e.Preflight(context.Background(), dev, DefaultProfile("default"))
	var pe *PreflightError
	if !errors.As(err, &pe) {
		t.Fatalf("Preflight = %v", err)
	}
	for _, rule := range []string{RuleRootInDevice, amt.RuleSuffix, amt.RuleSHA1} {
		if !pe.Has(rule) {
			t.Errorf("missing rule %q in %v", rule, pe)
		}
	}
	if !strings.Contains(pe.Error(), "branch.example.net") {
		t.Errorf("error does not name the device suffix: %v", pe)
	}
}
