package amt

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
)

// VersionRange is a span of firmware versions: From itself and every version
// after it, up to but not including Before. A zero Before leaves it open.
type VersionRange struct {
	From   Version
	Before Version
}

// Contains reports whether v lies in r.
func (r VersionRange) Contains(v Version) bool {
	if v.Less(r.From) {
		return false
	}
	return r.Before == (Version{}) || v.Less(r.Before)
}

// String prints ">=11.0 <11.8.65" or ">=11.0": the form version constraints
// take in package managers, so it reads without a legend.
func (r VersionRange) String() string {
	if r.Before == (Version{}) {
		return ">=" + r.From.String()
	}
	return ">=" + r.From.String() + " <" + r.Before.String()
}

// MarshalText lets JSON reports carry a range as its String form.
func (r VersionRange) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// CatalogEntry is one root hash that AMT firmware has carried as a factory
// default, with the versions that carry it.
type CatalogEntry struct {
	Name      string
	Algorithm HashAlgorithm
	Hash      []byte
	// Versions lists the firmware versions that carry the entry as a
	// default. Which defaults each major carries is UNVERIFIED beyond the
	// facts named in catalogData; see the comments there.
	Versions []VersionRange
	// InDebian is set when the root is in Debian's ca-certificates, so a test
	// can hash the real certificate.
	InDebian bool
}

// In reports whether firmware version v carries the entry as a default.
func (e CatalogEntry) In(v Version) bool {
	for _, r := range e.Versions {
		if r.Contains(v) {
			return true
		}
	}
	return false
}

// HashHex is the hash as uppercase hex, the form Windows and MEBx show.
func (e CatalogEntry) HashHex() string { return FormatHash(e.Hash) }

func (e CatalogEntry) clone() CatalogEntry {
	e.Hash = bytes.Clone(e.Hash)
	e.Versions = append([]VersionRange(nil), e.Versions...)
	return e
}

func v(major, minor, build int) Version { return Version{Major: major, Minor: minor, Build: build} }

// Version spans of the catalog (reference §2).
var (
	// ME 11.0 removed the default SHA-1 hashes; host-based setup, and with
	// it this catalog, starts at AMT 7.
	sha1Defaults = []VersionRange{{From: v(7, 0, 0), Before: v(11, 0, 0)}}
	// The SDK lists the SHA-256 defaults for "releases 11.0 and later".
	// UNVERIFIED: whether AMT 7 to 10 also carried SHA-256 defaults, and in
	// which release each newer root (DigiCert G2/G3/G4, GlobalSign 2018,
	// R3/R5/R6) was added; they are modelled as present from 11.0 until a
	// device says otherwise (a simulated device can be given any table).
	sha256Defaults = []VersionRange{{From: v(11, 0, 0)}}
	// VeriSign Class 3 Primary CA-G1 was removed in 11.8.65 and 12.0.32.
	// UNVERIFIED: that it stayed absent in 13 and later; modelled so.
	verisignG1 = []VersionRange{
		{From: v(11, 0, 0), Before: v(11, 8, 65)},
		{From: v(12, 0, 0), Before: v(12, 0, 32)},
	}
)

type catalogRow struct {
	name     string
	alg      HashAlgorithm
	hash     string
	versions []VersionRange
	debian   bool
}

