package provisioning

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/store"
)

// TaskEnforce re-applies the device's profile: the first fix the firmware
// documents for a device that stopped communicating ("Enforce AMT
// Firmware Configuration Policy"). A user in the MEBx or another console
// may have changed what activation set.
const TaskEnforce = "enforce"

// Settings the enforce task governs, as its drift report names them.
const (
	SettingSOL         = "SOL"
	SettingIDER        = "IDE-R"
	SettingKVM         = "KVM"
	SettingListener    = "redirection listener"
	SettingUserConsent = "user consent"
	SettingDHCP        = "DHCP"
	SettingIPSync      = "IP sync from the host"
	SettingAMTFQDN     = "AMT FQDN"
	SettingTLS         = "TLS"
	SettingTLSCert     = "TLS certificate"
	SettingAdminAge    = "admin password age"
	SettingMEBxAge     = "MEBx password age"
)

// Drift is one governed setting whose firmware value differs from the
// profile. Fixed says the enforce task set the wanted value.
type Drift struct {
	Setting string `json:"setting"`
	Seen    string `json:"seen"`
	Wanted  string `json:"wanted"`
	Fixed   bool   `json:"fixed"`
}

func (d Drift) String() string {
	return fmt.Sprintf("%s: seen %s, wanted %s", d.Setting, d.Seen, d.Wanted)
}

// EnforceState is what the last enforce task found on a device, kept in
// its DeviceState for the health report and the API.
type EnforceState struct {
	Checked time.Time `json:"checked"`
	Profile string    `json:"profile"`
	// DryRun: the run reported and changed nothing.
	DryRun bool    `json:"dry_run,omitempty"`
	Drift  []Drift `json:"drift"`
}

// Unfixed lists the drift the run left on the device.
func (s *EnforceState) Unfixed() []Drift {
	var out []Drift
	for _, d := range s.Drift {
		if !d.Fixed {
			out = append(out, d)
		}
	}
	return out
}

// MEBxNextSecretName names a sealed MEBx password the enforce task is
// about to set; the task makes it the MEBx password once the firmware
// took it, and sets it again when it finds one left by a crash.
func MEBxNextSecretName(device string) string { return "device/" + device + "/mebx-next" }

// PasswordSetAt is when the admin password now sealed was set: by the
// last rotation, else by the activation.
func PasswordSetAt(sess Session, st DeviceState) time.Time {
	if !st.PasswordSet.IsZero() {
		return st.PasswordSet
	}
	return sess.Started
}

// driftFix is a group of drift that one setter fixes.
type driftFix struct {
	drift []Drift
	fix   func(ctx context.Context) error
}

// Enforce is the enforce task: it reads every setting the profile governs
// (redirection features, user consent, network, names, TLS, password
// ages), reports what differs from the profile, and sets it with the
// setters activation uses, through the device's sealed session. With
// dryRun it reports and changes nothing. A drifted admin password age is
// fixed by a rotation, which seals the new password before setting it.
func (e *Engine) Enforce(ctx context.Context, dev *Device, dryRun bool) (*MaintenanceResult, error) {
	return e.maintenance(ctx, dev, TaskEnforce, func(ctx context.Context, r *run, res *MaintenanceResult) error {
		st, err := e.State(r.sess.Device)
		if err != nil {
			return err
		}
		adopted := e.enforcedProfile(r, res)
		fixes, err := r.readDrift(ctx, res, st)
		// What was read is recorded even when a later read failed.
		es := &EnforceState{Checked: e.opts.Clock(), Profile: r.prof.Name, DryRun: dryRun, Drift: []Drift{}}
		record := func() error {
			es.Drift = es.Drift[:0]
			for _, f := range fixes {
				es.Drift = append(es.Drift, f.drift...)
			}
			res.Drift = es.Drift
			return e.st.Update(func(tx *store.Tx) error {
				if adopted && !dryRun && allFixed(fixes) {
					// The device now follows the profile as stored: the
					// other tasks (TLS renewal, network sync) follow it
					// from here on too.
					var sess Session
					if err := tx.Get(store.Sessions, r.sess.Device, &sess); err != nil {
						return err
					}
					sess.Profile = governedFrom(sess.Profile, r.prof)
					if err := tx.Put(store.Sessions, r.sess.Device, &sess); err != nil {
						return err
					}
				}
				return updateState(tx, r.sess.Device, es.Checked, func(s *DeviceState) { s.Enforce = es })
			})
		}
		if err != nil {
			return errors.Join(err, record())
		}
		if len(fixes) == 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("the device matches profile %q", r.prof.Name))
			return record()
		}
		var ferr error
		for i := range fixes {
			f := &fixes[i]
			if dryRun {
				for _, d := range f.drift {
					res.Notes = append(res.Notes, d.String()+": dry run, left alone")
				}
				continue
			}
			if ferr = f.fix(ctx); ferr != nil {
				break
			}
			res.Changed = true
			for j := range f.drift {
				f.drift[j].Fixed = true
				res.Notes = append(res.Notes, f.drift[j].String()+": set")
			}
		}
		return errors.Join(ferr, record())
	})
}

