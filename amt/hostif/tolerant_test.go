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
