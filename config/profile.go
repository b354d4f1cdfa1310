package config

import (
	"strconv"

	"github.com/hashicorp/hcl/v2"
)

// Mode is the AMT control mode a profile activates into.
type Mode string

const (
	ModeACM Mode = "acm" // Admin Control Mode: needs the provisioning certificate
	ModeCCM Mode = "ccm" // Client Control Mode: no certificate, user consent always required
)

// PasswordPolicy says how a device password is chosen.
type PasswordPolicy string

const (
	PasswordRandom PasswordPolicy = "random" // a new random password per device, sealed in the store
	PasswordStatic PasswordPolicy = "static" // one password for every device, from a SecretSource
)

// UserConsent is the AMT user opt-in policy: which operations need the code
// shown on the PC's screen.
type UserConsent string

const (
	ConsentNone UserConsent = "none" // no consent (ACM only)
	ConsentKVM  UserConsent = "kvm"  // consent for KVM only (ACM only)
	ConsentAll  UserConsent = "all"  // consent for all redirection and boot control
)

// TLSMode is how AMT's TLS listener authenticates clients.
type TLSMode string

const (
	TLSServer TLSMode = "server" // server authentication only
	TLSMutual TLSMode = "mutual" // clients must present a certificate from the internal CA
)

// Profile is what a device gets once activated.
type Profile struct {
	Name string // the block label
	Mode Mode

	// AdminPassword is the policy for the AMT admin password;
	// AdminPasswordSource holds the static one, AdminPasswordLength the
	// length of random ones (AMT accepts 8 to 32 characters).
	AdminPassword       PasswordPolicy
	AdminPasswordSource SecretSource
	AdminPasswordLength int

	// MEBxPassword is the policy for the MEBx password (ACM only);
	// MEBxPasswordSource holds the static one.
	MEBxPassword       PasswordPolicy
	MEBxPasswordSource SecretSource

	Redirection Redirection
	UserConsent UserConsent
	Network     Network
	// SyncHostname copies the OS host and domain name into AMT, which its
	// TLS certificate must match.
	SyncHostname bool
	// EnableAMT lets activation turn AMT on where the firmware reports it
	// disabled (ME 16.1 and later); default true.
	EnableAMT bool
	TLS       TLS
}

// Redirection lists the redirection features to enable.
type Redirection struct {
	KVM  bool // keyboard, video, mouse
	SOL  bool // serial over LAN
	IDER bool // IDE redirection (remote boot media)
}

// Network is how AMT's wired interface gets its address.
type Network struct {
	DHCP         bool // AMT uses DHCP
	SyncFromHost bool // with DHCP off, AMT copies the static IP of the OS
}

// TLS is AMT's TLS listener configuration.
type TLS struct {
	Enabled bool
	Mode    TLSMode
}

// Bounds of AMT admin passwords.
const (
	MinAdminPasswordLength = 8
	MaxAdminPasswordLength = 32
)

// DefaultProfile is the profile used when the file leaves everything out:
// ACM, random passwords, KVM and SOL with consent for KVM, DHCP, host name
// sync and server TLS.
func DefaultProfile(name string) Profile {
	return Profile{
		Name:                name,
		Mode:                ModeACM,
		AdminPassword:       PasswordRandom,
		AdminPasswordLength: 16,
		MEBxPassword:        PasswordRandom,
		Redirection:         Redirection{KVM: true, SOL: true},
		UserConsent:         ConsentKVM,
		Network:             Network{DHCP: true, SyncFromHost: true},
		SyncHostname:        true,
		EnableAMT:           true,
		TLS:                 TLS{Enabled: true, Mode: TLSServer},
	}
}

