package provisioning

import (
	"errors"
	"fmt"
	"strings"

	"github.com/amtrcs/amtrcs/store"
)

// Mode is the control mode a profile activates into.
type Mode string

const (
	ModeACM Mode = "acm"
	ModeCCM Mode = "ccm"
)

// PasswordPolicy says how a device password is chosen.
type PasswordPolicy string

const (
	PasswordRandom PasswordPolicy = "random" // a new random password per device
	PasswordStatic PasswordPolicy = "static" // the profile's sealed static password
)

// Consent is the user-consent (opt-in) policy.
type Consent string

const (
	ConsentNone Consent = "none"
	ConsentKVM  Consent = "kvm"
	ConsentAll  Consent = "all"
)

// Redirection lists the redirection features to enable.
type Redirection struct {
	KVM  bool `json:"kvm"`
	SOL  bool `json:"sol"`
	IDER bool `json:"ider"`
}

// Network is how AMT's wired interface gets its address.
type Network struct {
	DHCP         bool `json:"dhcp"`
	SyncFromHost bool `json:"sync_from_host"`
}

// Profile is what a device gets once activated. Its JSON never carries a
// password: static passwords are sealed in the store beside it.
type Profile struct {
	Name string `json:"name"`
	Mode Mode   `json:"mode"`

	AdminPassword       PasswordPolicy `json:"admin_password"`
	AdminPasswordLength int            `json:"admin_password_length,omitempty"`
	// AdminPasswordStatic is the static admin password (policy static).
	AdminPasswordStatic string `json:"-"`

	MEBxPassword       PasswordPolicy `json:"mebx_password"`
	MEBxPasswordStatic string         `json:"-"`

	Redirection  Redirection `json:"redirection"`
	UserConsent  Consent     `json:"user_consent"`
	Network      Network     `json:"network"`
	SyncHostname bool        `json:"sync_hostname"`
	// EnableAMT lets activation turn AMT on when the firmware reports it
	// disabled (ME 16.1 and later), as rpc-go does; off, such a device is
	// refused with the fix.
	EnableAMT bool `json:"enable_amt"`
	// TLS is how the device's TLS listener is set up after activation
	// (ConfigureTLS); the zero value leaves TLS off.
	TLS ProfileTLS `json:"tls"`
}

// Rule names of profile refusals.
const (
	RuleProfileName     = "profile name"
	RuleProfileMode     = "profile mode"
	RuleProfilePassword = "profile password"
	RuleProfileConsent  = "user consent"
	RuleProfileNetwork  = "network"
	RuleProfileTLS      = "profile TLS"
)

// DefaultProfile is ACM with random passwords, KVM and SOL with consent for
// KVM, DHCP and host-name sync.
func DefaultProfile(name string) Profile {
	return Profile{
		Name: name, Mode: ModeACM,
		AdminPassword: PasswordRandom, MEBxPassword: PasswordRandom,
		Redirection:  Redirection{KVM: true, SOL: true},
		UserConsent:  ConsentKVM,
		Network:      Network{DHCP: true, SyncFromHost: true},
		SyncHostname: true,
		EnableAMT:    true,
		TLS:          ProfileTLS{Enabled: true, Mode: TLSServerAuth},
	}
}

