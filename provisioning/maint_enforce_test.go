package provisioning

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/store"
)

// enforceFixture is a device activated by the default profile with its TLS
// configured: everything the profile governs is set.
func enforceFixture(t *testing.T, opts Options) *tlsFixture {
	t.Helper()
	f := newTLSFixture(t, "16.1.27", opts)
	if _, err := f.e.RenewTLS(context.Background(), f.dev, false); err != nil {
		t.Fatalf("RenewTLS: %v (%s)", err, f.sd.LastError())
	}
	return f
}

// firmwareSettings reads, as a console would, the settings the tests
// change, through the device's local port with the stored password.
func firmwareSettings(t *testing.T, f *tlsFixture) map[string]string {
	t.Helper()
	ctx := context.Background()
	c, err := f.dev.dialWSMAN(PortHTTP, "admin", mustPassword(t, f.fixture, f.dev.ID()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	o, err := c.GetOptInService(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kvm, err := c.GetKVMRedirectionSAP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gs, err := c.GetGeneralSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := c.GetTLSSettingData(ctx, wsman.TLSSettingRemote)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := c.TLSCredentialContexts(ctx)
	if err != nil || len(cc) != 1 {
		t.Fatalf("credential contexts %v, %v", cc, err)
	}
	return map[string]string{"consent": consentName(o.OptInRequired), "kvm": onOff(kvm.RequestedState == wsman.KVMEnabled),
		"fqdn": gs.HostName + "." + gs.DomainName, "tls": onOff(ts.Enabled), "cert": cc[0].ElementInContext.InstanceID()}
}

func driftNames(ds []Drift) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Setting)
	}
	slices.Sort(out)
	return out
}

// TestEnforceDrift: settings changed in the MEBx or by another console are
// reported with what was seen and wanted; a dry run changes nothing; the
// task sets them back, and a second run finds no drift.
func TestEnforceDrift(t *testing.T) {
	ctx := context.Background()
	f := enforceFixture(t, Options{})
	res, err := f.e.Enforce(ctx, f.dev, false)
	if err != nil || res.Changed || len(res.Drift) != 0 {
		t.Fatalf("enforce on a device as activated = %+v, %v (%s); want no drift", res, err, f.sd.LastError())
	}
	want := firmwareSettings(t, f)

	if err := f.sd.ChangeSettings(map[string]string{amtsim.SettingUserConsent: "none", amtsim.SettingKVM: "off",
		amtsim.SettingHostName: "intruder", amtsim.SettingTLS: "off"}); err != nil {
		t.Fatal(err)
	}
	drifted := firmwareSettings(t, f)
	wantDrift := map[string]Drift{
		SettingUserConsent:             {Setting: SettingUserConsent, Seen: "none", Wanted: "kvm"},
		SettingKVM:                     {Setting: SettingKVM, Seen: "off", Wanted: "on"},
		SettingAMTFQDN:                 {Setting: SettingAMTFQDN, Seen: "intruder." + testSuffix, Wanted: "pc1." + testSuffix},
		SettingTLS + " (network side)": {Setting: SettingTLS + " (network side)", Seen: "off", Wanted: "on, server authentication"},
	}
	check := func(name string, ds []Drift, fixed bool) {
		t.Helper()
		if len(ds) != len(wantDrift) {
			t.Fatalf("%s drift %v, want %d settings", name, ds, len(wantDrift))
		}
		for _, d := range ds {
			w, ok := wantDrift[d.Setting]
			w.Fixed = fixed
			if !ok || d != w {
				t.Fatalf("%s drift %+v, want %+v", name, d, w)
			}
		}
	}

	res, err = f.e.Enforce(ctx, f.dev, true)
	if err != nil || res.Changed {
		t.Fatalf("dry run = %+v, %v", res, err)
	}
	check("dry run", res.Drift, false)
	if got := firmwareSettings(t, f); fmt.Sprint(got) != fmt.Sprint(drifted) {
		t.Fatalf("the dry run changed the firmware: %v, was %v", got, drifted)
	}
	st, _ := f.e.State(f.dev.ID())
	if st.Enforce == nil || !st.Enforce.DryRun || len(st.Enforce.Unfixed()) != len(wantDrift) {
		t.Fatalf("recorded %+v: want the dry run's drift, unfixed", st.Enforce)
	}

	res, err = f.e.Enforce(ctx, f.dev, false)
	if err != nil || !res.Changed {
		t.Fatalf("enforce = %+v, %v (%s)", res, err, f.sd.LastError())
	}
	check("enforce", res.Drift, true)
	if got := firmwareSettings(t, f); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after enforce the firmware has %v, want %v", got, want)
	}
	if st, _ := f.e.State(f.dev.ID()); st.Enforce == nil || len(st.Enforce.Unfixed()) != 0 || st.LastError != "" {
		t.Fatalf("recorded %+v: want the drift fixed", st)
	}

	res, err = f.e.Enforce(ctx, f.dev, false)
	if err != nil || res.Changed || len(res.Drift) != 0 {
		t.Fatalf("second enforce = %+v, %v; want no drift", res, err)
	}
}

