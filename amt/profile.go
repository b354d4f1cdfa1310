package amt

import (
	"fmt"
	"strings"
)

// Profile is what one range of AMT firmware versions allows during
// provisioning. A profile applies from its Version up to the next profile's.
type Profile struct {
	Version Version `json:"version"`
	Name    string  `json:"name"`
	// AdminSetup: host-based ACM setup with IPS_HostBasedSetupService
	// .AdminSetup exists (AMT 7 to 18; removed in 19).
	AdminSetup bool `json:"admin_setup"`
	// TLSSetup: TLS-based ACM setup after StartConfigurationHBased (AMT 19+).
	TLSSetup bool `json:"tls_setup"`
	// RefuseSHA1: from ME 16 no certificate in the provisioning chain, root
	// included, may be SHA-1 signed, and no SHA-1 hash can be added. ME 15
	// on H platforms does the same; a profile cannot tell the platform, so a
	// 15-H device must be given the 16 profile.
	RefuseSHA1 bool `json:"refuse_sha1"`
	// MinRSABits is the smallest RSA key the firmware accepts anywhere in
	// the provisioning chain.
	MinRSABits int `json:"min_rsa_bits"`
	// MaxChainLength is the longest provisioning chain, root included, that
	// AddNextCertInChain accepts before returning 5. UNVERIFIED: 4 is what
	// RPS allows; the firmware's own limit is not documented.
	MaxChainLength int `json:"max_chain_length"`
	// ExtendedTLD: the certificate is cut to its registrable part before
	// suffix matching (AMT 4.1/5.1 and later, so every profile here).
	ExtendedTLD bool `json:"extended_tld"`
	// MaxCustomHashes and MaxHashEntries bound the root-hash table.
	MaxCustomHashes int `json:"max_custom_hashes"`
	MaxHashEntries  int `json:"max_hash_entries"`
}

// Limits of the firmware root-hash table (reference §2).
const (
	MaxCustomHashes = 3  // custom hashes MEBx, USB key or WS-MAN can add
	MaxHashEntries  = 33 // entries EnumerateHashHandles can return
)

// MinAMTVersion is the oldest firmware amtrcs provisions: host-based setup,
// and with it the SHA-1 default table of the catalog, starts at AMT 7.
var MinAMTVersion = Version{Major: 7}

// DefaultVersion is the firmware a rule is judged for when a command is not
// told the fleet's version (dns check, suffix check and plan, csr new
// --host): one default, so that the commands agree. It is the oldest
// version amtrcs provisions: the suffix rule is the same from AMT 6 on and
// has only ever widened, so a verdict for the oldest holds for every device.
var DefaultVersion = MinAMTVersion

const (
	// minRSABitsLegacy is the floor before ME 16. Intel describes 16 as
	// "removing support of RSA key sizes smaller than 2048 bits", so older
	// firmware took smaller keys, and the 11 and 12 default tables carry
	// VeriSign Class 3 Public Primary CA (G1), a 1024-bit RSA root, which
	// those versions must therefore accept. UNVERIFIED: whether anything
	// under 1024 bits was ever accepted; amtrcs does not plan for it.
	minRSABitsLegacy = 1024
	minRSABits16     = 2048
	// maxChainLengthRPS is the chain-length limit RPS enforces. UNVERIFIED
	// as a firmware limit (reference §3); kept per profile so that a newer
	// finding changes one row.
	maxChainLengthRPS = 4
)

var profiles = []Profile{
	{Version: Version{Major: 7}, Name: "AMT 7", AdminSetup: true, MinRSABits: minRSABitsLegacy},
	{Version: Version{Major: 11}, Name: "AMT 11", AdminSetup: true, MinRSABits: minRSABitsLegacy},
	{Version: Version{Major: 12}, Name: "AMT 12", AdminSetup: true, MinRSABits: minRSABitsLegacy},
	{Version: Version{Major: 16}, Name: "AMT 16", AdminSetup: true, RefuseSHA1: true, MinRSABits: minRSABits16},
	{Version: Version{Major: 19}, Name: "AMT 19", TLSSetup: true, RefuseSHA1: true, MinRSABits: minRSABits16},
}

func init() {
	// Rules shared by every profile are set here so a row states only what
	// differs between versions.
	for i := range profiles {
		profiles[i].MaxChainLength = maxChainLengthRPS
		profiles[i].ExtendedTLD = true
		profiles[i].MaxCustomHashes = MaxCustomHashes
		profiles[i].MaxHashEntries = MaxHashEntries
	}
}

// Profiles returns every profile, oldest first.
func Profiles() []Profile { return append([]Profile(nil), profiles...) }

// ProfileNames lists the profile names, oldest first, for help texts.
func ProfileNames() []string {
	out := make([]string, len(profiles))
	for i, p := range profiles {
		out[i] = p.Name
	}
	return out
}

// LookupProfile returns the newest profile whose version is v or older. A
// major newer than every profile gets the newest one: firmware rules have
// only grown stricter, so that is the safe guess.
func LookupProfile(v Version) (Profile, error) {
	if v.Less(MinAMTVersion) {
		return Profile{}, &RuleError{
			Rule: RuleAMTVersion,
			Seen: v.String(),
			Want: MinAMTVersion.String() + " or newer (host-based setup starts at AMT 7)",
			Fix:  "update the device's firmware, or provision it with a tool for older AMT",
		}
	}
	p := profiles[0]
	for _, q := range profiles {
		if q.Version.Less(v) || q.Version == v {
			p = q
		}
	}
	return p, nil
}

// ParseProfileVersion reads a version as users give it ("16", "11.8.65",
// "AMT 16", "amt16") and returns it with its profile.
func ParseProfileVersion(s string) (Version, Profile, error) {
	t := strings.TrimSpace(s)
	if len(t) >= 3 && strings.EqualFold(t[:3], "amt") {
		t = strings.TrimSpace(t[3:])
	}
	ver, err := ParseVersion(t)
	if err != nil {
		return Version{}, Profile{}, fmt.Errorf("%w (profiles: %s)", err, strings.Join(ProfileNames(), ", "))
	}
	p, err := LookupProfile(ver)
	if err != nil {
		return Version{}, Profile{}, err
	}
	return ver, p, nil
}

// DefaultHashes returns the default table of the profile's own version.
// For a device, prefer DefaultHashTable with its exact version: builds
// inside a major differ (11.8.65 dropped VeriSign G1).
func (p Profile) DefaultHashes() HashTable { return DefaultHashTable(p.Version) }

// Carriers reports which profiles carry e as a default at their own version.
func (e CatalogEntry) Carriers() []string {
	var out []string
	for _, p := range profiles {
		if e.In(p.Version) {
			out = append(out, p.Name)
		}
	}
	return out
}