// Validate returns every problem of p, each as a Reason, joined.
func (p Profile) Validate() error {
	var rs []error
	add := func(rule, seen, want, fix string) {
		rs = append(rs, Reason{Rule: rule, Seen: seen, Want: want, Fix: fix})
	}
	if strings.TrimSpace(p.Name) == "" || strings.ContainsAny(p.Name, "/\x00") {
		add(RuleProfileName, fmt.Sprintf("%q", p.Name), "a non-empty name without '/'", `name the profile, for example "acm"`)
	}
	if p.Mode != ModeACM && p.Mode != ModeCCM {
		add(RuleProfileMode, fmt.Sprintf("%q", p.Mode), `"acm" or "ccm"`, `set mode to "acm" (needs the provisioning certificate) or "ccm"`)
	}
	checkPolicy := func(what string, pol PasswordPolicy, static string) {
		switch pol {
		case PasswordRandom:
			if static != "" {
				add(RuleProfilePassword, what+" policy random with a static value", "no static value with random", "drop the static value or set the policy to static")
			}
		case PasswordStatic:
			if err := CheckPassword(static); err != nil {
				var r Reason
				if errors.As(err, &r) {
					add(RuleProfilePassword, what+": "+r.Seen, r.Want, r.Fix)
				}
			}
		default:
			add(RuleProfilePassword, fmt.Sprintf("%s policy %q", what, pol), `"random" or "static"`, `set it to "random" (a sealed password per device) or "static"`)
		}
	}
	checkPolicy("admin password", p.AdminPassword, p.AdminPasswordStatic)
	if p.AdminPasswordLength != 0 && (p.AdminPasswordLength < DefaultPasswordLength || p.AdminPasswordLength > MaxPasswordLength) {
		add(RuleProfilePassword, fmt.Sprintf("admin password length %d", p.AdminPasswordLength), fmt.Sprintf("%d to %d", DefaultPasswordLength, MaxPasswordLength), "leave it 0 for 16, or give a length in range")
	}
	if p.Mode == ModeACM {
		checkPolicy("MEBx password", p.MEBxPassword, p.MEBxPasswordStatic)
	} else if p.MEBxPasswordStatic != "" {
		add(RuleProfilePassword, "a MEBx password in a CCM profile", "none: the MEBx password is set in ACM only", "drop the MEBx password, or set mode acm")
	}
	switch p.UserConsent {
	case ConsentNone, ConsentKVM, ConsentAll:
		if p.Mode == ModeCCM && p.UserConsent != ConsentAll {
			add(RuleProfileConsent, fmt.Sprintf("%q with mode ccm", p.UserConsent), `"all": Client Control Mode always asks the user`, `set user_consent "all", or mode "acm"`)
		}
	default:
		add(RuleProfileConsent, fmt.Sprintf("%q", p.UserConsent), `"none", "kvm" or "all"`, "pick one of them")
	}
	if p.TLS.Enabled && p.TLS.Mode != TLSServerAuth && p.TLS.Mode != TLSMutual {
		add(RuleProfileTLS, fmt.Sprintf("TLS mode %q", p.TLS.Mode), `"server" or "mutual"`, `set tls mode "server" (AMT proves its identity) or "mutual" (consoles present a certificate too)`)
	}
	if !p.Network.DHCP && !p.Network.SyncFromHost {
		add(RuleProfileNetwork, "DHCP off without sync from host", "DHCP, or a static address copied from the OS", "set dhcp true, or sync_from_host true")
	}
	return errors.Join(rs...)
}

func profileSecret(name, which string) string { return "profile/" + name + "/" + which }

// PutProfile validates p and stores it, sealing its static passwords in
// the same transaction.
func PutProfile(st Store, p Profile) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("profile %q: %w", p.Name, err)
	}
	return st.Update(func(tx *store.Tx) error {
		for _, s := range []struct{ which, value string }{{"admin", p.AdminPasswordStatic}, {"mebx", p.MEBxPasswordStatic}} {
			name := profileSecret(p.Name, s.which)
			if s.value != "" {
				if err := tx.PutSecret(name, []byte(s.value)); err != nil {
					return err
				}
			} else if err := tx.DeleteSecret(name); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if err := tx.Put(store.Profiles, p.Name, p); err != nil {
			return err
		}
		return tx.Audit(store.Event{Actor: "rcs", Action: "profile.put", Subject: p.Name, Outcome: store.OutcomeSuccess})
	})
}

// GetProfile reads a stored profile with its static passwords unsealed.
func GetProfile(st store.Viewer, name string) (Profile, error) {
	var p Profile
	err := st.View(func(tx *store.Tx) error {
		if err := tx.Get(store.Profiles, name, &p); err != nil {
			return err
		}
		if p.AdminPassword == PasswordStatic {
			b, err := tx.Secret(profileSecret(name, "admin"))
			if err != nil {
				return err
			}
			p.AdminPasswordStatic = string(b)
		}
		if p.MEBxPassword == PasswordStatic {
			b, err := tx.Secret(profileSecret(name, "mebx"))
			if err != nil {
				return err
			}
			p.MEBxPasswordStatic = string(b)
		}
		return nil
	})
	return p, err
}

// ListProfiles lists stored profiles, without their static passwords.
func ListProfiles(st store.Viewer) ([]Profile, error) {
	return store.List[Profile](st, store.Profiles)
}

// DeleteProfile removes a profile and its sealed passwords.
func DeleteProfile(st Store, name string) error {
	return st.Update(func(tx *store.Tx) error {
		if err := tx.Delete(store.Profiles, name); err != nil {
			return err
		}
		for _, w := range []string{"admin", "mebx"} {
			if err := tx.DeleteSecret(profileSecret(name, w)); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return tx.Audit(store.Event{Actor: "rcs", Action: "profile.delete", Subject: name, Outcome: store.OutcomeSuccess})
	})
}
