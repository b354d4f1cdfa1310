package amt

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"strings"
	"unicode"
)

// HashAlgorithm is the algorithm code of a root-hash entry as the host
// interface reports it (GetCertHashEntry) and the hello message carries it
// (reference §2, §7, §12).
type HashAlgorithm uint8

const (
	HashMD5    HashAlgorithm = 0
	HashSHA1   HashAlgorithm = 1
	HashSHA256 HashAlgorithm = 2
	HashSHA384 HashAlgorithm = 3
	HashSHA224 HashAlgorithm = 4
	HashSHA512 HashAlgorithm = 5
)

// MaxHashSize is the size of the hash field of a firmware hash entry: no
// algorithm the firmware knows may produce more (reference §2).
const MaxHashSize = 64

var hashAlgorithms = []struct {
	alg  HashAlgorithm
	name string
	size int
}{
	{HashMD5, "MD5", md5.Size},
	{HashSHA1, "SHA-1", sha1.Size},
	{HashSHA256, "SHA-256", sha256.Size},
	{HashSHA384, "SHA-384", sha512.Size384},
	{HashSHA224, "SHA-224", sha256.Size224},
	{HashSHA512, "SHA-512", sha512.Size},
}

// HashAlgorithms lists every algorithm the host interface defines, in code order.
func HashAlgorithms() []HashAlgorithm {
	out := make([]HashAlgorithm, len(hashAlgorithms))
	for i, h := range hashAlgorithms {
		out[i] = h.alg
	}
	return out
}

// Known reports whether a is one of the codes the host interface defines.
func (a HashAlgorithm) Known() bool { return int(a) < len(hashAlgorithms) }

func (a HashAlgorithm) String() string {
	if !a.Known() {
		return fmt.Sprintf("unknown hash algorithm %d", uint8(a))
	}
	return hashAlgorithms[a].name
}

// Size is the digest size in bytes, 0 for an unknown code.
func (a HashAlgorithm) Size() int {
	if !a.Known() {
		return 0
	}
	return hashAlgorithms[a].size
}

// Sum hashes a certificate's DER under a. It returns nil for an unknown code,
// so that an entry with an unknown algorithm never matches anything.
func (a HashAlgorithm) Sum(der []byte) []byte {
	switch a {
	case HashMD5:
		s := md5.Sum(der)
		return s[:]
	case HashSHA1:
		s := sha1.Sum(der)
		return s[:]
	case HashSHA256:
		s := sha256.Sum256(der)
		return s[:]
	case HashSHA384:
		s := sha512.Sum384(der)
		return s[:]
	case HashSHA224:
		s := sha256.Sum224(der)
		return s[:]
	case HashSHA512:
		s := sha512.Sum512(der)
		return s[:]
	}
	return nil
}

// MarshalText writes the name ("SHA-256"), so that JSON reports and config
// files say what an algorithm is rather than a bare code.
func (a HashAlgorithm) MarshalText() ([]byte, error) {
	if !a.Known() {
		return nil, fmt.Errorf("hash algorithm code %d: want 0 to %d", uint8(a), len(hashAlgorithms)-1)
	}
	return []byte(a.String()), nil
}

// UnmarshalText reads any name HashAlgorithmByName accepts.
func (a *HashAlgorithm) UnmarshalText(b []byte) error {
	v, err := HashAlgorithmByName(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// HashAlgorithmByName accepts "sha256", "SHA-256", "sha_256" and the like,
// in any case.
func HashAlgorithmByName(name string) (HashAlgorithm, error) {
	// Called for every entry of every hash table a report carries: no
	// replacer built per call (6 KiB each).
	key := hashNameKey(name)
	for _, h := range hashAlgorithms {
		if hashNameKey(h.name) == key {
			return h.alg, nil
		}
	}
	return 0, fmt.Errorf("hash algorithm %q: want one of md5, sha1, sha256, sha384, sha224, sha512", name)
}

// hashNameKey is name lower-cased without surrounding space, dashes,
// underscores or inner spaces.
func hashNameKey(name string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', ' ':
			return -1
		}
		return unicode.ToLower(r)
	}, strings.TrimSpace(name))
}

// HashAlgorithmBySize picks the algorithm whose digest is n bytes long. The
// six sizes differ, so a bare hash says which algorithm made it.
func HashAlgorithmBySize(n int) (HashAlgorithm, error) {
	for _, h := range hashAlgorithms {
		if h.size == n {
			return h.alg, nil
		}
	}
	return 0, fmt.Errorf("hash of %d bytes: want 20 (SHA-1), 32 (SHA-256) or 48 (SHA-384); 16, 28 and 64 bytes are MD5, SHA-224 and SHA-512", n)
}
