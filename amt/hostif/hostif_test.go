package hostif

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
)

// tableFirmware answers from fixed values, so that the codec can be tested
// on its own; the simulator's device is tested against this package too.
type tableFirmware struct {
	status  amt.HostStatus
	started StartConfig
	table   amt.HashTable
}

func (f *tableFirmware) CodeVersions() (CodeVersions, amt.HostStatus) {
	return CodeVersions{BIOS: "BIOS 1.2", Versions: []CodeVersion{{"AMT", "16.1.27"}, {"Build Number", "2225"}, {"Sku", "16392"}}}, f.status
}
func (f *tableFirmware) UUID() (amt.UUID, amt.HostStatus) {
	return amt.UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, f.status
}
func (f *tableFirmware) ControlMode() (amt.ControlMode, amt.HostStatus) {
	return amt.ControlACM, f.status
}
func (f *tableFirmware) ProvisioningState() (amt.ProvisioningState, amt.HostStatus) {
	return amt.PostProvisioning, f.status
}
func (f *tableFirmware) PKIDNSSuffix() (string, amt.HostStatus) { return "corp.example.com", f.status }
func (f *tableFirmware) HashHandles() ([]uint32, amt.HostStatus) {
	hs := make([]uint32, len(f.table.Entries))
	for i := range hs {
		hs[i] = uint32(i + 100)
	}
	return hs, f.status
}
func (f *tableFirmware) CertHashEntry(h uint32) (CertHashEntry, amt.HostStatus) {
	i := int(h) - 100
	if i < 0 || i >= len(f.table.Entries) {
		return CertHashEntry{}, amt.HostInternalError
	}
	e := f.table.Entries[i]
	return CertHashEntry{Default: e.Default, Active: e.Active, Algorithm: e.Algorithm, Hash: e.Hash, Name: e.Name}, f.status
}
func (f *tableFirmware) LocalSystemAccount() (Account, amt.HostStatus) {
	return Account{Username: "$$OsAdmin", Password: "s3cr3t-lsa"}, f.status
}
func (f *tableFirmware) LANInterfaceSettings(uint32) (LANSettings, amt.HostStatus) {
	return LANSettings{Enabled: true, IPv4: 0x0a000001, DHCPEnabled: true, DHCPMode: 2, LinkUp: true, MAC: [6]byte{0, 0x16, 0x3e, 1, 2, 3}}, f.status
}
func (f *tableFirmware) StartConfigurationHBased(s StartConfig) (StartConfigResult, amt.HostStatus) {
	f.started = s
	h := sha256.Sum256([]byte("device cert"))
	return StartConfigResult{Algorithm: amt.HashSHA256, CertHash: h[:]}, f.status
}
func (f *tableFirmware) StopConfiguration() amt.HostStatus { return f.status }
func (f *tableFirmware) Unprovision(uint32) (amt.ProvisioningState, amt.HostStatus) {
	return amt.PreProvisioning, f.status
}

func client(f Firmware) *Client {
	return NewClient(TransportFunc(func(_ context.Context, req []byte) ([]byte, error) { return Serve(f, req) }))
}

func TestReadInfoThroughServe(t *testing.T) {
	t.Parallel()
	f := &tableFirmware{table: amt.DefaultHashTable(amt.Version{Major: 16})}
	in, err := client(f).ReadInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if in.Version != (amt.Version{Major: 16, Minor: 1, Build: 27}) || in.SKU != "16392" || in.ControlMode != amt.ControlACM ||
		in.ProvisioningState != amt.PostProvisioning || in.DNSSuffix != "corp.example.com" || in.UUID[0] != 1 {
		t.Fatalf("info: %+v", in)
	}
	if len(in.Hashes.Entries) != len(f.table.Entries) || len(in.Hashes.Entries) == 0 {
		t.Fatalf("hash table: %d entries, want %d", len(in.Hashes.Entries), len(f.table.Entries))
	}
	for i, e := range in.Hashes.Entries {
		w := f.table.Entries[i]
		if e.Name != w.Name || e.Algorithm != w.Algorithm || !bytes.Equal(e.Hash, w.Hash) || e.Active != w.Active {
			t.Errorf("entry %d: %+v, want %+v", i, e, w)
		}
	}
	acct, err := client(f).LocalSystemAccount(context.Background())
	if err != nil || acct.Username != "$$OsAdmin" || acct.Password != "s3cr3t-lsa" {
		t.Fatalf("account: %v", err)
	}
	lan, err := client(f).LANInterfaceSettings(context.Background(), 0)
	if err != nil || lan.IPv4 != 0x0a000001 || lan.MAC[1] != 0x16 || !lan.LinkUp {
		t.Fatalf("lan: %+v %v", lan, err)
	}
}

// StartConfigurationHBased is pinned by its sizes and field offsets
// (reference §13), not by our own encoder.
func TestStartConfigWire(t *testing.T) {
	t.Parallel()
	leaf := sha256.Sum256([]byte("leaf"))
	s := StartConfig{Algorithm: amt.HashSHA256, LeafHash: leaf[:], Suffixes: []string{"corp.example.com", "example.net"}}
	body, err := s.encode()
	if err != nil {
		t.Fatal(err)
	}
	req := EncodeRequest(amt.CmdStartConfigurationHBased, body)
	if len(req) != 402 {
		t.Fatalf("request is %d bytes, want 402", len(req))
	}
	if got := hex.EncodeToString(req[:12]); got != "010100008b00000486010000" {
		t.Fatalf("header %s, want 010100008b00000486010000 (length 390)", got)
	}
	if req[12] != 2 || !bytes.Equal(req[13:45], leaf[:]) || req[77] != 0 {
		t.Fatalf("algorithm/hash/vpn fields wrong: % x", req[12:78])
	}
	if req[78] != 28 || string(req[82:110]) != "corp.example.com\x00example.net" {
		t.Fatalf("suffix list wrong: len %d, %q", req[78], req[82:110])
	}
	f := &tableFirmware{}
	res, err := client(f).StartConfigurationHBased(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.started.Suffixes) != 2 || f.started.Suffixes[1] != "example.net" || !bytes.Equal(f.started.LeafHash, leaf[:]) {
		t.Fatalf("firmware got %+v", f.started)
	}
	resp := EncodeResponse(amt.CmdStartConfigurationHBased, amt.HostSuccess, res.encode())
	if len(resp) != 81 {
		t.Fatalf("response is %d bytes, want 81", len(resp))
	}
}