// enforcedProfile makes the run's profile the device's profile as stored
// now: the point of enforce is to re-apply the policy, and an admin who
// edited the profile since the activation wants the edit applied. Only the
// settings enforce governs are taken; the mode and password policies stay
// those the device was activated with. A profile deleted since is enforced
// as the activation recorded it, and the result says so. It reports
// whether the stored profile differs from the recorded one.
func (e *Engine) enforcedProfile(r *run, res *MaintenanceResult) bool {
	stored, err := GetProfile(e.st, r.prof.Name)
	if err != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("profile %q is no longer stored (%v): enforcing the copy recorded at activation", r.prof.Name, err))
		return false
	}
	next := governedFrom(r.prof, stored)
	if reflect.DeepEqual(next, r.prof) {
		return false
	}
	res.Notes = append(res.Notes, fmt.Sprintf("profile %q was edited since the device's activation: enforcing it as stored now", r.prof.Name))
	r.prof = next
	return true
}

// governedFrom is p with the settings enforce governs taken from src:
// redirection, user consent, network, host-name sync and TLS.
func governedFrom(p, src Profile) Profile {
	p.Redirection, p.UserConsent, p.Network, p.SyncHostname, p.TLS = src.Redirection, src.UserConsent, src.Network, src.SyncHostname, src.TLS
	return p
}

func allFixed(fixes []driftFix) bool {
	for _, f := range fixes {
		for _, d := range f.drift {
			if !d.Fixed {
				return false
			}
		}
	}
	return true
}

