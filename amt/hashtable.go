package amt

import (
	"bytes"
	"fmt"
	"strings"
)

// RootHash is one entry of a device's trusted root-hash table.
type RootHash struct {
	Name      string        `json:"name"`
	Algorithm HashAlgorithm `json:"algorithm"`
	Hash      []byte        `json:"hash"`
	Default   bool          `json:"default"` // a factory default, not a custom entry
	Active    bool          `json:"active"`  // MEBx can deactivate any entry
}

// HashTable is a device's root-hash table: factory defaults plus up to
// MaxCustomHashes custom entries.
type HashTable struct {
	// Version is the firmware the table belongs to; its profile decides
	// whether SHA-1 hashes can be added. A zero Version applies no version
	// rule, for tables read from a device whose version is not yet known.
	Version Version    `json:"version"`
	Entries []RootHash `json:"entries"`
}

// DefaultHashTable is the factory table of firmware version v, every entry
// active. A version below MinAMTVersion gets an empty table.
func DefaultHashTable(v Version) HashTable {
	t := HashTable{Version: v}
	if v.Less(MinAMTVersion) {
		return t
	}
	for _, e := range catalog {
		if e.In(v) {
			t.Entries = append(t.Entries, RootHash{
				Name: e.Name, Algorithm: e.Algorithm, Hash: bytes.Clone(e.Hash),
				Default: true, Active: true,
			})
		}
	}
	return t
}

// CustomCount is the number of entries that are not factory defaults.
func (t *HashTable) CustomCount() int {
	n := 0
	for _, e := range t.Entries {
		if !e.Default {
			n++
		}
	}
	return n
}

// MaxHashNameLen is the longest friendly name of a hash entry: the host
// interface's GetCertHashEntry carries the name with a length the RCS and
// the simulator both bound to this.
const MaxHashNameLen = 256

// CheckHashName refuses a friendly name the firmware cannot hold.
func CheckHashName(name string) error {
	if strings.TrimSpace(name) == "" {
		return &RuleError{Rule: RuleHashName, Seen: "an empty name", Want: "a friendly name", Fix: "name the entry after its root, for example \"Corp Root CA\""}
	}
	if len(name) > MaxHashNameLen {
		return &RuleError{Rule: RuleHashName, Seen: fmt.Sprintf("a name of %d bytes", len(name)), Want: fmt.Sprintf("at most %d bytes", MaxHashNameLen), Fix: "shorten the friendly name"}
	}
	return nil
}

// AddCustom adds a custom root hash as MEBx or AMT_CertificateHashEntry
// would, refusing what the firmware refuses.
func (t *HashTable) AddCustom(name string, alg HashAlgorithm, hash []byte) error {
	if err := CheckHashName(name); err != nil {
		return err
	}
	if !alg.Known() {
		return &RuleError{Rule: RuleHashAlgorithm, Seen: fmt.Sprintf("algorithm code %d", uint8(alg)), Want: "SHA-1, SHA-256 or SHA-384", Fix: "hash the root certificate's DER with SHA-256"}
	}
	if len(hash) > MaxHashSize {
		return &RuleError{Rule: RuleHashSize, Seen: fmt.Sprintf("%d bytes", len(hash)), Want: fmt.Sprintf("at most %d bytes", MaxHashSize), Fix: "give the hash of the root certificate's DER, not the certificate"}
	}
	if len(hash) != alg.Size() {
		return &RuleError{Rule: RuleHashSize, Seen: fmt.Sprintf("%d bytes for %s", len(hash), alg), Want: fmt.Sprintf("%d bytes", alg.Size()), Fix: "check that the whole hash was copied and the algorithm matches it"}
	}
	if alg == HashSHA1 && t.Version != (Version{}) {
		if p, err := LookupProfile(t.Version); err == nil && p.RefuseSHA1 {
			return &RuleError{Rule: RuleSHA1Hash, Seen: "a SHA-1 hash on AMT " + t.Version.String(), Want: "SHA-256 or SHA-384 from AMT 16", Fix: "add the SHA-256 hash of the same root certificate"}
		}
	}
	for _, e := range t.Entries {
		if e.Algorithm == alg && bytes.Equal(e.Hash, hash) {
			return &RuleError{Rule: RuleDuplicateHash, Seen: fmt.Sprintf("%s %s, already present as %q", alg, FormatHash(hash), e.Name), Want: "a hash not yet in the table", Fix: "activate the existing entry instead of adding it again"}
		}
	}
	if n := t.CustomCount(); n >= MaxCustomHashes {
		return &RuleError{Rule: RuleCustomHashes, Seen: fmt.Sprintf("%d custom hashes already", n), Want: fmt.Sprintf("at most %d", MaxCustomHashes), Fix: "delete a custom hash in MEBx, or fully unprovision the device, before adding another"}
	}
	if len(t.Entries) >= MaxHashEntries {
		return &RuleError{Rule: RuleHashEntries, Seen: fmt.Sprintf("%d entries already", len(t.Entries)), Want: fmt.Sprintf("at most %d", MaxHashEntries), Fix: "delete a custom hash in MEBx before adding another"}
	}
	t.Entries = append(t.Entries, RootHash{Name: name, Algorithm: alg, Hash: bytes.Clone(hash), Active: true})
	return nil
}

// SetActive activates or deactivates the entry with this algorithm and hash,
// as the MEBx "Manage Certificates" menu does.
func (t *HashTable) SetActive(alg HashAlgorithm, hash []byte, active bool) error {
	for i, e := range t.Entries {
		if e.Algorithm == alg && bytes.Equal(e.Hash, hash) {
			t.Entries[i].Active = active
			return nil
		}
	}
	return &RuleError{Rule: RuleHashNotPresent, Seen: fmt.Sprintf("%s %s", alg, FormatHash(hash)), Want: "a hash listed in the table", Fix: "list the table and copy the hash from it, or add it as a custom hash"}
}

// Find returns the entry that matches a root certificate's DER under the
// entry's own algorithm. An active match wins over an inactive one; an
// inactive match is still returned so that callers can report "present but
// inactive" rather than "absent".
func (t *HashTable) Find(rootDER []byte) (RootHash, bool) {
	sums := map[HashAlgorithm][]byte{}
	var inactive *RootHash
	for i, e := range t.Entries {
		sum, ok := sums[e.Algorithm]
		if !ok {
			sum = e.Algorithm.Sum(rootDER)
			sums[e.Algorithm] = sum
		}
		if sum == nil || !bytes.Equal(sum, e.Hash) {
			continue
		}
		if e.Active {
			return cloneRootHash(e), true
		}
		if inactive == nil {
			inactive = &t.Entries[i]
		}
	}
	if inactive != nil {
		return cloneRootHash(*inactive), true
	}
	return RootHash{}, false
}

func cloneRootHash(e RootHash) RootHash {
	e.Hash = bytes.Clone(e.Hash)
	return e
}