// TestEnforceRedirectionAndNetwork: the features and the network settings,
// each changed alone, are each reported and set back.
func TestEnforceRedirectionAndNetwork(t *testing.T) {
	ctx := context.Background()
	f := enforceFixture(t, Options{})
	for _, tc := range []struct {
		change  map[string]string
		setting string
		seen    string
	}{
		{map[string]string{amtsim.SettingSOL: "off"}, SettingSOL, "off"},
		{map[string]string{amtsim.SettingIDER: "on"}, SettingIDER, "on"},
		{map[string]string{amtsim.SettingDHCP: "off"}, SettingDHCP, "off"},
		{map[string]string{amtsim.SettingIPSync: "off"}, SettingIPSync, "off"},
		{map[string]string{amtsim.SettingTLSMutual: "on"}, SettingTLS + " (network side)", "on, mutual authentication"},
	} {
		if err := f.sd.ChangeSettings(tc.change); err != nil {
			t.Fatal(err)
		}
		res, err := f.e.Enforce(ctx, f.dev, false)
		if err != nil || len(res.Drift) != 1 || res.Drift[0].Setting != tc.setting || res.Drift[0].Seen != tc.seen || !res.Drift[0].Fixed {
			t.Fatalf("after %v: enforce = %+v, %v (%s)", tc.change, res, err, f.sd.LastError())
		}
		if res, err := f.e.Enforce(ctx, f.dev, true); err != nil || len(res.Drift) != 0 {
			t.Fatalf("after fixing %v: drift %+v, %v", tc.change, res, err)
		}
	}
}

// TestEnforceForeignCertificate: another console gave the device its own
// TLS certificate, which the pinned check refuses; the task goes on over
// the agent's relay, reports the certificate, issues one from the internal
// CA, and the device is reached over verified TLS again.
func TestEnforceForeignCertificate(t *testing.T) {
	ctx := context.Background()
	f := enforceFixture(t, Options{})
	before, _ := f.e.State(f.dev.ID())
	if err := f.sd.ChangeSettings(map[string]string{amtsim.SettingTLSCert: "other"}); err != nil {
		t.Fatal(err)
	}
	foreign := firmwareSettings(t, f)["cert"]
	if _, err := f.e.SyncClock(ctx, f.dev); err == nil {
		t.Fatal("clock sync accepted a certificate the internal CA did not issue")
	}
	res, err := f.e.Enforce(ctx, f.dev, false)
	if err != nil || len(res.Drift) != 1 || res.Drift[0].Setting != SettingTLSCert || res.Drift[0].Seen != foreign || !res.Drift[0].Fixed {
		t.Fatalf("enforce = %+v, %v (%s)", res, err, f.sd.LastError())
	}
	st, _ := f.e.State(f.dev.ID())
	if st.TLS.Serial == before.TLS.Serial || servedCert(t, f.sd).SerialNumber.Text(16) != st.TLS.Serial {
		t.Fatalf("served %s, recorded %s (was %s): want a new certificate served", servedCert(t, f.sd).SerialNumber.Text(16), st.TLS.Serial, before.TLS.Serial)
	}
	f.ports.reset()
	if _, err := f.e.SyncClock(ctx, f.dev); err != nil {
		t.Fatalf("clock sync after enforce: %v", err)
	}
	if got := f.ports.reset(); slices.ContainsFunc(got, func(p int) bool { return p != PortTLS }) {
		t.Fatalf("ports after enforce %v, want TLS only", got)
	}
	if res, err := f.e.Enforce(ctx, f.dev, false); err != nil || len(res.Drift) != 0 {
		t.Fatalf("second enforce = %+v, %v", res, err)
	}
}

