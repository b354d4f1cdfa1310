package amt

import (
	"encoding/json"
	"testing"
)

func TestUUIDByteOrder(t *testing.T) {
	t.Parallel()
	u := UUID{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	const want = "33221100-5544-7766-8899-aabbccddeeff"
	if got := u.String(); got != want {
		t.Fatalf("String() = %s, want %s", got, want)
	}
	back, err := ParseUUID(want)
	if err != nil || back != u {
		t.Fatalf("ParseUUID(%s) = %x, %v; want %x", want, back, err, u)
	}
	b, _ := json.Marshal(u)
	var v UUID
	if err := json.Unmarshal(b, &v); err != nil || v != u {
		t.Fatalf("JSON round trip: %s -> %x, %v", b, v, err)
	}
	for _, bad := range []string{"", "xyz", "33221100-5544-7766-8899-aabbccddee"} {
		if _, err := ParseUUID(bad); err == nil {
			t.Errorf("ParseUUID(%q): no error", bad)
		}
	}
}
