package hello

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
)

func sample() Message {
	s256 := sha256.Sum256([]byte("root"))
	s1 := sha1.Sum([]byte("root"))
	return Message{
		AdminCredentialsSet: true,
		InterfaceVersion:    3,
		Retry:               2,
		UUID:                amt.UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Hashes: []Hash{
			{Algorithm: amt.HashSHA256, Value: s256[:]},
			{Algorithm: amt.HashSHA1, Value: s1[:]},
		},
	}
}

// The wire layout is pinned byte by byte, not derived from Encode.
func TestWireLayout(t *testing.T) {
	t.Parallel()
	m := Message{InterfaceVersion: 3, Retry: 0x0102, UUID: amt.UUID{0xaa, 15: 0xbb},
		Hashes: []Hash{{Algorithm: amt.HashSHA1, Value: bytes.Repeat([]byte{0xcc}, 20)}}}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := "0000" + "0300" + "02010000" + "aa" + strings.Repeat("00", 14) + "bb" + "01" + "0114" + strings.Repeat("cc", 20)
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("wire bytes\n got %s\nwant %s", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	m := sample()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.UUID != m.UUID || got.Retry != 2 || !got.AdminCredentialsSet || len(got.Hashes) != 2 ||
		!bytes.Equal(got.Hashes[0].Value, m.Hashes[0].Value) || got.Hashes[1].Algorithm != amt.HashSHA1 {
		t.Fatalf("round trip: %+v", got)
	}
}

func TestDecodeRefusals(t *testing.T) {
	t.Parallel()
	good, _ := sample().Encode()
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := map[string]struct {
		in   []byte
		want string
	}{
		"short":          {good[:10], "want at least 25"},
		"credentials 2":  {mut(func(b []byte) []byte { b[0] = 2; return b }), "admin-credentials flag is 2"},
		"version 2":      {mut(func(b []byte) []byte { b[2] = 2; return b }), "interface version 2, want 3"},
		"retry 15":       {mut(func(b []byte) []byte { b[4] = 15; return b }), "retry count 15"},
		"hash type 4":    {mut(func(b []byte) []byte { b[25] = 4; return b }), "type 4"},
		"size mismatch":  {mut(func(b []byte) []byte { b[26] = 20; return b }), "SHA-256 with size 20, want 32"},
		"truncated hash": {good[:len(good)-3], "message ends after 17 of 20"},
		"trailing bytes": {append(append([]byte(nil), good...), 0), "1 bytes after the last of 2"},
		"count too big":  {mut(func(b []byte) []byte { b[24] = 200; return b }), "200 hashes announced"},
		"oversized":      {make([]byte, MaxSize+1), "more than the largest valid hello"},
	}
	for name, c := range cases {
		_, err := Decode(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to contain %q", name, err, c.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := sample().Encode()
	f.Add(good)
	f.Add(good[:25])
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must encode back to the same bytes.
		again, err := m.Encode()
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, again)
		}
	})
}