// TestEnforcePasswordAge: passwords older than the policy are rotated, each
// new one sealed in the store before the call that sets it; no password
// shows in the result or the audit log.
func TestEnforcePasswordAge(t *testing.T) {
	ctx := context.Background()
	var f *tlsFixture
	var order []string
	var failures []string
	hook := func(p Path, step string, ph Phase) error {
		if f == nil {
			return nil
		}
		id := f.dev.ID()
		switch {
		case p == PathRotatePassword && step == "seal-new-password" && ph == AfterRecord,
			p == PathMaintainMEBx && step == "seal-mebx" && ph == AfterRecord:
			order = append(order, string(p)+" sealed")
		case p == PathRotatePassword && step == "set-admin-acl" && ph == AfterCall:
			order = append(order, string(p)+" set")
			next, err := f.st.Secret(AdminNextSecretName(id))
			if err != nil || f.sd.CheckAdminPassword(ctx, string(next)) != nil {
				failures = append(failures, fmt.Sprintf("admin password set, and the store's sealed next one does not open the device (%v)", err))
			}
		case p == PathMaintainMEBx && step == "set-mebx" && ph == AfterCall:
			order = append(order, string(p)+" set")
			next, err := f.st.Secret(MEBxNextSecretName(id))
			if err != nil || !f.sd.CheckMEBxPassword(string(next)) {
				failures = append(failures, fmt.Sprintf("MEBx password set, and the store's sealed next one is not it (%v)", err))
			}
		}
		return nil
	}
	f = enforceFixture(t, Options{PasswordMaxAge: 30 * 24 * time.Hour, StepHook: hook})
	oldAdmin := mustPassword(t, f.fixture, f.dev.ID())
	oldMEBx, _ := f.st.Secret(MEBxSecretName(f.dev.ID()))
	if res, err := f.e.Enforce(ctx, f.dev, false); err != nil || len(res.Drift) != 0 {
		t.Fatalf("enforce at day 0 = %+v, %v", res, err)
	}
	f.clock.Advance(31 * 24 * time.Hour)
	res, err := f.e.Enforce(ctx, f.dev, false)
	if err != nil || !slices.Equal(driftNames(res.Drift), []string{SettingMEBxAge, SettingAdminAge}) {
		t.Fatalf("enforce at day 31 = %+v, %v (%s)", res, err, f.sd.LastError())
	}
	for _, d := range res.Drift {
		if d.Seen != "31 days" || d.Wanted != "at most 30 days" || !d.Fixed {
			t.Fatalf("drift %+v", d)
		}
	}
	if len(failures) > 0 {
		t.Fatal(strings.Join(failures, "; "))
	}
	wantOrder := []string{"enforce-mebx sealed", "enforce-mebx set", "rotate-password sealed", "rotate-password set"}
	if !slices.Equal(order, wantOrder) {
		t.Fatalf("order %v, want %v", order, wantOrder)
	}
	newAdmin := mustPassword(t, f.fixture, f.dev.ID())
	newMEBx, _ := f.st.Secret(MEBxSecretName(f.dev.ID()))
	if newAdmin == oldAdmin || string(newMEBx) == string(oldMEBx) || f.authenticates(f.sd) != nil || !f.sd.CheckMEBxPassword(string(newMEBx)) {
		t.Fatal("the passwords were not rotated to the ones the store holds")
	}
	for _, name := range []string{AdminNextSecretName(f.dev.ID()), MEBxNextSecretName(f.dev.ID())} {
		if _, err := f.st.Secret(name); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s outlived the rotation: %v", name, err)
		}
	}
	log, _ := f.st.AuditLog(store.AuditFilter{Subject: f.dev.ID()})
	for _, s := range []string{fmt.Sprint(log), fmt.Sprint(res)} {
		for _, pw := range []string{oldAdmin, newAdmin, string(oldMEBx), string(newMEBx)} {
			if strings.Contains(s, pw) {
				t.Fatal("a password shows in the audit log or the result")
			}
		}
	}
	if res, err := f.e.Enforce(ctx, f.dev, false); err != nil || len(res.Drift) != 0 {
		t.Fatalf("enforce after the rotations = %+v, %v", res, err)
	}
}

