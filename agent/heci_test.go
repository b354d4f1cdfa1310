package agent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
)

// The values below are rpc-go's (pkg/heci/windows.go and types.go), written
// out by hand so that no code derives them.
func TestHECIIoctlCodes(t *testing.T) {
	tests := []struct {
		name     string
		function uint32
		got      uint32
		want     uint32
	}{
		{"version", 0x800, ioctlHECIGetVersion, 0x8000E000},
		{"connect client", 0x801, ioctlHECIConnectClient, 0x8000E004},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s IOCTL %#x, want %#x", tt.name, tt.got, tt.want)
		}
		if c := heciCtlCode(heciFileDevice, tt.function, heciMethodBuffered, heciAccess); c != tt.want {
			t.Errorf("%s CTL_CODE(0x8000, %#x, 0, 3) = %#x, want %#x", tt.name, tt.function, c, tt.want)
		}
	}
}

func TestHECIInterfaceGUID(t *testing.T) {
	if heciInterfaceGUIDString != "{E2D1FF34-3458-49A9-88DA-8E6915CE9BE5}" {
		t.Fatalf("HECI interface class %s", heciInterfaceGUIDString)
	}
	// A Windows GUID struct in memory: Data1..3 little-endian, Data4 as written.
	want := []byte{0x34, 0xFF, 0xD1, 0xE2, 0x58, 0x34, 0xA9, 0x49, 0x88, 0xDA, 0x8E, 0x69, 0x15, 0xCE, 0x9B, 0xE5}
	if !bytes.Equal(heciInterfaceGUID[:], want) {
		t.Fatalf("HECI interface GUID bytes % X, want % X", heciInterfaceGUID[:], want)
	}
}

func TestHECIVersion(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr string
	}{
		{name: "packed five bytes", in: []byte{2, 1, 3, 0x2C, 0x01}, want: "2.1.3.300"},
		{name: "trailing bytes ignored", in: []byte{2, 1, 3, 0x2C, 0x01, 0xFF}, want: "2.1.3.300"},
		{name: "short", in: []byte{2, 1, 3}, wantErr: "reply of 3 bytes, want 5: update the Intel Management Engine Interface driver"},
	}
	for _, tt := range tests {
		v, err := parseHECIVersion(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || v.String() != tt.want {
			t.Errorf("%s: version %v, %v, want %s", tt.name, v, err, tt.want)
		}
	}
}

// fakeHECI is the Windows driver played in process: the two IOCTLs, then
// an fakeMEI for the messages.
type fakeHECI struct {
	fakeMEI
	version   []byte
	connect   []byte // the connect reply; nil: the client is missing
	ioctls    []uint32
	connectIn []byte
	busyErr   error
	closed    bool
}

func (f *fakeHECI) Ioctl(code uint32, in, out []byte, d time.Duration) (int, error) {
	f.ioctls = append(f.ioctls, code)
	switch code {
	case ioctlHECIGetVersion:
		if len(in) != 0 || len(out) != heciVersionSize {
			return 0, syscall.EINVAL
		}
		return copy(out, f.version), nil
	case ioctlHECIConnectClient:
		f.connectIn = bytes.Clone(in)
		if f.connect == nil {
			return 0, syscall.ENOENT
		}
		if len(out) != meiConnectDataSize {
			return 0, syscall.EINVAL
		}
		return copy(out, f.connect), nil
	}
	return 0, syscall.EINVAL
}

func (f *fakeHECI) Write(p []byte, d time.Duration) (int, error) {
	if f.busy > 0 {
		f.busy--
		return 0, f.busyErr
	}
	return f.fakeMEI.Write(p)
}

func (f *fakeHECI) Close() error { f.closed = true; return nil }

func connectReply(max uint32, proto byte) []byte {
	b := make([]byte, meiConnectDataSize)
	binary.LittleEndian.PutUint32(b, max)
	b[4] = proto
	return b
}