type profileRaw struct {
	Name      string    `hcl:"name,label"`
	NameRange hcl.Range `hcl:"name,label_range"`
	DefRange  hcl.Range `hcl:",def_range"`

	Mode                     *string   `hcl:"mode,optional"`
	ModeRange                hcl.Range `hcl:"mode,attr_value_range"`
	AdminPassword            *string   `hcl:"admin_password,optional"`
	AdminPasswordRange       hcl.Range `hcl:"admin_password,attr_value_range"`
	AdminPasswordEnv         *string   `hcl:"admin_password_env,optional"`
	AdminPasswordEnvRange    hcl.Range `hcl:"admin_password_env,attr_value_range"`
	AdminPasswordFile        *string   `hcl:"admin_password_file,optional"`
	AdminPasswordFileRange   hcl.Range `hcl:"admin_password_file,attr_value_range"`
	AdminPasswordLength      *int      `hcl:"admin_password_length,optional"`
	AdminPasswordLengthRange hcl.Range `hcl:"admin_password_length,attr_value_range"`
	MEBxPassword             *string   `hcl:"mebx_password,optional"`
	MEBxPasswordRange        hcl.Range `hcl:"mebx_password,attr_value_range"`
	MEBxPasswordEnv          *string   `hcl:"mebx_password_env,optional"`
	MEBxPasswordEnvRange     hcl.Range `hcl:"mebx_password_env,attr_value_range"`
	MEBxPasswordFile         *string   `hcl:"mebx_password_file,optional"`
	MEBxPasswordFileRange    hcl.Range `hcl:"mebx_password_file,attr_value_range"`
	UserConsent              *string   `hcl:"user_consent,optional"`
	UserConsentRange         hcl.Range `hcl:"user_consent,attr_value_range"`
	SyncHostname             *bool     `hcl:"sync_hostname,optional"`
	EnableAMT                *bool     `hcl:"enable_amt,optional"`

	Redirection *redirectionRaw `hcl:"redirection,block"`
	Network     *networkRaw     `hcl:"network,block"`
	TLS         *tlsRaw         `hcl:"tls,block"`
}

type redirectionRaw struct {
	KVM  *bool `hcl:"kvm,optional"`
	SOL  *bool `hcl:"sol,optional"`
	IDER *bool `hcl:"ider,optional"`
}

type networkRaw struct {
	DHCP              *bool     `hcl:"dhcp,optional"`
	DHCPRange         hcl.Range `hcl:"dhcp,attr_value_range"`
	SyncFromHost      *bool     `hcl:"sync_from_host,optional"`
	SyncFromHostRange hcl.Range `hcl:"sync_from_host,attr_value_range"`
}

type tlsRaw struct {
	Enabled   *bool     `hcl:"enabled,optional"`
	Mode      *string   `hcl:"mode,optional"`
	ModeRange hcl.Range `hcl:"mode,attr_value_range"`
}

// profiles replaces built-in profiles of the same name and keeps the
// built-in "default" when the file does not define it.
func (b *builder) profiles(raws []profileRaw, c *Config) {
	builtin := c.Profiles
	c.Profiles = nil
	names := map[string]hcl.Range{}
	for i := range raws {
		raw := &raws[i]
		if first, dup := names[raw.Name]; dup {
			b.errorf(raw.NameRange, "Duplicate profile", "profile %q is defined twice (first at %s): want one block per profile name; fix: merge the blocks or rename this one", raw.Name, pos(first))
			continue
		}
		names[raw.Name] = raw.NameRange
		if raw.Name == "" {
			b.errorf(raw.NameRange, "Empty profile name", `profile "": want a name such as "acm"; fix: name the block`)
		}
		c.Profiles = append(c.Profiles, b.profile(raw))
	}
	for _, p := range builtin {
		if _, redefined := names[p.Name]; !redefined {
			c.Profiles = append(c.Profiles, p)
		}
	}
}