// TestEnforceMEBxCrash: killed after the MEBx password was set and before
// the store made it the MEBx password, the next run finds the sealed one
// and finishes; the store then holds what the MEBx takes.
func TestEnforceMEBxCrash(t *testing.T) {
	ctx := context.Background()
	armed := false
	f := enforceFixture(t, Options{PasswordMaxAge: 30 * 24 * time.Hour, StepHook: func(p Path, step string, ph Phase) error {
		if armed && p == PathMaintainMEBx && step == "set-mebx" {
			armed = false
			return errKilled
		}
		return nil
	}})
	f.clock.Advance(31 * 24 * time.Hour)
	armed = true
	if _, err := f.e.Enforce(ctx, f.dev, false); !errors.Is(err, errKilled) {
		t.Fatalf("enforce = %v, want the kill", err)
	}
	next, err := f.st.Secret(MEBxNextSecretName(f.dev.ID()))
	if err != nil || !f.sd.CheckMEBxPassword(string(next)) {
		t.Fatalf("after the kill the MEBx takes a password the store holds only as the next one: %v", err)
	}
	res, err := f.e.Enforce(ctx, f.dev, false)
	if err != nil || !slices.Contains(driftNames(res.Drift), SettingMEBxAge) {
		t.Fatalf("enforce after the kill = %+v, %v", res, err)
	}
	cur, _ := f.st.Secret(MEBxSecretName(f.dev.ID()))
	if !f.sd.CheckMEBxPassword(string(cur)) {
		t.Fatal("the store's MEBx password is not the device's")
	}
	if _, err := f.st.Secret(MEBxNextSecretName(f.dev.ID())); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the next MEBx password outlived the run: %v", err)
	}
}

// TestEnforceEditedProfile: enforce re-applies the profile as stored now,
// not the copy the activation recorded, and once applied the device's
// session follows the edit.
func TestEnforceEditedProfile(t *testing.T) {
	ctx := context.Background()
	f := enforceFixture(t, Options{})
	sess, err := f.e.GetSession(f.dev.ID())
	if err != nil {
		t.Fatal(err)
	}
	edited := sess.Profile
	edited.UserConsent = ConsentAll
	edited.Redirection.KVM = false
	if err := PutProfile(f.e.st, edited); err != nil {
		t.Fatal(err)
	}
	res, err := f.e.Enforce(ctx, f.dev, true)
	if err != nil {
		t.Fatalf("dry run: %v (%s)", err, f.sd.LastError())
	}
	if got := driftNames(res.Drift); fmt.Sprint(got) != fmt.Sprint([]string{SettingKVM, SettingUserConsent}) {
		t.Fatalf("dry run after the profile's edit: drift %v, want KVM and user consent", res.Drift)
	}
	if s, _ := f.e.GetSession(f.dev.ID()); s.Profile.UserConsent != sess.Profile.UserConsent {
		t.Fatalf("a dry run changed the recorded profile: consent %s", s.Profile.UserConsent)
	}
	if res, err = f.e.Enforce(ctx, f.dev, false); err != nil || !res.Changed {
		t.Fatalf("enforce = %+v, %v (%s)", res, err, f.sd.LastError())
	}
	got := firmwareSettings(t, f)
	if got["consent"] != string(ConsentAll) || got["kvm"] != "off" {
		t.Fatalf("after enforce the firmware has %v, want consent all and KVM off", got)
	}
	if s, _ := f.e.GetSession(f.dev.ID()); s.Profile.UserConsent != ConsentAll || s.Profile.Redirection.KVM {
		t.Fatalf("recorded profile after enforce: %+v, want the edit", s.Profile)
	}
	if res, err = f.e.Enforce(ctx, f.dev, false); err != nil || res.Changed || len(res.Drift) != 0 {
		t.Fatalf("second enforce = %+v, %v; want no drift", res, err)
	}
}