func TestStartConfigASCIIHexAnswer(t *testing.T) {
	t.Parallel()
	h := sha256.Sum256([]byte("device cert"))
	body := append([]byte{2}, []byte(strings.ToUpper(hex.EncodeToString(h[:])))...)
	got, err := decodeStartConfigResult(body)
	if err != nil || !bytes.Equal(got.CertHash, h[:]) {
		t.Fatalf("ASCII hex answer: %x, %v", got.CertHash, err)
	}
}

func TestStartConfigRefusals(t *testing.T) {
	t.Parallel()
	leaf := sha256.Sum256([]byte("leaf"))
	cases := map[string]struct {
		s    StartConfig
		want string
	}{
		"sha1":         {StartConfig{Algorithm: amt.HashSHA1, LeafHash: leaf[:20]}, "want SHA-256 or SHA-384"},
		"short hash":   {StartConfig{Algorithm: amt.HashSHA256, LeafHash: leaf[:20]}, "20 bytes, want 32"},
		"six suffixes": {StartConfig{Algorithm: amt.HashSHA256, LeafHash: leaf[:], Suffixes: []string{"a", "b", "c", "d", "e", "f"}}, "at most 5"},
		"long suffix":  {StartConfig{Algorithm: amt.HashSHA256, LeafHash: leaf[:], Suffixes: []string{strings.Repeat("a", 65)}}, "1 to 64 bytes"},
	}
	for name, c := range cases {
		if _, err := c.s.encode(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func TestStatusAndFraming(t *testing.T) {
	t.Parallel()
	f := &tableFirmware{status: amt.HostInvalidAMTMode}
	_, _, err := client(f).Unprovision(context.Background(), 1)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != amt.HostInvalidAMTMode || !strings.Contains(err.Error(), "invalid AMT mode") {
		t.Fatalf("status error: %v", err)
	}
	// A known command with a wrong body length gets status 4.
	resp, err := Serve(f, EncodeRequest(amt.CmdGetUUID, []byte{1}))
	if err != nil {
		t.Fatal(err)
	}
	if st, _, _ := DecodeResponse(resp, amt.CmdGetUUID); st != amt.HostInvalidMsgLength {
		t.Fatalf("status %v, want invalid message length", st)
	}
	for name, req := range map[string][]byte{
		"short":    {1, 1, 0},
		"version":  {2, 0, 0, 0, 0x5c, 0, 0, 4, 0, 0, 0, 0},
		"length":   {1, 1, 0, 0, 0x5c, 0, 0, 4, 5, 0, 0, 0},
		"response": EncodeResponse(amt.CmdGetUUID, 0, nil),
		"unknown":  EncodeRequest(0x04000099, nil),
	} {
		if _, err := Serve(f, req); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzServe(f *testing.F) {
	leaf := sha256.Sum256([]byte("leaf"))
	sc, _ := StartConfig{Algorithm: amt.HashSHA256, LeafHash: leaf[:], Suffixes: []string{"a.example"}}.encode()
	f.Add(EncodeRequest(amt.CmdStartConfigurationHBased, sc))
	f.Add(EncodeRequest(amt.CmdGetCertHashEntry, []byte{100, 0, 0, 0}))
	f.Add(EncodeRequest(amt.CmdGetLocalSystemAccount, make([]byte, 40)))
	f.Add(EncodeRequest(amt.CmdGetUUID, nil))
	f.Add([]byte{1, 1, 0, 0})
	fw := &tableFirmware{table: amt.DefaultHashTable(amt.Version{Major: 19})}
	f.Fuzz(func(t *testing.T, req []byte) {
		resp, err := Serve(fw, req)
		if err != nil {
			return
		}
		cmd, _, err := DecodeRequest(req)
		if err != nil {
			t.Fatalf("served a request that does not decode: %v", err)
		}
		if _, _, err := DecodeResponse(resp, cmd); err != nil {
			t.Fatalf("answer does not decode: %v", err)
		}
	})
}

// FuzzDecodeBodies feeds hostile response bodies to every decoder.
func FuzzDecodeBodies(f *testing.F) {
	cv, _ := (&tableFirmware{}).CodeVersions()
	b, _ := cv.encode()
	f.Add(b)
	e, _ := CertHashEntry{Algorithm: amt.HashSHA1, Hash: make([]byte, 20), Name: "x"}.encode()
	f.Add(e)
	f.Add(make([]byte, 66))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := decodeCodeVersions(b); err == nil {
			if _, err := c.encode(); err != nil {
				t.Fatalf("decoded code versions do not encode: %v", err)
			}
		}
		_, _ = decodeCertHashEntry(b)
		_, _ = decodeAccount(b)
		_, _ = decodeLANSettings(b)
		_, _ = decodeStartConfig(b)
		_, _ = decodeStartConfigResult(b)
	})
}
