package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// The Windows HECI driver (Intel's Management Engine Interface driver, the
// facts as rpc-go's pkg/heci/windows.go uses them). The device is found as a
// device interface of class heciInterfaceGUID, opened with overlapped I/O,
// and driven by two IOCTLs before plain reads and writes: one write is one
// message, one read returns one message, as on Linux.
//
// Everything here is portable so that it runs in the Linux tests; the system
// calls live in heci_windows.go behind heciHandle.
const (
	// heciInterfaceGUIDString is the HECI device interface class.
	heciInterfaceGUIDString = "{E2D1FF34-3458-49A9-88DA-8E6915CE9BE5}"

	heciFileDevice     = 0x8000 // FILE_DEVICE_HECI
	heciMethodBuffered = 0      // METHOD_BUFFERED
	// heciAccess is the access field the driver's codes are built with
	// (rpc-go passes FILE_SHARE_READ|FILE_SHARE_WRITE, 3, which is also
	// FILE_READ_ACCESS|FILE_WRITE_ACCESS).
	heciAccess = 3

	// ioctlHECIGetVersion is CTL_CODE(FILE_DEVICE_HECI, 0x800, METHOD_BUFFERED, 3).
	ioctlHECIGetVersion = 0x8000E000
	// ioctlHECIConnectClient is CTL_CODE(FILE_DEVICE_HECI, 0x801, METHOD_BUFFERED, 3).
	ioctlHECIConnectClient = 0x8000E004

	// heciVersionSize is the version IOCTL's packed reply: major, minor,
	// hotfix (one byte each) and build (u16 little-endian).
	heciVersionSize = 5
	// heciConnectReplyMin is what the connect reply must hold: the maximum
	// message length (u32) and the protocol version (u8).
	heciConnectReplyMin = 5
	// heciWriteTimeout is how long a write may stay pending (rpc-go: 2 s).
	heciWriteTimeout = 2 * time.Second
	// heciIoctlTimeout bounds each IOCTL, as rpc-go bounds them by its read
	// timeout.
	heciIoctlTimeout = meiReadTimeout
	// heciErrorBusy is ERROR_BUSY: another process holds the client, the
	// Windows form of the Linux driver's EBUSY.
	heciErrorBusy = 170
)

var heciInterfaceGUID = mustMEIGUID(heciInterfaceGUIDString)

// heciCtlCode is the Windows CTL_CODE macro, so that a test can hold the
// IOCTL constants to their definition.
func heciCtlCode(deviceType, function, method, access uint32) uint32 {
	return deviceType<<16 | access<<14 | function<<2 | method
}

// heciHandle is an open HECI device handle: the three operations the driver
// offers. Ioctl returns the bytes the driver wrote into out.
type heciHandle interface {
	Ioctl(code uint32, in, out []byte, d time.Duration) (int, error)
	Write(p []byte, d time.Duration) (int, error)
	ReadTimeout(p []byte, d time.Duration) (int, error)
	Close() error
}

// heciVersion is the driver's version, for logs and refusals.
type heciVersion struct {
	Major, Minor, Hotfix uint8
	Build                uint16
}

func (v heciVersion) String() string {
	return fmt.Sprintf("%d.%d.%d.%d", v.Major, v.Minor, v.Hotfix, v.Build)
}

// parseHECIVersion reads the version IOCTL's reply; trailing bytes are
// ignored, as the proven reader ignores them.
func parseHECIVersion(b []byte) (heciVersion, error) {
	if len(b) < heciVersionSize {
		return heciVersion{}, fmt.Errorf("HECI driver version reply of %d bytes, want %d: update the Intel Management Engine Interface driver", len(b), heciVersionSize)
	}
	return heciVersion{Major: b[0], Minor: b[1], Hotfix: b[2], Build: binary.LittleEndian.Uint16(b[3:])}, nil
}

// connectHECI asks the driver for its version, then connects the handle to
// firmware client g. The input of the connect IOCTL is the client GUID in
// its in-memory (GUID struct) layout, which is meiGUID's byte order; the
// output is the same 16-byte union as the Linux ioctl's.
func connectHECI(h heciHandle, g meiGUID) (meiFile, heciVersion, meiClientProperties, error) {
	vb := make([]byte, heciVersionSize)
	n, err := h.Ioctl(ioctlHECIGetVersion, nil, vb, heciIoctlTimeout)
	if err != nil {
		return nil, heciVersion{}, meiClientProperties{}, fmt.Errorf("HECI driver version (IOCTL %#x): %w: install or update the Intel Management Engine Interface driver", uint32(ioctlHECIGetVersion), err)
	}
	v, err := parseHECIVersion(vb[:n])
	if err != nil {
		return nil, v, meiClientProperties{}, err
	}
	in := meiConnectRequest(g)
	var out [meiConnectDataSize]byte
	n, err = h.Ioctl(ioctlHECIConnectClient, in[:], out[:], heciIoctlTimeout)
	if err != nil {
		return nil, v, meiClientProperties{}, fmt.Errorf("connect to the AMT host interface (HECI driver %s, IOCTL %#x): %w: the firmware client is missing or busy; check that AMT is enabled in MEBx", v, uint32(ioctlHECIConnectClient), err)
	}
	if n < heciConnectReplyMin {
		return nil, v, meiClientProperties{}, fmt.Errorf("HECI connect reply of %d bytes, want at least %d (the maximum message length and the protocol version): update the Intel Management Engine Interface driver", n, heciConnectReplyMin)
	}
	props, err := parseMEIConnectReply(out)
	if err != nil {
		return nil, v, props, err
	}
	return heciFile{h}, v, props, nil
}

// heciFile is a connected HECI handle as an meiFile: what meiPTHI calls.
type heciFile struct{ h heciHandle }

// Write writes one message. A busy client is reported as syscall.EBUSY,
// which meiPTHI retries with back-off as it does on Linux.
func (f heciFile) Write(p []byte) (int, error) {
	n, err := f.h.Write(p, heciWriteTimeout)
	var errno syscall.Errno
	if errors.As(err, &errno) && uint32(errno) == heciErrorBusy {
		return n, fmt.Errorf("%w: %w", syscall.EBUSY, err)
	}
	return n, err
}

func (f heciFile) ReadTimeout(p []byte, d time.Duration) (int, error) { return f.h.ReadTimeout(p, d) }

func (f heciFile) Close() error { return f.h.Close() }
