package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amtsim"
)

func TestMEIIoctlNumber(t *testing.T) {
	// _IOWR('H', 0x01, struct mei_connect_client_data), 16 bytes.
	const iocReadWrite = 3
	if got := ioctlNumber(iocReadWrite, 'H', 0x01, meiConnectDataSize); got != ioctlMEIConnectClient {
		t.Fatalf("ioctl number %#x, want %#x", got, ioctlMEIConnectClient)
	}
}

func TestMEIGUIDByteOrder(t *testing.T) {
	tests := []struct {
		name string
		got  meiGUID
		want []byte
	}{
		{"PTHI", meiClientPTHI, []byte{0x28, 0x00, 0xF8, 0x12, 0xB7, 0xB4, 0x2D, 0x4B, 0xAC, 0xA8, 0x46, 0xE0, 0xFF, 0x65, 0x81, 0x4C}},
		{"LME", meiClientLME, []byte{0xDB, 0xA4, 0x33, 0x67, 0x76, 0x04, 0x7B, 0x4E, 0xB3, 0xAF, 0xBC, 0xFC, 0x29, 0xBE, 0xE7, 0xA7}},
		{"Watchdog", meiClientWatchdog, []byte{0x6F, 0x9A, 0xB7, 0x05, 0x28, 0x46, 0x7F, 0x4D, 0x89, 0x9D, 0xA9, 0x15, 0x14, 0xCB, 0x32, 0xAB}},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.got[:], tt.want) {
			t.Errorf("%s GUID bytes % X, want % X", tt.name, tt.got[:], tt.want)
		}
		req := meiConnectRequest(tt.got)
		if !bytes.Equal(req[:], tt.want) {
			t.Errorf("%s connect request % X, want the GUID", tt.name, req[:])
		}
	}
	for _, bad := range []string{"", "{12F80028-B4B7}", "{ZZF80028-B4B7-4B2D-ACA8-46E0FF65814C}"} {
		if _, err := parseMEIGUID(bad); err == nil {
			t.Errorf("parseMEIGUID(%q) accepted", bad)
		}
	}
}

func TestMEIConnectReply(t *testing.T) {
	var b [meiConnectDataSize]byte
	binary.LittleEndian.PutUint32(b[:], 4096)
	b[4] = 1
	p, err := parseMEIConnectReply(b)
	if err != nil || p.MaxMessageLength != 4096 || p.ProtocolVersion != 1 {
		t.Fatalf("reply = %+v, %v", p, err)
	}
	if _, err := parseMEIConnectReply([meiConnectDataSize]byte{}); err == nil {
		t.Fatal("a zero maximum message length was accepted")
	}
}

// fakeMEI is an MEI file served by a hostif.Firmware: one write, one reply.
type fakeMEI struct {
	fw      hostif.Firmware
	writes  [][]byte
	busy    int // EBUSY answers before accepting a write
	silent  bool
	pending []byte
}

func (f *fakeMEI) Write(p []byte) (int, error) {
	if f.busy > 0 {
		f.busy--
		return 0, syscall.EBUSY
	}
	f.writes = append(f.writes, bytes.Clone(p))
	resp, err := hostif.Serve(f.fw, p)
	if err != nil {
		return 0, err
	}
	f.pending = resp
	return len(p), nil
}

func (f *fakeMEI) ReadTimeout(p []byte, d time.Duration) (int, error) {
	if f.silent || f.pending == nil {
		return 0, errMEITimeout
	}
	n := copy(p, f.pending)
	f.pending = nil
	return n, nil
}

func (f *fakeMEI) Close() error { return nil }

type uuidFW struct {
	hostif.Firmware
	id amt.UUID
}

func (f uuidFW) UUID() (amt.UUID, amt.HostStatus) { return f.id, amt.HostSuccess }

func TestMEIPTHICall(t *testing.T) {
	id := amt.UUID{0xaa, 1, 2, 3}
	tests := []struct {
		name    string
		f       *fakeMEI
		max     uint32
		wantErr string
		writes  int
		sleeps  int
	}{
		{name: "one write per request", f: &fakeMEI{fw: uuidFW{id: id}}, max: 4096, writes: 1},
		{name: "EBUSY retried with back-off", f: &fakeMEI{fw: uuidFW{id: id}, busy: 2}, max: 4096, writes: 1, sleeps: 2},
		{name: "EBUSY for too long", f: &fakeMEI{fw: uuidFW{id: id}, busy: meiBusyRetries + 1}, max: 4096, wantErr: "device or resource busy", sleeps: meiBusyRetries},
		{name: "no answer", f: &fakeMEI{fw: uuidFW{id: id}, silent: true}, max: 4096, wantErr: "no answer from the firmware", writes: 1},
		{name: "request longer than the client takes", f: &fakeMEI{fw: uuidFW{id: id}}, max: 8, wantErr: "takes at most 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &meiPTHI{f: tt.f, props: meiClientProperties{MaxMessageLength: tt.max}}
			slept := checkUUIDCall(t, m, id, tt.wantErr, func() [][]byte { return tt.f.writes }, tt.writes, tt.sleeps)
			for i := 1; i < len(slept); i++ {
				if slept[i] <= slept[i-1] {
					t.Errorf("back-off did not grow: %v", slept)
				}
			}
		})
	}
}

func TestMEIBackendErrors(t *testing.T) {
	b := &MEI{Device: "/nonexistent/mei0"}
	if _, err := b.OpenPTHI(context.Background()); err == nil || !strings.Contains(err.Error(), "/nonexistent/mei0") {
		t.Fatalf("OpenPTHI on a missing device: %v", err)
	}
	if _, err := b.DialLMS(context.Background(), 22); err == nil {
		t.Fatal("DialLMS accepted port 22")
	}
}

