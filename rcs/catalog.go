package rcs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/dnssuffix"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/store"
)

// Domain is a set of DNS suffixes, the provisioning certificate that covers
// them (an id of the certificate workshop) and the profile their devices get.
type Domain struct {
	Name     string   `json:"name"`
	Suffixes []string `json:"suffixes"`
	CertID   string   `json:"cert_id"`
	Profile  string   `json:"profile,omitempty"`
	// AllowedProfiles are the other profiles an agent of the domain may
	// ask for; the server refuses any other.
	AllowedProfiles []string  `json:"allowed_profiles,omitempty"`
	MEBxSuffix      string    `json:"mebx_suffix,omitempty"`
	Updated         time.Time `json:"updated,omitzero"`
}

// validate checks a domain against the names rule, the stored certificates
// and profiles, and the other domains (a suffix belongs to one domain).
func (s *Server) validateDomain(tx *store.Tx, d *Domain) error {
	if d.Name == "" || strings.ContainsAny(d.Name, "/ \x00") {
		return apiErr(http.StatusBadRequest, "domain name", fmt.Sprintf("%q", d.Name), "a non-empty name without '/' or spaces", `name the domain, for example "corp"`)
	}
	if len(d.Suffixes) == 0 {
		return apiErr(http.StatusBadRequest, "domain suffixes", "none", "the DNS suffixes of its devices", `add "suffixes": ["corp.example.com"]`)
	}
	for i, sfx := range d.Suffixes {
		n, err := dnssuffix.ValidateName(sfx)
		if err != nil {
			fix := "write the suffix as DHCP option 15 gives it"
			if r, ok := amt.AsRefusal(err); ok {
				fix = r.Fix
			}
			return apiErr(http.StatusBadRequest, "domain suffix", fmt.Sprintf("%q", sfx), "a DNS name such as corp.example.com", fix)
		}
		d.Suffixes[i] = n
	}
	if d.CertID == "" {
		return apiErr(http.StatusBadRequest, "domain certificate", "no cert_id", "the id of a provisioning certificate (amtrcs cert list)", "import the certificate with amtrcs cert import, then set cert_id")
	}
	var pc csr.ProvisioningCert
	if err := tx.Get(store.ProvCerts, d.CertID, &pc); err != nil {
		return apiErr(http.StatusUnprocessableEntity, "domain certificate", fmt.Sprintf("cert_id %q is not a stored provisioning certificate", d.CertID), "the id of an imported certificate", "list them with amtrcs cert list")
	}
	if d.Profile != "" {
		if ok, _ := tx.Exists(store.Profiles, d.Profile); !ok {
			return apiErr(http.StatusUnprocessableEntity, "domain profile", fmt.Sprintf("profile %q does not exist", d.Profile), "a stored profile", "create the profile first, or leave profile empty for \"default\"")
		}
	}
	for _, p := range d.AllowedProfiles {
		if ok, _ := tx.Exists(store.Profiles, p); !ok {
			return apiErr(http.StatusUnprocessableEntity, "domain allowed profiles", fmt.Sprintf("profile %q does not exist", p), "stored profiles", "create the profile first, or remove it from allowed_profiles")
		}
	}
	return tx.ForEach(store.Domains, func(id string, raw []byte) error {
		if id == d.Name {
			return nil
		}
		var o Domain
		if err := json.Unmarshal(raw, &o); err != nil {
			return err
		}
		for _, a := range d.Suffixes {
			for _, b := range o.Suffixes {
				if a == b {
					return apiErr(http.StatusConflict, "one domain per suffix", fmt.Sprintf("suffix %q is already in domain %q", a, o.Name), "each suffix in one domain", "remove it from one of them")
				}
			}
		}
		return nil
	})
}

// lookupDomain is the engine's DomainLookup over the stored domains.
func (s *Server) lookupDomain(_ context.Context, suffix string) (provisioning.Domain, bool, error) {
	d, ok, err := s.domainFor(suffix)
	if err != nil || !ok {
		return provisioning.Domain{}, ok, err
	}
	return provisioning.Domain{Name: d.Name, Suffixes: d.Suffixes, CertID: d.CertID}, true, nil
}

func (s *Server) domainFor(suffix string) (Domain, bool, error) {
	sfx := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(suffix), "."))
	if sfx == "" {
		return Domain{}, false, nil
	}
	ds, err := store.List[Domain](s.st, store.Domains)
	if err != nil {
		return Domain{}, false, err
	}
	for _, d := range ds {
		for _, x := range d.Suffixes {
			if x == sfx {
				return d, true, nil
			}
		}
	}
	return Domain{}, false, nil
}