// enforceConn is the admin connection, read once. A device whose TLS
// certificate another console replaced fails the pinned check; with an
// agent the task goes on over the agent's relay, as activation does, so
// that it can find and fix the certificate.
func (r *run) enforceConn(ctx context.Context) (*conn, *wsman.GeneralSettings, error) {
	c, err := r.adminConn()
	if err != nil {
		return nil, nil, err
	}
	gs, err := c.GetGeneralSettings(ctx)
	var reason Reason
	if err == nil || !errors.As(err, &reason) || reason.Rule != RuleDeviceTLSIdentity || r.dev.Host == nil {
		if err != nil {
			return nil, nil, fmt.Errorf("read AMT_GeneralSettings: %w", err)
		}
		return c, gs, nil
	}
	r.admin.close()
	r.admin = nil
	port, tc := PortHTTP, r.e.localTLSConfig(r, true)
	if !r.dev.Info.TLSEnforced() {
		tc = nil
	} else {
		port = PortTLS
	}
	if c, err = r.dev.dialWSMAN(port, amt.AdminUser, r.adminPW, tc); err != nil {
		return nil, nil, err
	}
	r.admin = c
	if gs, err = c.GetGeneralSettings(ctx); err != nil {
		return nil, nil, fmt.Errorf("read AMT_GeneralSettings over the agent's relay: %w", err)
	}
	return c, gs, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func consentName(v int) string {
	switch v {
	case wsman.OptInNone:
		return string(ConsentNone)
	case wsman.OptInKVM:
		return string(ConsentKVM)
	case wsman.OptInAll:
		return string(ConsentAll)
	}
	return fmt.Sprintf("OptInRequired %d", v)
}

// readDrift reads the governed settings and returns, per setter, what
// differs from the profile.
func (r *run) readDrift(ctx context.Context, res *MaintenanceResult, st DeviceState) ([]driftFix, error) {
	p := r.prof
	c, gs, err := r.enforceConn(ctx)
	if err != nil {
		return nil, err
	}
	var fixes []driftFix
	add := func(fix func(ctx context.Context) error, ds ...Drift) {
		if len(ds) > 0 {
			fixes = append(fixes, driftFix{drift: ds, fix: fix})
		}
	}
	res.Steps = append(res.Steps, "read-settings")

	// Redirection: SOL and IDE-R are bits of one state, the listener
	// serves them and KVM; one setter sets all four.
	rs, err := c.GetRedirectionService(ctx)
	if err != nil {
		return fixes, fmt.Errorf("read AMT_RedirectionService: %w", err)
	}
	kvm, err := c.GetKVMRedirectionSAP(ctx)
	if err != nil {
		return fixes, fmt.Errorf("read CIM_KVMRedirectionSAP: %w", err)
	}
	bits := rs.EnabledState - wsman.RedirectionDisabled
	if bits < 0 || bits > 3 {
		bits = 0
	}
	want := p.Redirection
	var ds []Drift
	for _, x := range []struct {
		name       string
		seen, want bool
	}{
		{SettingSOL, bits&(wsman.RedirectionSOL-wsman.RedirectionDisabled) != 0, want.SOL},
		{SettingIDER, bits&(wsman.RedirectionIDER-wsman.RedirectionDisabled) != 0, want.IDER},
		// 6 is enabled but offline: no KVM session is open.
		{SettingKVM, kvm.EnabledState == wsman.KVMEnabled || kvm.EnabledState == 6, want.KVM},
		{SettingListener, rs.ListenerEnabled, want.KVM || want.SOL || want.IDER},
	} {
		if x.seen != x.want {
			ds = append(ds, Drift{Setting: x.name, Seen: onOff(x.seen), Wanted: onOff(x.want)})
		}
	}
	add(func(ctx context.Context) error { return setRedirection(ctx, c, want) }, ds...)

	// User consent: CCM's is fixed by the firmware.
	if p.Mode == ModeACM {
		o, err := c.GetOptInService(ctx)
		if err != nil {
			return fixes, fmt.Errorf("read IPS_OptInService: %w", err)
		}
		if o.OptInRequired != optInRequired(p.UserConsent) {
			add(func(ctx context.Context) error { return setConsent(ctx, c, p.UserConsent) },
				Drift{Setting: SettingUserConsent, Seen: consentName(o.OptInRequired), Wanted: string(p.UserConsent)})
		}
	}

	eth, err := c.GetEthernetPortSettings(ctx, wsman.EthernetPortWired)
	if err != nil {
		return fixes, fmt.Errorf("read AMT_EthernetPortSettings: %w", err)
	}
	ds = nil
	if eth.DHCPEnabled != p.Network.DHCP {
		ds = append(ds, Drift{Setting: SettingDHCP, Seen: onOff(eth.DHCPEnabled), Wanted: onOff(p.Network.DHCP)})
	}
	if eth.IpSyncEnabled != nil && *eth.IpSyncEnabled != p.Network.ipSync() {
		ds = append(ds, Drift{Setting: SettingIPSync, Seen: onOff(*eth.IpSyncEnabled), Wanted: onOff(p.Network.ipSync())})
	}
	add(func(ctx context.Context) error { return setNetwork(ctx, c, p.Network) }, ds...)

	amtFQDN := strings.ToLower(gs.HostName)
	if gs.DomainName != "" {
		amtFQDN += "." + strings.ToLower(gs.DomainName)
	}
	wantFQDN := amtFQDN
	if p.SyncHostname {
		host, domain := splitFQDN(r.dev.OSFQDN, r.dev.Hostname)
		if host == "" {
			res.Notes = append(res.Notes, "AMT FQDN not checked: the host reported no name")
		} else {
			wantFQDN = strings.ToLower(host)
			if domain != "" {
				wantFQDN += "." + strings.ToLower(domain)
			}
			if wantFQDN != amtFQDN {
				add(func(ctx context.Context) error {
					if _, err := c.SetHostAndDomain(ctx, host, domain); err != nil {
						return fmt.Errorf("put AMT_GeneralSettings host %q domain %q: %w", host, domain, err)
					}
					return nil
				}, Drift{Setting: SettingAMTFQDN, Seen: orNone(amtFQDN), Wanted: wantFQDN})
			}
		}
	}

	if err := r.readTLSDrift(ctx, res, c, st, wantFQDN, add); err != nil {
		return fixes, err
	}
	if err := r.readPasswordDrift(res, st, add); err != nil {
		return fixes, err
	}
	return fixes, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func tlsModeName(mode TLSMode) string {
	if mode == TLSMutual {
		return "on, mutual authentication"
	}
	return "on, server authentication"
}

// readTLSDrift compares the firmware's TLS with the profile and the
// certificate the internal CA issued: a missing, replaced or misnamed
// certificate is issued anew; settings turned off or changed are put
// back.
func (r *run) readTLSDrift(ctx context.Context, res *MaintenanceResult, c *conn, st DeviceState, fqdn string, add func(func(context.Context) error, ...Drift)) error {
	p := r.prof
	if !p.TLS.Enabled {
		return nil // the profile leaves TLS alone
	}
	mode := p.TLS.Mode
	if mode == "" {
		mode = TLSServerAuth
	}
	issue := func(ctx context.Context) error {
		r.admin = c
		return r.issueTLS(ctx, res, "")
	}
	if st.TLS == nil {
		add(issue, Drift{Setting: SettingTLS, Seen: "no certificate from the internal CA", Wanted: tlsModeName(mode)})
		return nil
	}
	ctxs, err := c.TLSCredentialContexts(ctx)
	if err != nil {
		return fmt.Errorf("list AMT_TLSCredentialContext: %w", err)
	}
	seenCert := "none"
	if len(ctxs) > 0 {
		seenCert = ctxs[0].ElementInContext.InstanceID()
	}
	wantCert := fmt.Sprintf("%s (serial %s, for %s)", st.TLS.CertInstance, st.TLS.Serial, st.TLS.FQDN)
	switch {
	case seenCert != st.TLS.CertInstance:
		add(issue, Drift{Setting: SettingTLSCert, Seen: seenCert, Wanted: wantCert})
		return nil
	case !strings.EqualFold(st.TLS.FQDN, fqdn):
		add(issue, Drift{Setting: SettingTLSCert, Seen: "a certificate for " + st.TLS.FQDN, Wanted: "one for " + fqdn})
		return nil
	}
	settings, err := c.TLSSettings(ctx)
	if err != nil {
		return fmt.Errorf("list AMT_TLSSettingData: %w", err)
	}
	var ds []Drift
	for _, want := range tlsSettings(mode) {
		for _, got := range settings {
			if got.InstanceID != want.InstanceID || (got.Enabled == want.Enabled && got.MutualAuthentication == want.MutualAuthentication) {
				continue
			}
			side := "network side"
			if want.InstanceID == wsman.TLSSettingLocal {
				side = "local side"
			}
			seen := "off"
			if got.Enabled {
				seen = tlsModeName(map[bool]TLSMode{true: TLSMutual, false: TLSServerAuth}[got.MutualAuthentication])
			}
			wanted := tlsModeName(mode)
			if want.InstanceID == wsman.TLSSettingLocal {
				wanted = tlsModeName(TLSServerAuth)
			}
			ds = append(ds, Drift{Setting: SettingTLS + " (" + side + ")", Seen: seen, Wanted: wanted})
		}
	}
	add(func(ctx context.Context) error {
		res.Steps = append(res.Steps, "tls-settings")
		return setTLSSettings(ctx, c, mode)
	}, ds...)
	return nil
}

// readPasswordDrift judges the ages of the sealed passwords by the
// engine's PasswordMaxAge. The firmware cannot be asked for them; their
// age is when the store's record says they were set.
func (r *run) readPasswordDrift(res *MaintenanceResult, st DeviceState, add func(func(context.Context) error, ...Drift)) error {
	e, p := r.e, r.prof
	maxAge := e.opts.PasswordMaxAge
	now := e.opts.Clock()
	days := func(d time.Duration) string { return fmt.Sprintf("%d days", int(d.Hours()/24)) }
	sess, err := e.GetSession(r.sess.Device)
	if err != nil {
		return err
	}

	rotateMEBx := func(ctx context.Context) error {
		res.Steps = append(res.Steps, "set-mebx-password")
		return r.rotateMEBx(ctx)
	}
	// MEBx first: the rotation of the admin password ends the run's
	// connection.
	if p.Mode == ModeACM && p.MEBxPassword == PasswordRandom && sess.MEBxSecret != "" {
		_, nerr := e.st.Secret(MEBxNextSecretName(r.sess.Device))
		switch {
		case nerr == nil:
			add(rotateMEBx, Drift{Setting: SettingMEBxAge, Seen: "a new password sealed and not confirmed set (an interrupted rotation)", Wanted: "the sealed password set"})
		case !errors.Is(nerr, store.ErrNotFound):
			return nerr
		case maxAge > 0:
			set := st.MEBxPasswordSet
			if set.IsZero() && sess.Path != PathRotatePassword {
				set = sess.Started // the activation set it
			}
			if set.IsZero() {
				add(rotateMEBx, Drift{Setting: SettingMEBxAge, Seen: "unknown (set at activation, before the admin password's rotation)", Wanted: "at most " + days(maxAge)})
			} else if now.Sub(set) > maxAge {
				add(rotateMEBx, Drift{Setting: SettingMEBxAge, Seen: days(now.Sub(set)), Wanted: "at most " + days(maxAge)})
			}
		}
	}

	if maxAge > 0 && p.AdminPassword == PasswordRandom {
		if set := PasswordSetAt(sess, st); !set.IsZero() && now.Sub(set) > maxAge {
			add(func(ctx context.Context) error {
				// The rotation's own session seals the new password and
				// commits it before the call that sets it.
				r.admin.close()
				r.admin = nil
				out, err := e.rotate(ctx, r.dev, sess)
				if out != nil {
					res.Steps = append(res.Steps, out.Steps...)
				}
				return err
			}, Drift{Setting: SettingAdminAge, Seen: days(now.Sub(set)), Wanted: "at most " + days(maxAge)})
		}
	}
	return nil
}

// rotateMEBx gives the device a new random MEBx password, sealed and
// committed as the next one before SetMEBxPassword, and made the MEBx
// password in one transaction after it. A crash between leaves the next
// one sealed, and the next run sets it again: SetMEBxPassword repeats
// safely, and the MEBx is never left with a password the store lacks.
func (r *run) rotateMEBx(ctx context.Context) error {
	e, id := r.e, r.sess.Device
	next, err := e.st.Secret(MEBxNextSecretName(id))
	if errors.Is(err, store.ErrNotFound) {
		pw, gerr := GeneratePassword(0)
		if gerr != nil {
			return gerr
		}
		now := e.opts.Clock()
		err = e.st.Update(func(tx *store.Tx) error {
			if err := tx.PutSecret(MEBxNextSecretName(id), []byte(pw)); err != nil {
				return err
			}
			return tx.Audit(store.Event{Time: now, Actor: e.opts.Actor, Action: "maintain.enforce.seal", Subject: id, Outcome: store.OutcomeSuccess,
				Detail: map[string]string{"secret_name": MEBxNextSecretName(id)}})
		})
		if err != nil {
			return fmt.Errorf("seal the new MEBx password: %w", err)
		}
		next = []byte(pw)
	} else if err != nil {
		return err
	}
	if err := e.hook(PathMaintainMEBx, "seal-mebx", AfterRecord); err != nil {
		return err
	}
	c, err := r.adminConn()
	if err != nil {
		return err
	}
	if err := c.SetMEBxPassword(ctx, string(next)); err != nil {
		return fmt.Errorf("SetMEBxPassword: %w", err)
	}
	if err := e.hook(PathMaintainMEBx, "set-mebx", AfterCall); err != nil {
		return err
	}
	now := e.opts.Clock()
	return e.st.Update(func(tx *store.Tx) error {
		if err := tx.PutSecret(MEBxSecretName(id), next); err != nil {
			return err
		}
		if err := tx.DeleteSecret(MEBxNextSecretName(id)); err != nil {
			return err
		}
		if err := updateState(tx, id, now, func(s *DeviceState) { s.MEBxPasswordSet = now }); err != nil {
			return err
		}
		return tx.Audit(store.Event{Time: now, Actor: e.opts.Actor, Action: "maintain.enforce.mebx", Subject: id, Outcome: store.OutcomeSuccess,
			Detail: map[string]string{"secret_name": MEBxSecretName(id)}})
	})
}

// PathMaintainMEBx names the MEBx rotation of the enforce task to a
// StepHook (it records no session of its own).
const PathMaintainMEBx Path = "enforce-mebx"