// fakeLMEFile is an MEI file connected to a simulated device's LME client:
// each write is one APF message to the firmware side, each read one message
// from it, as the kernel hands them over.
type fakeLMEFile struct {
	c    net.Conn
	msgs chan []byte
}

func newFakeLMEFile(c net.Conn) *fakeLMEFile {
	f := &fakeLMEFile{c: c, msgs: make(chan []byte, 16)}
	go func() {
		defer close(f.msgs)
		for {
			m, err := wire.ReadFrame(c)
			if err != nil {
				return
			}
			f.msgs <- m
		}
	}()
	return f
}

func (f *fakeLMEFile) Write(p []byte) (int, error) {
	if err := wire.WriteFrame(f.c, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (f *fakeLMEFile) ReadTimeout(p []byte, d time.Duration) (int, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case m, ok := <-f.msgs:
		if !ok {
			return 0, syscall.ENODEV
		}
		return copy(p, m), nil
	case <-t.C:
		return 0, errMEITimeout
	}
}

func (f *fakeLMEFile) Close() error { return f.c.Close() }

// meiOnDevice is an MEI backend whose /dev/mei0 is dev's: its LME client
// speaks APF from the simulator's firmware side; lms is where LMS answers.
func meiOnDevice(t *testing.T, dev *amtsim.Device, lms string, log *bytes.Buffer) (*MEI, *atomic.Int32) {
	t.Helper()
	var lmeOpens atomic.Int32
	b := &MEI{
		Logger: slog.New(slog.NewTextHandler(log, nil)),
		open: func(path string, client meiGUID) (meiFile, meiClientProperties, error) {
			if client != meiClientLME {
				return nil, meiClientProperties{}, fmt.Errorf("client %X: this fake MEI file has the LME client only", client)
			}
			lmeOpens.Add(1)
			return newFakeLMEFile(dev.LME()), meiClientProperties{MaxMessageLength: hostif.MaxMessage, ProtocolVersion: 1}, nil
		},
		lmsAddr: func(int) string { return lms },
	}
	return b, &lmeOpens
}

// wsmanAnswers sends an unauthenticated WS-MAN request over c and wants the
// firmware's digest challenge back.
func wsmanAnswers(t *testing.T, c net.Conn) {
	t.Helper()
	_, _ = io.WriteString(c, "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("WS-MAN over the firmware port: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("WS-MAN over the firmware port: status %d, want 401 (the digest challenge)", resp.StatusCode)
	}
}

func TestMEIDialLMSFallsBackToLME(t *testing.T) {
	t.Parallel()
	dev := newSimDevice(t, "16.1.25")
	var log bytes.Buffer
	b, lmeOpens := meiOnDevice(t, dev, refusedAddr(t), &log)
	for i := range 2 {
		c, err := b.DialLMS(context.Background(), 16992)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		wsmanAnswers(t, c)
		c.Close()
	}
	if lmeOpens.Load() == 0 {
		t.Fatal("the LME client was never opened: want APF over it when LMS refuses")
	}
	if got := log.String(); strings.Count(got, "firmware ports reached") != 1 || !strings.Contains(got, `path="APF over the MEI LME client (no LMS)"`) {
		t.Errorf("log = %q, want one line naming the LME path", got)
	}
}

func TestMEIDialLMSUsesLMS(t *testing.T) {
	t.Parallel()
	dev := newSimDevice(t, "16.1.25")
	// LMS on loopback: each connection is the firmware port it was asked for.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				d, err := dev.DialLMS(context.Background(), 16992)
				if err != nil {
					c.Close()
					return
				}
				pipe(c, d)
			}()
		}
	}()
	var log bytes.Buffer
	b, lmeOpens := meiOnDevice(t, dev, ln.Addr().String(), &log)
	c, err := b.DialLMS(context.Background(), 16992)
	if err != nil {
		t.Fatal(err)
	}
	wsmanAnswers(t, c)
	c.Close()
	if n := lmeOpens.Load(); n != 0 {
		t.Errorf("the LME client was opened %d times with LMS listening: want LMS only", n)
	}
	if got := log.String(); !strings.Contains(got, "path=LMS") {
		t.Errorf("log = %q, want the LMS path", got)
	}
}

// checkUUIDCall makes one GetUUID call through m and checks its answer (or
// the error wanted), the writes the MEI file saw (one message, the framed
// request) and the back-off sleeps; it returns the sleeps.
func checkUUIDCall(t *testing.T, m *meiPTHI, id amt.UUID, wantErr string, writes func() [][]byte, wantWrites, wantSleeps int) []time.Duration {
	t.Helper()
	var slept []time.Duration
	m.sleep = func(d time.Duration) { slept = append(slept, d) }
	got, err := hostif.NewClient(m).UUID(context.Background())
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want %q", err, wantErr)
		}
	} else if err != nil || got != id {
		t.Fatalf("UUID = %v, %v", got, err)
	}
	w := writes()
	if len(w) != wantWrites {
		t.Errorf("%d writes, want %d", len(w), wantWrites)
	}
	if wantWrites > 0 && len(w) > 0 && !bytes.Equal(w[0], hostif.EncodeRequest(amt.CmdGetUUID, nil)) {
		t.Errorf("written % X, want the framed GetUUID request (one write, one message)", w[0])
	}
	if len(slept) != wantSleeps {
		t.Errorf("%d back-off sleeps, want %d", len(slept), wantSleeps)
	}
	return slept
}