// profileFromConfig turns a profile of the file into the engine's, reading
// static passwords from where the file says they live.
func profileFromConfig(p config.Profile, lookupEnv func(string) (string, bool)) (provisioning.Profile, error) {
	out := provisioning.Profile{
		Name:                p.Name,
		Mode:                provisioning.Mode(p.Mode),
		AdminPassword:       provisioning.PasswordPolicy(p.AdminPassword),
		AdminPasswordLength: p.AdminPasswordLength,
		MEBxPassword:        provisioning.PasswordPolicy(p.MEBxPassword),
		Redirection:         provisioning.Redirection{KVM: p.Redirection.KVM, SOL: p.Redirection.SOL, IDER: p.Redirection.IDER},
		UserConsent:         provisioning.Consent(p.UserConsent),
		Network:             provisioning.Network{DHCP: p.Network.DHCP, SyncFromHost: p.Network.SyncFromHost},
		SyncHostname:        p.SyncHostname,
		EnableAMT:           p.EnableAMT,
		TLS:                 provisioning.ProfileTLS{Enabled: p.TLS.Enabled, Mode: provisioning.TLSMode(p.TLS.Mode)},
	}
	if p.AdminPassword == config.PasswordStatic {
		b, err := p.AdminPasswordSource.Read(lookupEnv)
		if err != nil {
			return out, fmt.Errorf("profile %q admin password: %w", p.Name, err)
		}
		out.AdminPasswordStatic = string(b)
	}
	if p.Mode == config.ModeACM && p.MEBxPassword == config.PasswordStatic {
		b, err := p.MEBxPasswordSource.Read(lookupEnv)
		if err != nil {
			return out, fmt.Errorf("profile %q MEBx password: %w", p.Name, err)
		}
		out.MEBxPasswordStatic = string(b)
	}
	if p.Mode == config.ModeCCM {
		out.MEBxPassword = provisioning.PasswordRandom
	}
	return out, nil
}

// seed writes the configuration's profiles and domains that the store does
// not hold yet: the store is the source of truth once the API edits them.
func (s *Server) seed() error {
	for _, p := range s.cfg.Profiles {
		ok, err := s.exists(store.Profiles, p.Name)
		if err != nil || ok {
			if err != nil {
				return err
			}
			continue
		}
		pp, err := profileFromConfig(p, s.lookupEnv)
		if err != nil {
			return err
		}
		if err := provisioning.PutProfile(s.st, pp); err != nil {
			return err
		}
	}
	for _, d := range s.cfg.Domains {
		ok, err := s.exists(store.Domains, d.Name)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		if d.ProvisioningCertFile != "" {
			s.log.Warn("domain of the configuration not loaded: provisioning_cert_file is not read by the server; import the file with amtrcs cert import and set provisioning_cert to its id", "domain", d.Name)
			continue
		}
		rec := Domain{Name: d.Name, Suffixes: append([]string(nil), d.Suffixes...), CertID: d.ProvisioningCert, Profile: d.Profile, AllowedProfiles: append([]string(nil), d.AllowedProfiles...), MEBxSuffix: d.MEBxSuffix, Updated: s.now()}
		err = s.st.Update(func(tx *store.Tx) error {
			if err := s.validateDomain(tx, &rec); err != nil {
				return err
			}
			return tx.Put(store.Domains, rec.Name, rec)
		})
		if err != nil {
			s.log.Warn("domain of the configuration not loaded", "domain", d.Name, "err", err)
		}
	}
	return nil
}

func (s *Server) exists(b store.Bucket, id string) (ok bool, err error) {
	err = s.st.View(func(tx *store.Tx) error {
		ok, err = tx.Exists(b, id)
		return err
	})
	return ok, err
}

// RuleProfileChoice names the refusal of a profile an agent asked for
// that the device's domain does not allow.
const RuleProfileChoice = "profile choice"

// profileFor picks the profile of a device. The server chooses: the
// device's domain's profile (else "default"), or what requested names when
// an admin asks for it, or when an agent asks for one its domain allows
// (the domain's own or one of its allowed_profiles).
func (s *Server) profileFor(requested, suffix string, byAdmin bool) (provisioning.Profile, error) {
	d, inDomain, err := s.domainFor(suffix)
	if err != nil {
		return provisioning.Profile{}, err
	}
	own := config.DefaultProfileName
	if inDomain && d.Profile != "" {
		own = d.Profile
	}
	name := own
	if requested != "" && requested != own {
		if !byAdmin && !(inDomain && slices.Contains(d.AllowedProfiles, requested)) {
			where, fix := "a device of no domain (suffix "+strconv.Quote(suffix)+")", "run the agent without --profile, or an admin activates the device with the profile: amtrcs device activate DEVICE --profile "+requested
			if inDomain {
				where = "a device of domain " + strconv.Quote(d.Name)
				fix = "run the agent without --profile, or add " + strconv.Quote(requested) + " to domain " + strconv.Quote(d.Name) + "'s allowed_profiles (PUT /api/v1/domains/" + d.Name + ")"
			}
			return provisioning.Profile{}, apiErr(http.StatusForbidden, RuleProfileChoice, fmt.Sprintf("the agent asked for profile %q on %s", requested, where),
				fmt.Sprintf("%q or one of the domain's allowed_profiles %q", own, d.AllowedProfiles), fix)
		}
		name = requested
	}
	p, err := provisioning.GetProfile(s.st, name)
	if errors.Is(err, store.ErrNotFound) {
		return p, apiErr(http.StatusUnprocessableEntity, "profile", fmt.Sprintf("%q does not exist", name), "a stored profile", "create it with POST /api/v1/profiles, or ask for another with --profile")
	}
	return p, err
}
