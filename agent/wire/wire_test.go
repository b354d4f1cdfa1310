package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
)

func TestChannelLine(t *testing.T) {
	tests := []struct {
		in      string
		want    Channel
		wantErr string
	}{
		{"pthi\n", ChannelPTHI, ""},
		{"lms:16992\n", ChannelLMS16992, ""},
		{"lms:16993\r\n", ChannelLMS16993, ""},
		{"lms:22\n", "", `channel "lms:22"`},
		{"pthi", "", "unexpected EOF"},
		{"", "", "EOF"},
		{strings.Repeat("a", 300) + "\n", "", "longer than 256"},
	}
	for _, tt := range tests {
		got, err := ReadChannel(strings.NewReader(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ReadChannel(%q) = %v, %v; want error with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ReadChannel(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// The relay hands the rest of the stream to the backend, so reading the
// channel line must not consume a byte more.
func TestReadChannelLeavesPayload(t *testing.T) {
	r := strings.NewReader("lms:16993\n\x16\x03\x01payload")
	if _, err := ReadChannel(r); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "\x16\x03\x01payload" {
		t.Fatalf("payload after the line = %q", rest)
	}
}

func TestAnswer(t *testing.T) {
	var b bytes.Buffer
	if err := WriteAnswer(&b, nil); err != nil || b.String() != "OK\n" {
		t.Fatalf("OK answer %q, %v", b.String(), err)
	}
	if err := ReadAnswer(&b); err != nil {
		t.Fatalf("ReadAnswer(OK) = %v", err)
	}
	b.Reset()
	_ = WriteAnswer(&b, errors.New("no such\ndevice"))
	err := ReadAnswer(&b)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no such device") {
		t.Fatalf("ReadAnswer(ERR) = %v", err)
	}
	if err := ReadAnswer(strings.NewReader("HELLO\n")); err == nil || errors.Is(err, ErrRefused) {
		t.Fatalf("ReadAnswer(garbage) = %v, want a protocol error", err)
	}
}

func TestSimChannel(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSimChannel(&b, "0011-22", ChannelPTHI); err != nil || b.String() != "AMTSIM/1 0011-22 pthi\n" {
		t.Fatalf("got %q, %v", b.String(), err)
	}
	if err := WriteSimChannel(&b, "a b", ChannelPTHI); err == nil {
		t.Fatal("a device name with a space was accepted")
	}
}

func TestFrames(t *testing.T) {
	var b bytes.Buffer
	msg := hostif.EncodeRequest(amt.CmdGetUUID, nil)
	if err := WriteFrame(&b, msg); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(b.Bytes()); int(got) != len(msg) {
		t.Fatalf("length prefix %d, want %d", got, len(msg))
	}
	got, err := ReadFrame(&b)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("ReadFrame = %x, %v", got, err)
	}
	for name, in := range map[string][]byte{
		"zero length": {0, 0, 0, 0},
		"too long":    binary.LittleEndian.AppendUint32(nil, hostif.MaxMessage+1),
		"short body":  append(binary.LittleEndian.AppendUint32(nil, 10), 1, 2, 3),
	} {
		if _, err := ReadFrame(bytes.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := WriteFrame(io.Discard, make([]byte, hostif.MaxMessage+1)); err == nil {
		t.Error("WriteFrame accepted an oversized message")
	}
}

// fakeFirmware answers GetUUID; every other command is unsupported.
type uuidFirmware struct {
	hostif.Firmware
	id amt.UUID
}

func (f uuidFirmware) UUID() (amt.UUID, amt.HostStatus) { return f.id, amt.HostSuccess }

func serveFrames(t *testing.T, c net.Conn, fw hostif.Firmware, stall bool) {
	t.Helper()
	go func() {
		defer c.Close()
		for {
			req, err := ReadFrame(c)
			if err != nil {
				return
			}
			if stall {
				continue
			}
			resp, err := hostif.Serve(fw, req)
			if err != nil {
				return
			}
			if WriteFrame(c, resp) != nil {
				return
			}
		}
	}()
}

func TestFramedTransport(t *testing.T) {
	want := amt.UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	a, b := net.Pipe()
	serveFrames(t, b, uuidFirmware{id: want}, false)
	tr := NewFramedTransport(a)
	defer tr.Close()
	c := hostif.NewClient(tr)
	for i := 0; i < 3; i++ {
		got, err := c.UUID(context.Background())
		if err != nil || got != want {
			t.Fatalf("call %d: UUID = %v, %v", i, got, err)
		}
	}
}

func TestFramedTransportDeadlineBreaksStream(t *testing.T) {
	a, b := net.Pipe()
	serveFrames(t, b, uuidFirmware{}, true)
	tr := NewFramedTransport(a)
	c := hostif.NewClient(tr)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.UUID(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled call: %v, want deadline exceeded", err)
	}
	// A late answer would be read as the reply to the next request, so the
	// transport refuses further calls.
	if _, err := c.UUID(context.Background()); err == nil || !strings.Contains(err.Error(), "closed after an earlier failure") {
		t.Fatalf("call after failure: %v", err)
	}
}

func TestReport(t *testing.T) {
	var b bytes.Buffer
	w := NewLineWriter(&b)
	in := Report{Info: hostif.Info{UUID: amt.UUID{1}, Version: amt.Version{Major: 16, Minor: 1}}, Hostname: "pc1", FQDN: "pc1.corp.example.com", Profile: "office"}
	if err := w.Write(in); err != nil {
		t.Fatal(err)
	}
	_ = w.Write(Event{Kind: EventDone})
	r := NewLineReader(&b)
	got, err := ReadReport(r)
	if err != nil || got.Info.UUID != in.Info.UUID || got.FQDN != in.FQDN || got.Info.Version != in.Info.Version {
		t.Fatalf("ReadReport = %+v, %v", got, err)
	}
	var ev Event
	if err := r.Read(&ev); err != nil || !ev.Final() {
		t.Fatalf("event = %+v, %v", ev, err)
	}
	if err := r.Read(&ev); err != io.EOF {
		t.Fatalf("after the last line: %v, want EOF", err)
	}
	for name, line := range map[string]string{
		"no uuid":   `{"hostname":"pc"}`,
		"not json":  `hello`,
		"long fqdn": `{"info":{"uuid":"01000000-0000-0000-0000-000000000000"},"fqdn":"` + strings.Repeat("a", 300) + `"}`,
		"too long":  strings.Repeat(" ", MaxControlLine+1),
	} {
		if _, err := ReadReport(NewLineReader(strings.NewReader(line + "\n"))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzReadChannel(f *testing.F) {
	for _, s := range []string{"pthi\n", "lms:16993\n", "ERR x\n", "OK\n", "AMTSIM/1 x pthi\n", "\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		if c, err := ReadChannel(r); err == nil {
			if _, err := ParseChannel(string(c)); err != nil {
				t.Fatalf("ReadChannel returned %q that ParseChannel refuses", c)
			}
		}
		_ = ReadAnswer(bytes.NewReader(b))
	})
}

func FuzzReadFrame(f *testing.F) {
	f.Add(append(binary.LittleEndian.AppendUint32(nil, 12), hostif.EncodeRequest(amt.CmdGetUUID, nil)...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := ReadFrame(bytes.NewReader(b))
		if err == nil && (len(msg) == 0 || len(msg) > hostif.MaxMessage) {
			t.Fatalf("frame of %d bytes accepted", len(msg))
		}
	})
}

func FuzzReadReport(f *testing.F) {
	f.Add([]byte(`{"info":{"uuid":"01000000-0000-0000-0000-000000000000","version":"16.1.25"},"hostname":"pc"}` + "\n"))
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ReadReport(NewLineReader(bytes.NewReader(b)))
	})
}

// A call without a deadline of its own is bounded by the transport's
// Timeout: the relay's is long, since the agent times the firmware itself
// and a busy server must not be taken for a silent firmware.
func TestFramedTransportTimeout(t *testing.T) {
	if RelayCallTimeout <= DefaultCallTimeout {
		t.Fatalf("RelayCallTimeout %s is not longer than the agent's DefaultCallTimeout %s", RelayCallTimeout, DefaultCallTimeout)
	}
	a, b := net.Pipe()
	serveFrames(t, b, uuidFirmware{}, true)
	tr := NewFramedTransport(a)
	tr.Timeout = 20 * time.Millisecond
	if _, err := hostif.NewClient(tr).UUID(context.Background()); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled call with a 20 ms Timeout: %v, want the deadline", err)
	}
	// A transport with an hour to wait serves an answer that comes when
	// it comes.
	a, b = net.Pipe()
	serveFrames(t, b, uuidFirmware{id: amt.UUID{7}}, false)
	tr = NewFramedTransport(a)
	tr.Timeout = time.Hour
	if got, err := hostif.NewClient(tr).UUID(context.Background()); err != nil || got != (amt.UUID{7}) {
		t.Fatalf("UUID = %v, %v", got, err)
	}
}