// catalogData is the table of reference §2, in its order: the SHA-256
// defaults seen on real devices, then the SHA-1 defaults of AMT 7 to 10.
// Names come from hashing the public root certificates; tests hash the real
// certificates to hold every name to its hash.
var catalogData = []catalogRow{
	{"VeriSign Class 3 Public Primary CA (G1)", HashSHA256, "E7685634EFACF69ACE939A6B255B7B4FABEF42935B50A265ACB5CB6027E44E70", verisignG1, false},
	{"VeriSign Class 3 Public Primary CA - G3", HashSHA256, "EB04CF5EB1F39AFA762F2BB120F296CBA520C1B97DB1589565B81CB9A17B7244", sha256Defaults, false},
	{"Go Daddy Class 2 CA", HashSHA256, "C3846BF24B9E93CA64274C0EC67C1ECC5E024FFCACD2D74019350E81FE546AE4", sha256Defaults, true},
	{"Comodo AAA Certificate Services (Sectigo)", HashSHA256, "D7A7A0FB5D7E2731D771E9484EBCDEF71D5F0C3E0A2948782BC83EE0EA699EF4", sha256Defaults, true},
	{"Starfield Class 2 CA", HashSHA256, "1465FA205397B876FAA6F0A9958E5590E40FCC7FAA4FB7C2C8677521FB5FB658", sha256Defaults, true},
	{"VeriSign Class 3 Public Primary CA - G2", HashSHA256, "83CE3C1229688A593D485F81973C0F9195431EDA37CC5E36430E79C7A888638B", sha256Defaults, false},
	{"VeriSign Class 3 Public Primary CA (G1.5)", HashSHA256, "A4B6B3996FC2F306B3FD8681BD63413D8C5009CC4FA329C2CCF0E2FA1B140305", sha256Defaults, false},
	{"VeriSign Class 3 Public Primary CA - G5", HashSHA256, "9ACFAB7E43C8D880D06B262A94DEEEE4B4659989C3D0CAF19BAF6405E41AB7DF", sha256Defaults, false},
	{"GTE CyberTrust Global Root", HashSHA256, "A53125188D2110AA964B02C7B7C6DA3203170894E5FB71FFFB6667D5E6810A36", sha256Defaults, false},
	{"Baltimore CyberTrust Root", HashSHA256, "16AF57A9F676B0AB126095AA5EBADEF22AB31119D644AC95CD4B93DBF3F26AEB", sha256Defaults, true},
	{"Cybertrust Global Root", HashSHA256, "960ADF0063E96356750C2965DD0A0867DA0B9CBD6E77714AEAFB2349AB393DA3", sha256Defaults, false},
	{"Verizon Global Root CA", HashSHA256, "68AD50909B04363C605EF13581A939FF2C96372E3F12325B0A6861E1D59F6603", sha256Defaults, false},
	{"Entrust.net CA (2048)", HashSHA256, "6DC47172E01CBCB0BF62580D895FE2B8AC9AD4F873801E0C10B9C837D21EB177", sha256Defaults, true},
	{"Entrust Root Certification Authority", HashSHA256, "73C176434F1BC6D5ADF45B0E76E727287C8DE57616C1E6E6141A2B2CBC7D8E4C", sha256Defaults, true},
	{"VeriSign Universal Root CA", HashSHA256, "2399561127A57125DE8CEFEA610DDF2FA078B5C8067F4E828290BFB860E84B3C", sha256Defaults, false},
	{"Go Daddy Root Certificate Authority - G2", HashSHA256, "45140B3247EB9CC8C5B4F0D7B53091F73292089E6E5A63E2749DD3ACA9198EDA", sha256Defaults, true},
	{"Entrust Root Certification Authority - G2", HashSHA256, "43DF5774B03E7FEF5FE40D931A7BEDF1BB2E6B42738C4E6D3841103D3AA7F339", sha256Defaults, true},
	{"Starfield Root Certificate Authority - G2", HashSHA256, "2CE1CB0BF9D2F9E102993FBE215152C3B2DD0CABDE1C68E5319B839154DBB7F5", sha256Defaults, true},
	{"AffirmTrust Premium", HashSHA256, "70A73F7F376B60074248904534B11482D5BF0E698ECC498DF52577EBF2E93B9A", sha256Defaults, true},
	{"DigiCert Global Root CA", HashSHA256, "4348A0E9444C78CB265E058D5E8944B4D84F9662BD26DB257F8934A443C70161", sha256Defaults, true},
	{"DigiCert Global Root G2", HashSHA256, "CB3CCBB76031E5E0138F8DD39A23F9DE47FFC35E43C1144CEA27D46A5AB1CB5F", sha256Defaults, true},
	{"DigiCert Global Root G3", HashSHA256, "31AD6648F8104138C738F39EA4320133393E3A18CC02296EF97C2AC9EF6731D0", sha256Defaults, true},
	{"DigiCert Trusted Root G4", HashSHA256, "552F7BDCF1A7AF9E6CE672017F4F12ABF77240C78E761AC203D1D9D20AC89988", sha256Defaults, true},
	// The two GlobalSign 2018 names are the firmware's own; no public root
	// by these names was found to hash, so they are unconfirmed by tests.
	{"GlobalSign NP RSA CA 2018", HashSHA256, "67540A47AA5B9F34570A99723CFEFA96A96EE3F0D9B8BF4DEF9440B8065D665D", sha256Defaults, false},
	{"GlobalSign NP ECC CA 2018", HashSHA256, "7224395222CD588C4F2683716922ADDB41E39B581AC34FA87B39EFA896FBB39E", sha256Defaults, false},
	{"GlobalSign Root CA - R3", HashSHA256, "CBB522D7B7F127AD6A0113865BDF1CD4102E7D0759AF635A7CF4720DC963C53B", sha256Defaults, true},
	{"GlobalSign ECC Root CA - R5", HashSHA256, "179FBC148A3DD00FD24EA13458CC43BFA7F59C8182D783A513F6EBEC100C8924", sha256Defaults, true},
	{"GlobalSign Root CA - R6", HashSHA256, "2CABEAFE37D06CA22ABA7391C0033D25982952C453647349763A3AB5AD6CCF69", sha256Defaults, true},
	// Seen on a recent device; the root it hashes is unknown.
	{"Unknown root (seen on a recent device)", HashSHA256, "A267C480B0B29056EB5E8AA7C93ADD804F5A7DF516E969E77BCACAFE8D456079", sha256Defaults, false},

	{"VeriSign Class 3 Public Primary CA (G1)", HashSHA1, "742C3192E607E424EB4549542BE1BBC53E6174E2", sha1Defaults, false},
	{"VeriSign Class 3 Public Primary CA (G1.5)", HashSHA1, "A1DB6393916F17E4185509400415C70240B0AE6B", sha1Defaults, false},
	{"VeriSign Class 3 Public Primary CA - G2", HashSHA1, "85371CA6E550143DCE2803471BDE3A09E8F8770F", sha1Defaults, false},
	{"VeriSign Class 3 Public Primary CA - G3", HashSHA1, "132D0D45534B6997CDB2D5C339E25576609B5CC6", sha1Defaults, false},
	{"VeriSign Class 3 Public Primary CA - G5", HashSHA1, "4EB6D578499B1CCF5F581EAD56BE3D9B6744A5E5", sha1Defaults, false},
	{"Go Daddy Class 2 CA", HashSHA1, "2796BAE63F1801E277261BA0D77770028F20EEE4", sha1Defaults, true},
	{"Comodo AAA Certificate Services (Sectigo)", HashSHA1, "D1EB23A46D17D68FD92564C2F1F1601764D8E349", sha1Defaults, true},
	{"Starfield Class 2 CA", HashSHA1, "AD7E1C28B064EF8F6003402014C3D0E3370EB58A", sha1Defaults, true},
}

