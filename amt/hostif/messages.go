package hostif

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
)

// CodeVersion is one entry of GetCodeVersions ("AMT", "Build Number", "Sku").
type CodeVersion struct {
	Description string `json:"description"`
	Version     string `json:"version"`
}

// CodeVersions is the GetCodeVersions answer.
type CodeVersions struct {
	BIOS     string        `json:"bios"`
	Versions []CodeVersion `json:"versions"`
}

const (
	biosLen          = 65
	versionFieldLen  = 20
	maxCodeVersions  = 50
	accountFieldLen  = 33
	localAccountReq  = 40
	startConfigBody  = amt.StartConfigRequestLen - amt.HostHeaderLen
	startConfigReply = amt.StartConfigResponseLen - amt.HostHeaderLen - 4
)

// Lookup returns the version string of the named entry.
func (c CodeVersions) Lookup(description string) (string, bool) {
	for _, v := range c.Versions {
		if v.Description == description {
			return v.Version, true
		}
	}
	return "", false
}

// AMTVersion parses the "AMT" entry.
func (c CodeVersions) AMTVersion() (amt.Version, error) {
	s, ok := c.Lookup("AMT")
	if !ok {
		return amt.Version{}, fmt.Errorf("host interface: GetCodeVersions has no \"AMT\" entry")
	}
	return amt.ParseVersion(s)
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func (c CodeVersions) encode() ([]byte, error) {
	w := &writer{}
	if len(c.BIOS) > biosLen {
		return nil, fmt.Errorf("host interface: BIOS version of %d bytes, at most %d", len(c.BIOS), biosLen)
	}
	w.fixed([]byte(c.BIOS), biosLen)
	w.u32(uint32(len(c.Versions)))
	for _, v := range c.Versions {
		if len(v.Description) > versionFieldLen || len(v.Version) > versionFieldLen {
			return nil, fmt.Errorf("host interface: code version %q=%q longer than %d bytes", v.Description, v.Version, versionFieldLen)
		}
		w.u16(uint16(len(v.Description)))
		w.fixed([]byte(v.Description), versionFieldLen)
		w.u16(uint16(len(v.Version)))
		w.fixed([]byte(v.Version), versionFieldLen)
	}
	return w.b, nil
}

func decodeCodeVersions(b []byte) (CodeVersions, error) {
	r := &reader{b: b, cmd: amt.CmdGetCodeVersions}
	var c CodeVersions
	c.BIOS = cstring(r.take(biosLen, "the BIOS version"))
	n := r.u32("the entry count")
	if r.err == nil && n > maxCodeVersions {
		return c, fmt.Errorf("host interface: GetCodeVersions announces %d entries, at most %d", n, maxCodeVersions)
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		var v CodeVersion
		dl := int(r.u16("a description length"))
		d := r.take(versionFieldLen, "a description")
		vl := int(r.u16("a version length"))
		s := r.take(versionFieldLen, "a version")
		if r.err == nil && (dl > versionFieldLen || vl > versionFieldLen) {
			return c, fmt.Errorf("host interface: code version entry %d has lengths %d/%d, at most %d", i, dl, vl, versionFieldLen)
		}
		if r.err == nil {
			v.Description, v.Version = string(d[:dl]), string(s[:vl])
			c.Versions = append(c.Versions, v)
		}
	}
	return c, r.done()
}

// CertHashEntry is one row of the firmware's trusted-root table.
type CertHashEntry struct {
	Default   bool              `json:"default"`
	Active    bool              `json:"active"`
	Algorithm amt.HashAlgorithm `json:"algorithm"`
	Hash      []byte            `json:"hash"`
	Name      string            `json:"name"`
}

// RootHash converts the entry into the amt table type.
func (e CertHashEntry) RootHash() amt.RootHash {
	return amt.RootHash{Name: e.Name, Algorithm: e.Algorithm, Hash: e.Hash, Default: e.Default, Active: e.Active}
}

func boolU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func (e CertHashEntry) encode() ([]byte, error) {
	if !e.Algorithm.Known() || len(e.Hash) != e.Algorithm.Size() {
		return nil, fmt.Errorf("host interface: hash entry %q: %d bytes under %v", e.Name, len(e.Hash), e.Algorithm)
	}
	if len(e.Name) > amt.MaxHashNameLen {
		return nil, fmt.Errorf("host interface: hash entry name of %d bytes, at most %d", len(e.Name), amt.MaxHashNameLen)
	}
	w := &writer{}
	w.u32(boolU32(e.Default))
	w.u32(boolU32(e.Active))
	w.fixed(e.Hash, amt.MaxHashSize)
	w.u8(uint8(e.Algorithm))
	w.u16(uint16(len(e.Name)))
	w.b = append(w.b, e.Name...)
	return w.b, nil
}

func decodeCertHashEntry(b []byte) (CertHashEntry, error) {
	r := &reader{b: b, cmd: amt.CmdGetCertHashEntry}
	var e CertHashEntry
	e.Default = r.u32("the default flag") != 0
	e.Active = r.u32("the active flag") != 0
	hash := r.take(amt.MaxHashSize, "the hash")
	e.Algorithm = amt.HashAlgorithm(r.u8("the algorithm"))
	n := int(r.u16("the name length"))
	if r.err == nil && n > amt.MaxHashNameLen {
		return e, fmt.Errorf("host interface: hash entry name of %d bytes, at most %d", n, amt.MaxHashNameLen)
	}
	e.Name = string(r.take(n, "the name"))
	if err := r.done(); err != nil {
		return e, err
	}
	if !e.Algorithm.Known() {
		return e, fmt.Errorf("host interface: hash entry %q has algorithm code %d, want 0 to 5", e.Name, uint8(e.Algorithm))
	}
	e.Hash = append([]byte(nil), hash[:e.Algorithm.Size()]...)
	return e, nil
}

// Account is the local system account: the digest credentials that WS-MAN
// accepts from the host before provisioning. It is a secret: never log it.
type Account struct {
	Username string `json:"-"`
	Password string `json:"-"`
}

func (a Account) encode() ([]byte, error) {
	if len(a.Username) >= accountFieldLen || len(a.Password) >= accountFieldLen {
		return nil, fmt.Errorf("host interface: local account fields are at most %d bytes", accountFieldLen-1)
	}
	w := &writer{}
	w.fixed([]byte(a.Username), accountFieldLen)
	w.fixed([]byte(a.Password), accountFieldLen)
	return w.b, nil
}

func decodeAccount(b []byte) (Account, error) {
	r := &reader{b: b, cmd: amt.CmdGetLocalSystemAccount}
	u := r.take(accountFieldLen, "the user name")
	p := r.take(accountFieldLen, "the password")
	if err := r.done(); err != nil {
		return Account{}, err
	}
	return Account{Username: cstring(u), Password: cstring(p)}, nil
}

// LANSettings is the GetLANInterfaceSettings answer.
type LANSettings struct {
	Enabled     bool    `json:"enabled"`
	IPv4        uint32  `json:"ipv4"`
	DHCPEnabled bool    `json:"dhcp_enabled"`
	DHCPMode    uint8   `json:"dhcp_mode"`
	LinkUp      bool    `json:"link_up"`
	MAC         [6]byte `json:"mac"`
}

func (l LANSettings) encode() []byte {
	w := &writer{}
	w.u32(boolU32(l.Enabled))
	w.u32(l.IPv4)
	w.u32(boolU32(l.DHCPEnabled))
	w.u8(l.DHCPMode)
	w.u8(uint8(boolU32(l.LinkUp)))
	w.b = append(w.b, l.MAC[:]...)
	return w.b
}

func decodeLANSettings(b []byte) (LANSettings, error) {
	r := &reader{b: b, cmd: amt.CmdGetLANInterfaceSettings}
	var l LANSettings
	l.Enabled = r.u32("the enabled flag") != 0
	l.IPv4 = r.u32("the IPv4 address")
	l.DHCPEnabled = r.u32("the DHCP flag") != 0
	l.DHCPMode = r.u8("the DHCP mode")
	l.LinkUp = r.u8("the link state") != 0
	copy(l.MAC[:], r.take(6, "the MAC address"))
	return l, r.done()
}

// StartConfig is the StartConfigurationHBased request (reference §13): the
// hash of the provisioning leaf and the DNS suffixes it may configure.
type StartConfig struct {
	Algorithm amt.HashAlgorithm `json:"algorithm"`
	LeafHash  []byte            `json:"leaf_hash"`
	HostVPN   bool              `json:"host_vpn"`
	Suffixes  []string          `json:"suffixes"`
}

// StartConfigResult is the firmware's answer: the hash of its own TLS
// certificate, which the configuring client pins.
type StartConfigResult struct {
	Algorithm amt.HashAlgorithm `json:"algorithm"`
	CertHash  []byte            `json:"cert_hash"`
}

func (s StartConfig) encode() ([]byte, error) {
	if s.Algorithm != amt.HashSHA256 && s.Algorithm != amt.HashSHA384 {
		return nil, fmt.Errorf("StartConfigurationHBased: leaf hash algorithm %v, want SHA-256 or SHA-384", s.Algorithm)
	}
	if len(s.LeafHash) != s.Algorithm.Size() {
		return nil, fmt.Errorf("StartConfigurationHBased: leaf hash of %d bytes, want %d for %v", len(s.LeafHash), s.Algorithm.Size(), s.Algorithm)
	}
	if len(s.Suffixes) > amt.MaxStartConfigSuffixes {
		return nil, fmt.Errorf("StartConfigurationHBased: %d DNS suffixes, at most %d", len(s.Suffixes), amt.MaxStartConfigSuffixes)
	}
	for _, x := range s.Suffixes {
		if len(x) == 0 || len(x) > 64 || strings.IndexByte(x, 0) >= 0 {
			return nil, fmt.Errorf("StartConfigurationHBased: DNS suffix %q: want 1 to 64 bytes without NUL", x)
		}
	}
	list := strings.Join(s.Suffixes, "\x00")
	if len(list) > amt.StartConfigSuffixBytes {
		return nil, fmt.Errorf("StartConfigurationHBased: suffix list of %d bytes, at most %d", len(list), amt.StartConfigSuffixBytes)
	}
	w := &writer{}
	w.u8(uint8(s.Algorithm))
	w.fixed(s.LeafHash, amt.MaxHashSize)
	w.u8(uint8(boolU32(s.HostVPN)))
	w.u32(uint32(len(list)))
	w.fixed([]byte(list), amt.StartConfigSuffixBytes)
	return w.b, nil
}

func decodeStartConfig(b []byte) (StartConfig, error) {
	r := &reader{b: b, cmd: amt.CmdStartConfigurationHBased}
	var s StartConfig
	s.Algorithm = amt.HashAlgorithm(r.u8("the hash algorithm"))
	hash := r.take(amt.MaxHashSize, "the leaf hash")
	s.HostVPN = r.u8("the VPN flag") != 0
	n := r.u32("the suffix list length")
	list := r.take(amt.StartConfigSuffixBytes, "the suffix list")
	if err := r.done(); err != nil {
		return s, err
	}
	if s.Algorithm != amt.HashSHA256 && s.Algorithm != amt.HashSHA384 {
		return s, fmt.Errorf("StartConfigurationHBased: leaf hash algorithm code %d, want 2 (SHA-256) or 3 (SHA-384)", uint8(s.Algorithm))
	}
	if n > amt.StartConfigSuffixBytes {
		return s, fmt.Errorf("StartConfigurationHBased: suffix list length %d, at most %d", n, amt.StartConfigSuffixBytes)
	}
	s.LeafHash = append([]byte(nil), hash[:s.Algorithm.Size()]...)
	for _, x := range strings.Split(string(list[:n]), "\x00") {
		if x != "" {
			s.Suffixes = append(s.Suffixes, x)
		}
	}
	if len(s.Suffixes) > amt.MaxStartConfigSuffixes {
		return s, fmt.Errorf("StartConfigurationHBased: %d DNS suffixes, at most %d", len(s.Suffixes), amt.MaxStartConfigSuffixes)
	}
	return s, nil
}

func (s StartConfigResult) encode() []byte {
	w := &writer{}
	w.u8(uint8(s.Algorithm))
	w.fixed(s.CertHash, amt.MaxHashSize)
	return w.b
}

func decodeStartConfigResult(b []byte) (StartConfigResult, error) {
	r := &reader{b: b, cmd: amt.CmdStartConfigurationHBased}
	var s StartConfigResult
	s.Algorithm = amt.HashAlgorithm(r.u8("the hash algorithm"))
	hash := r.take(amt.MaxHashSize, "the certificate hash")
	if err := r.done(); err != nil {
		return s, err
	}
	if s.Algorithm != amt.HashSHA256 && s.Algorithm != amt.HashSHA384 {
		return s, fmt.Errorf("StartConfigurationHBased: answer hash algorithm code %d, want 2 or 3", uint8(s.Algorithm))
	}
	// Newer firmware writes a SHA-256 hash as 64 ASCII hex digits, filling
	// the field; binary hashes are never all hex digits in practice.
	if s.Algorithm == amt.HashSHA256 {
		if raw, err := hex.DecodeString(string(hash)); err == nil {
			s.CertHash = raw
			return s, nil
		}
	}
	s.CertHash = append([]byte(nil), hash[:s.Algorithm.Size()]...)
	return s, nil
}