func (b *builder) profile(raw *profileRaw) Profile {
	p := DefaultProfile(raw.Name)
	what := "profile " + strconv.Quote(raw.Name)
	enum(b, raw.Mode, raw.ModeRange, what+" mode", []Mode{ModeACM, ModeCCM},
		`set mode = "acm" for Admin Control Mode (needs the provisioning certificate) or "ccm" for Client Control Mode`, &p.Mode)
	if p.Mode == ModeCCM {
		// CCM firmware asks the user for consent whatever the policy says.
		p.UserConsent = ConsentAll
	}
	enum(b, raw.UserConsent, raw.UserConsentRange, what+" user_consent", []UserConsent{ConsentNone, ConsentKVM, ConsentAll},
		`set user_consent = "none", "kvm" (consent for KVM sessions only) or "all"`, &p.UserConsent)
	if p.Mode == ModeCCM && p.UserConsent != ConsentAll {
		b.errorf(raw.UserConsentRange, "User consent in CCM", `%s user_consent = %q with mode = "ccm": Client Control Mode always requires user consent, want "all"; fix: set user_consent = "all", or mode = "acm"`, what, p.UserConsent)
	}

	enum(b, raw.AdminPassword, raw.AdminPasswordRange, what+" admin_password", []PasswordPolicy{PasswordRandom, PasswordStatic},
		`set admin_password = "random" (a sealed password per device) or "static" with admin_password_env or admin_password_file`, &p.AdminPassword)
	p.AdminPasswordSource = b.secret(raw.AdminPasswordEnv, raw.AdminPasswordEnvRange, "admin_password_env", raw.AdminPasswordFile, raw.AdminPasswordFileRange, "admin_password_file")
	b.passwordSource(what, "admin_password", p.AdminPassword, raw.AdminPasswordEnv != nil || raw.AdminPasswordFile != nil,
		orRange(raw.AdminPasswordRange, raw.DefRange), orRange(raw.AdminPasswordEnvRange, raw.AdminPasswordFileRange))
	if raw.AdminPasswordLength != nil {
		n := *raw.AdminPasswordLength
		switch {
		case p.AdminPassword != PasswordRandom:
			b.errorf(raw.AdminPasswordLengthRange, "Length of a static password", `%s admin_password_length = %d with admin_password = "static": the length only applies to random passwords; fix: remove admin_password_length`, what, n)
		case n < MinAdminPasswordLength || n > MaxAdminPasswordLength:
			b.errorf(raw.AdminPasswordLengthRange, "Admin password length out of range", "%s admin_password_length = %d: AMT accepts admin passwords of %d to %d characters; fix: set a length in that range, such as 16", what, n, MinAdminPasswordLength, MaxAdminPasswordLength)
		default:
			p.AdminPasswordLength = n
		}
	}

	enum(b, raw.MEBxPassword, raw.MEBxPasswordRange, what+" mebx_password", []PasswordPolicy{PasswordRandom, PasswordStatic},
		`set mebx_password = "random" (a sealed password per device) or "static" with mebx_password_env or mebx_password_file`, &p.MEBxPassword)
	p.MEBxPasswordSource = b.secret(raw.MEBxPasswordEnv, raw.MEBxPasswordEnvRange, "mebx_password_env", raw.MEBxPasswordFile, raw.MEBxPasswordFileRange, "mebx_password_file")
	b.passwordSource(what, "mebx_password", p.MEBxPassword, raw.MEBxPasswordEnv != nil || raw.MEBxPasswordFile != nil,
		orRange(raw.MEBxPasswordRange, raw.DefRange), orRange(raw.MEBxPasswordEnvRange, raw.MEBxPasswordFileRange))
	if p.Mode == ModeCCM && (raw.MEBxPassword != nil || raw.MEBxPasswordEnv != nil || raw.MEBxPasswordFile != nil) {
		b.warnf(orRange(raw.MEBxPasswordRange, orRange(raw.MEBxPasswordEnvRange, raw.MEBxPasswordFileRange)), "MEBx password in CCM",
			`%s sets a MEBx password with mode = "ccm": only ACM activation sets the MEBx password, so it is ignored; fix: remove the mebx_password settings, or set mode = "acm"`, what)
	}

	if raw.SyncHostname != nil {
		p.SyncHostname = *raw.SyncHostname
	}
	if raw.EnableAMT != nil {
		p.EnableAMT = *raw.EnableAMT
	}
	if r := raw.Redirection; r != nil {
		setBool(r.KVM, &p.Redirection.KVM)
		setBool(r.SOL, &p.Redirection.SOL)
		setBool(r.IDER, &p.Redirection.IDER)
	}
	if n := raw.Network; n != nil {
		setBool(n.DHCP, &p.Network.DHCP)
		setBool(n.SyncFromHost, &p.Network.SyncFromHost)
		if !p.Network.DHCP && !p.Network.SyncFromHost {
			b.errorf(orRange(n.SyncFromHostRange, n.DHCPRange), "Static address without a source",
				`%s network has dhcp = false and sync_from_host = false: AMT would have no address, as amtrcs does not assign static addresses; fix: set sync_from_host = true (copy the OS's static address) or dhcp = true`, what)
		}
	}
	if t := raw.TLS; t != nil {
		setBool(t.Enabled, &p.TLS.Enabled)
		enum(b, t.Mode, t.ModeRange, what+" tls mode", []TLSMode{TLSServer, TLSMutual},
			`set mode = "server" (AMT proves its identity) or "mutual" (clients also present a certificate)`, &p.TLS.Mode)
	}
	return p
}

// passwordSource checks that a static password has a source and that a
// random one has none (a source there suggests the user expects it used).
func (b *builder) passwordSource(what, attr string, policy PasswordPolicy, hasSource bool, policyRange, sourceRange hcl.Range) {
	switch {
	case policy == PasswordStatic && !hasSource:
		b.errorf(policyRange, "Static password without a source", `%s %s = "static" but neither %s_env nor %s_file is set: want where the password lives, never the password in the file; fix: add %s_env = "VARIABLE" or %s_file = "/path", or use "random"`, what, attr, attr, attr, attr, attr)
	case policy == PasswordRandom && hasSource:
		b.errorf(sourceRange, "Password source with a random password", `%s sets %s_env or %s_file but %s is "random": the source would be ignored; fix: set %s = "static" to use it, or remove the source`, what, attr, attr, attr, attr)
	}
}

func setBool(v *bool, dst *bool) {
	if v != nil {
		*dst = *v
	}
}