var catalog = func() []CatalogEntry {
	out := make([]CatalogEntry, len(catalogData))
	for i, r := range catalogData {
		h, err := hex.DecodeString(r.hash)
		if err != nil || len(h) != r.alg.Size() {
			panic(fmt.Sprintf("amt catalog entry %q: bad %s hash %q", r.name, r.alg, r.hash))
		}
		out[i] = CatalogEntry{Name: r.name, Algorithm: r.alg, Hash: h, Versions: r.versions, InDebian: r.debian}
	}
	return out
}()

// Catalog returns every root hash that some AMT version carries as a
// default: SHA-256 entries first, then SHA-1. The slice is a copy.
func Catalog() []CatalogEntry {
	out := make([]CatalogEntry, len(catalog))
	for i, e := range catalog {
		out[i] = e.clone()
	}
	return out
}

// LookupRoot finds the catalog entry for a root certificate's DER by its
// SHA-256, SHA-384 and SHA-1 hashes, preferring SHA-256 when a root is
// listed under more than one algorithm.
func LookupRoot(der []byte) (CatalogEntry, bool) {
	for _, alg := range []HashAlgorithm{HashSHA256, HashSHA384, HashSHA1} {
		sum := alg.Sum(der)
		for _, e := range catalog {
			if e.Algorithm == alg && bytes.Equal(e.Hash, sum) {
				return e.clone(), true
			}
		}
	}
	return CatalogEntry{}, false
}

// FormatHash prints a hash as uppercase hex without separators.
func FormatHash(h []byte) string { return strings.ToUpper(hex.EncodeToString(h)) }

// ParseHash reads a hash as people paste it: hex in any case, optionally
// split by colons or white space ("74:2C:31..." from openssl, "74 2c 31..."
// from Windows). The length picks the algorithm.
func ParseHash(s string) (HashAlgorithm, []byte, error) {
	var b strings.Builder
	for i, c := range s {
		switch {
		case c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r':
		case ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F'):
			b.WriteRune(c)
		default:
			return 0, nil, fmt.Errorf("root hash %q: character %q at offset %d is not a hex digit; want hex digits, optionally separated by colons or spaces", clip(s), c, i)
		}
	}
	digits := b.String()
	if digits == "" {
		return 0, nil, fmt.Errorf("root hash %q: no hex digits; want 40 (SHA-1), 64 (SHA-256) or 96 (SHA-384) hex digits", clip(s))
	}
	if len(digits)%2 != 0 {
		return 0, nil, fmt.Errorf("root hash %q: %d hex digits is an odd count; want 40 (SHA-1), 64 (SHA-256) or 96 (SHA-384); a digit is missing or extra", clip(s), len(digits))
	}
	// digits holds only hex digits, an even count of them, so decoding
	// cannot fail.
	h, _ := hex.DecodeString(digits)
	alg, err := HashAlgorithmBySize(len(h))
	if err != nil {
		return 0, nil, fmt.Errorf("root hash %q: %d hex digits; want 40 (SHA-1), 64 (SHA-256) or 96 (SHA-384); check that the whole hash was copied", clip(s), len(digits))
	}
	return alg, h, nil
}

// clip keeps an echoed input to one readable line.
func clip(s string) string {
	const limit = 140
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}
