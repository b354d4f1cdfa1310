package hostif

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
)

// reshape rewrites a framed reply: pad bytes appended to the body, or the
// body cut to keep bytes, with the header's length fixed up, as firmware
// of another version would send it.
func reshape(resp []byte, pad, keep int) []byte {
	body := append([]byte(nil), resp[amt.HostHeaderLen:]...)
	if keep >= 0 && keep < len(body) {
		body = body[:keep]
	}
	body = append(body, bytes.Repeat([]byte{0xAA}, pad)...)
	out := append([]byte(nil), resp[:amt.HostHeaderLen]...)
	binary.LittleEndian.PutUint32(out[8:], uint32(len(body)))
	return append(out, body...)
}

// TestRepliesWithTrailingBytes: every reply decodes with bytes after its
// fields (a 68-byte GetLocalSystemAccount body, as Intel LMS and
// MeshCentral read it), and the debug log counts them without their
// content. Unprovision's reply may hold the status alone.
func TestRepliesWithTrailingBytes(t *testing.T) {
	var logBuf bytes.Buffer
	SetDebugLogger(slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { SetDebugLogger(nil) })
	f := &tableFirmware{table: amt.DefaultHashTable(amt.Version{Major: 16})}
	padded := NewClient(TransportFunc(func(_ context.Context, req []byte) ([]byte, error) {
		resp, err := Serve(f, req)
		return reshape(resp, 2, -1), err
	}))
	ctx := context.Background()
	in, err := padded.ReadInfo(ctx)
	if err != nil || in.DNSSuffix != "corp.example.com" || len(in.Hashes.Entries) == 0 {
		t.Fatalf("ReadInfo with padded replies: %+v, %v", in, err)
	}
	acct, err := padded.LocalSystemAccount(ctx)
	if err != nil || acct.Username != "$$OsAdmin" || acct.Password != "s3cr3t-lsa" {
		t.Fatalf("68-byte account body: %v", err)
	}
	if lan, err := padded.LANInterfaceSettings(ctx, 0); err != nil || !lan.LinkUp {
		t.Fatalf("LAN settings: %+v, %v", lan, err)
	}
	if res, err := padded.StartConfigurationHBased(ctx, StartConfig{Algorithm: amt.HashSHA256, LeafHash: make([]byte, 32)}); err != nil || len(res.CertHash) != 32 {
		t.Fatalf("StartConfigurationHBased: %+v, %v", res, err)
	}
	log := logBuf.String()
	if !strings.Contains(log, "GetLocalSystemAccount") || !strings.Contains(log, "bytes=2") || strings.Contains(log, "s3cr3t") || strings.Contains(log, "aa") {
		t.Errorf("debug log %q: want the command and the count, never content", log)
	}

	statusOnly := NewClient(TransportFunc(func(_ context.Context, req []byte) ([]byte, error) {
		resp, err := Serve(f, req)
		return reshape(resp, 0, 4), err
	}))
	if _, known, err := statusOnly.Unprovision(ctx, 1); err != nil || known {
		t.Fatalf("status-only Unprovision: known %v, %v", known, err)
	}
	if st, known, err := padded.Unprovision(ctx, 1); err != nil || !known || st != amt.PreProvisioning {
		t.Fatalf("Unprovision with its state: %v %v %v", st, known, err)
	}

	// Short replies are still refused, naming what is missing.
	short := NewClient(TransportFunc(func(_ context.Context, req []byte) ([]byte, error) {
		resp, err := Serve(f, req)
		return reshape(resp, 0, 4+40), err
	}))
	if _, err := short.LocalSystemAccount(ctx); err == nil || !strings.Contains(err.Error(), "body ends before the password") {
		t.Fatalf("short account body: %v", err)
	}
}

// FuzzClientReplies feeds every typed call of the client a reply built
// from the fuzzer's bytes, framed as the answer to that call: no reply may
// panic a reader, and a reply that decodes keeps to its bounds. The seeds
// are the shapes real firmware sends: exact, two bytes after the fields (a
// 68-byte GetLocalSystemAccount body), and Unprovision's status alone.
func FuzzClientReplies(f *testing.F) {
	fw := &tableFirmware{table: amt.DefaultHashTable(amt.Version{Major: 16})}
	for which, cmd := range []amt.HostCommand{amt.CmdGetCodeVersions, amt.CmdGetLocalSystemAccount, amt.CmdGetCertHashEntry, amt.CmdUnprovision, amt.CmdGetLANInterfaceSettings} {
		body := make([]byte, 4)
		if cmd == amt.CmdGetLocalSystemAccount {
			body = make([]byte, localAccountReq)
		}
		resp, err := Serve(fw, EncodeRequest(cmd, body))
		if err != nil {
			f.Fatal(err)
		}
		// which picks the call below: the same order as this list.
		f.Add(uint8(which), resp[amt.HostHeaderLen:])
		f.Add(uint8(which), reshape(resp, 2, -1)[amt.HostHeaderLen:])
		f.Add(uint8(which), reshape(resp, 0, 4)[amt.HostHeaderLen:])
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		var cmd amt.HostCommand
		c := NewClient(TransportFunc(func(_ context.Context, req []byte) ([]byte, error) {
			cmd, _, _ = DecodeRequest(req)
			out := make([]byte, amt.HostHeaderLen, amt.HostHeaderLen+len(body))
			putHeader(out, cmd.Response(), len(body))
			return append(out, body...), nil
		}))
		ctx := context.Background()
		switch which % 8 {
		case 0:
			_, _ = c.CodeVersions(ctx)
		case 1:
			_, _ = c.LocalSystemAccount(ctx)
		case 2:
			_, _ = c.CertHashEntry(ctx, 1)
		case 3:
			_, _, _ = c.Unprovision(ctx, 1)
		case 4:
			_, _ = c.LANInterfaceSettings(ctx, 0)
		case 5:
			_, _ = c.HashTable(ctx)
		case 6:
			_, _ = c.DNSSuffix(ctx)
		case 7:
			_, _ = c.UUID(ctx)
		}
	})
}