func TestHECIConnect(t *testing.T) {
	id := amt.UUID{0xbb, 4, 5, 6}
	tests := map[string]struct {
		h       *fakeHECI
		wantErr string
		writes  int
		sleeps  int
	}{
		"PTHI call": {
			h:      &fakeHECI{fakeMEI: fakeMEI{fw: uuidFW{id: id}}, version: []byte{1, 2, 3, 4, 0}, connect: connectReply(4096, 1)},
			writes: 1,
		},
		"ERROR_BUSY retried with back-off": {
			h:      &fakeHECI{fakeMEI: fakeMEI{fw: uuidFW{id: id}, busy: 2}, busyErr: syscall.Errno(heciErrorBusy), version: []byte{1, 2, 3, 4, 0}, connect: connectReply(4096, 1)},
			writes: 1, sleeps: 2,
		},
		"other write errors are not retried": {
			h:       &fakeHECI{fakeMEI: fakeMEI{fw: uuidFW{id: id}, busy: 1}, busyErr: errors.New("device gone"), version: []byte{1, 2, 3, 4, 0}, connect: connectReply(4096, 1)},
			wantErr: "MEI write: device gone",
		},
		"no answer": {
			h:       &fakeHECI{fakeMEI: fakeMEI{fw: uuidFW{id: id}, silent: true}, version: []byte{1, 2, 3, 4, 0}, connect: connectReply(4096, 1)},
			wantErr: "no answer from the firmware", writes: 1,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f, v, props, err := connectHECI(tt.h, meiClientPTHI)
			if err != nil {
				t.Fatal(err)
			}
			if v.String() != "1.2.3.4" || props.MaxMessageLength != 4096 || props.ProtocolVersion != 1 {
				t.Fatalf("version %v, properties %+v", v, props)
			}
			if want := []uint32{0x8000E000, 0x8000E004}; len(tt.h.ioctls) != 2 || tt.h.ioctls[0] != want[0] || tt.h.ioctls[1] != want[1] {
				t.Fatalf("IOCTLs % X, want % X (version, then connect)", tt.h.ioctls, want)
			}
			// rpc-go passes the windows.GUID of {12F80028-B4B7-4B2D-ACA8-46E0FF65814C}.
			pthi := []byte{0x28, 0x00, 0xF8, 0x12, 0xB7, 0xB4, 0x2D, 0x4B, 0xAC, 0xA8, 0x46, 0xE0, 0xFF, 0x65, 0x81, 0x4C}
			if !bytes.Equal(tt.h.connectIn, pthi) {
				t.Fatalf("connect input % X, want % X", tt.h.connectIn, pthi)
			}
			m := &meiPTHI{f: f, props: props}
			checkUUIDCall(t, m, id, tt.wantErr, func() [][]byte { return tt.h.writes }, tt.writes, tt.sleeps)
			if err := m.Close(); err != nil || !tt.h.closed {
				t.Errorf("Close: %v, handle closed %v", err, tt.h.closed)
			}
		})
	}
}

func TestHECIConnectRefusals(t *testing.T) {
	tests := map[string]struct {
		h       *fakeHECI
		wantErr string
	}{
		"short version": {
			h:       &fakeHECI{version: []byte{1, 2}, connect: connectReply(4096, 1)},
			wantErr: "want 5: update the Intel Management Engine Interface driver",
		},
		"client missing": {
			h:       &fakeHECI{version: []byte{1, 2, 3, 4, 0}},
			wantErr: "IOCTL 0x8000e004): no such file or directory: the firmware client is missing or busy; check that AMT is enabled in MEBx",
		},
		"zero message length": {
			h:       &fakeHECI{version: []byte{1, 2, 3, 4, 0}, connect: connectReply(0, 1)},
			wantErr: "maximum message length of 0",
		},
		"short connect reply": {
			h:       &fakeHECI{version: []byte{1, 2, 3, 4, 0}, connect: []byte{0, 16, 0}},
			wantErr: "connect reply of 3 bytes, want at least 5",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, _, err := connectHECI(tt.h, meiClientPTHI); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
