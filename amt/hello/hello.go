// Package hello reads and writes the hello message that an AMT device in
// legacy network setup mode sends to TCP port 9971 of its provisioning server
// (reference §7 and §14). It is a pure codec: it must never do I/O, so that
// the RCS listener, the simulator and the fuzzer share one definition.
package hello

import (
	"encoding/binary"
	"fmt"

	"github.com/amtrcs/amtrcs/amt"
)

// Port is the TCP port the device sends hellos to.
const Port = 9971

// InterfaceVersionPKI is the only interface version the PKI setup speaks.
const InterfaceVersionPKI = 3

// MaxRetry is the highest retry counter a device sends before it gives up on
// a server (0 to 14).
const MaxRetry = 14

// MaxHashes bounds the hash list so that a hostile sender cannot make the
// listener allocate without limit: no device has more entries to announce.
const MaxHashes = amt.MaxHashEntries

// MaxSize is the largest valid hello: fixed part plus MaxHashes SHA-384
// entries. A listener reads at most this many bytes.
const MaxSize = fixedSize + MaxHashes*(2+48)

const fixedSize = 2 + 2 + 4 + 16 + 1

// Hash is one trusted-root hash the device announces.
type Hash struct {
	Algorithm amt.HashAlgorithm `json:"algorithm"`
	Value     []byte            `json:"value"`
}

// Message is one hello.
type Message struct {
	// AdminCredentialsSet is true when the admin password was already set in
	// MEBx.
	AdminCredentialsSet bool     `json:"admin_credentials_set"`
	InterfaceVersion    uint16   `json:"interface_version"`
	Retry               uint32   `json:"retry"`
	UUID                amt.UUID `json:"uuid"`
	Hashes              []Hash   `json:"hashes"`
}

// helloAlgorithm reports whether a hash type may appear in a hello: it uses
// the host interface's codes 1, 2 and 3 and no others.
func helloAlgorithm(a amt.HashAlgorithm) bool {
	return a == amt.HashSHA1 || a == amt.HashSHA256 || a == amt.HashSHA384
}

// Encode writes m in the wire format (little-endian).
func (m Message) Encode() ([]byte, error) {
	if len(m.Hashes) > MaxHashes {
		return nil, fmt.Errorf("hello: %d hashes, at most %d allowed", len(m.Hashes), MaxHashes)
	}
	b := make([]byte, fixedSize, fixedSize+len(m.Hashes)*50)
	if m.AdminCredentialsSet {
		binary.LittleEndian.PutUint16(b[0:], 1)
	}
	binary.LittleEndian.PutUint16(b[2:], m.InterfaceVersion)
	binary.LittleEndian.PutUint32(b[4:], m.Retry)
	copy(b[8:24], m.UUID[:])
	b[24] = byte(len(m.Hashes))
	for i, h := range m.Hashes {
		if !helloAlgorithm(h.Algorithm) || len(h.Value) != h.Algorithm.Size() {
			return nil, fmt.Errorf("hello: hash %d: algorithm %v with %d bytes; want SHA-1 (20), SHA-256 (32) or SHA-384 (48)", i, h.Algorithm, len(h.Value))
		}
		b = append(b, byte(h.Algorithm), byte(len(h.Value)))
		b = append(b, h.Value...)
	}
	return b, nil
}

// Decode parses a whole hello as received when the device closed the
// connection. Every refusal says which field broke which rule.
func Decode(b []byte) (Message, error) {
	var m Message
	if len(b) < fixedSize {
		return m, fmt.Errorf("hello: %d bytes, want at least %d (credentials flag, version, retry, UUID, hash count)", len(b), fixedSize)
	}
	if len(b) > MaxSize {
		return m, fmt.Errorf("hello: %d bytes, more than the largest valid hello (%d)", len(b), MaxSize)
	}
	switch cred := binary.LittleEndian.Uint16(b[0:]); cred {
	case 0, 1:
		m.AdminCredentialsSet = cred == 1
	default:
		return m, fmt.Errorf("hello: admin-credentials flag is %d, want 0 or 1", cred)
	}
	m.InterfaceVersion = binary.LittleEndian.Uint16(b[2:])
	if m.InterfaceVersion != InterfaceVersionPKI {
		return m, fmt.Errorf("hello: interface version %d, want %d (PKI remote configuration)", m.InterfaceVersion, InterfaceVersionPKI)
	}
	m.Retry = binary.LittleEndian.Uint32(b[4:])
	if m.Retry > MaxRetry {
		return m, fmt.Errorf("hello: retry count %d, want 0 to %d", m.Retry, MaxRetry)
	}
	copy(m.UUID[:], b[8:24])
	n := int(b[24])
	if n > MaxHashes {
		return m, fmt.Errorf("hello: %d hashes announced, at most %d allowed", n, MaxHashes)
	}
	rest := b[fixedSize:]
	m.Hashes = make([]Hash, 0, n)
	for i := 0; i < n; i++ {
		if len(rest) < 2 {
			return m, fmt.Errorf("hello: hash %d of %d: message ends before its type and size", i+1, n)
		}
		alg, size := amt.HashAlgorithm(rest[0]), int(rest[1])
		if !helloAlgorithm(alg) {
			return m, fmt.Errorf("hello: hash %d: type %d, want 1 (SHA-1), 2 (SHA-256) or 3 (SHA-384)", i+1, rest[0])
		}
		if size != alg.Size() {
			return m, fmt.Errorf("hello: hash %d: %v with size %d, want %d", i+1, alg, size, alg.Size())
		}
		if len(rest) < 2+size {
			return m, fmt.Errorf("hello: hash %d: message ends after %d of %d hash bytes", i+1, len(rest)-2, size)
		}
		m.Hashes = append(m.Hashes, Hash{Algorithm: alg, Value: append([]byte(nil), rest[2:2+size]...)})
		rest = rest[2+size:]
	}
	if len(rest) != 0 {
		return m, fmt.Errorf("hello: %d bytes after the last of %d hashes, want none", len(rest), n)
	}
	return m, nil
}
