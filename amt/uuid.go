package amt

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// UUID is a device's 16-byte identifier as the firmware sends it (GetUUID,
// hello messages). The firmware stores the first three fields little-endian,
// so the canonical text form swaps them: bytes 00 11 22 33 44 55 66 77 ...
// print as 33221100-5544-7766-....
type UUID [16]byte

func (u UUID) String() string {
	b := u
	b[0], b[1], b[2], b[3] = u[3], u[2], u[1], u[0]
	b[4], b[5] = u[5], u[4]
	b[6], b[7] = u[7], u[6]
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ParseUUID reads the canonical text form (as String prints it) back into the
// firmware's byte order.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	h := strings.ReplaceAll(strings.TrimSpace(s), "-", "")
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) != 16 {
		return u, fmt.Errorf("device UUID %q: want 32 hex digits such as 12345678-9abc-def0-1234-56789abcdef0", s)
	}
	copy(u[:], raw)
	u[0], u[1], u[2], u[3] = raw[3], raw[2], raw[1], raw[0]
	u[4], u[5] = raw[5], raw[4]
	u[6], u[7] = raw[7], raw[6]
	return u, nil
}

// MarshalText makes UUIDs read as text in JSON and logs.
func (u UUID) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText is the inverse of MarshalText.
func (u *UUID) UnmarshalText(b []byte) error {
	v, err := ParseUUID(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}
