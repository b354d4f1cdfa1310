// Package hostif is the wire format of the AMT host interface (PTHI over
// MEI/HECI, reference §12 and §13): message framing, the typed bodies of the
// commands amtrcs uses, a client over any request/response transport, and a
// dispatcher for a firmware implementation.
//
// It is a pure codec plus dispatch: it must never open a device or a socket
// itself. The Linux agent feeds it /dev/mei0, the simulator feeds it a
// virtual device, and both speak exactly these bytes.
package hostif

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/amtrcs/amtrcs/amt"
)

// MaxMessage bounds any PTHI message read from the other side; the largest
// defined one (StartConfigurationHBased) is 402 bytes, GetCodeVersions with
// many entries stays well below 4 KiB.
const MaxMessage = 4096

func putHeader(b []byte, cmd amt.HostCommand, length int) {
	b[0], b[1], b[2], b[3] = amt.HostVersionMajor, amt.HostVersionMinor, 0, 0
	binary.LittleEndian.PutUint32(b[4:], uint32(cmd))
	binary.LittleEndian.PutUint32(b[8:], uint32(length))
}

// EncodeRequest frames a request body.
func EncodeRequest(cmd amt.HostCommand, body []byte) []byte {
	b := make([]byte, amt.HostHeaderLen+len(body))
	putHeader(b, cmd.Request(), len(body))
	copy(b[amt.HostHeaderLen:], body)
	return b
}

// EncodeResponse frames a response: the header with the response bit, the
// status, then body.
func EncodeResponse(cmd amt.HostCommand, status amt.HostStatus, body []byte) []byte {
	b := make([]byte, amt.HostHeaderLen+4+len(body))
	putHeader(b, cmd.Response(), 4+len(body))
	binary.LittleEndian.PutUint32(b[amt.HostHeaderLen:], uint32(status))
	copy(b[amt.HostHeaderLen+4:], body)
	return b
}

func decodeHeader(b []byte) (amt.HostCommand, []byte, error) {
	if len(b) < amt.HostHeaderLen {
		return 0, nil, fmt.Errorf("host interface: message of %d bytes, want at least the %d-byte header", len(b), amt.HostHeaderLen)
	}
	if len(b) > MaxMessage {
		return 0, nil, fmt.Errorf("host interface: message of %d bytes, more than the %d allowed", len(b), MaxMessage)
	}
	if b[0] != amt.HostVersionMajor || b[1] != amt.HostVersionMinor {
		return 0, nil, fmt.Errorf("host interface: header version %d.%d, want %d.%d", b[0], b[1], amt.HostVersionMajor, amt.HostVersionMinor)
	}
	cmd := amt.HostCommand(binary.LittleEndian.Uint32(b[4:]))
	n := binary.LittleEndian.Uint32(b[8:])
	if int64(n) != int64(len(b)-amt.HostHeaderLen) {
		return 0, nil, fmt.Errorf("host interface: %v header says %d body bytes, message has %d", cmd, n, len(b)-amt.HostHeaderLen)
	}
	return cmd, b[amt.HostHeaderLen:], nil
}

// DecodeRequest parses a framed request.
func DecodeRequest(b []byte) (amt.HostCommand, []byte, error) {
	cmd, body, err := decodeHeader(b)
	if err != nil {
		return 0, nil, err
	}
	if cmd.IsResponse() {
		return 0, nil, fmt.Errorf("host interface: got %v where a request was expected", cmd)
	}
	return cmd, body, nil
}

// DecodeResponse parses a framed response to want and returns its status and
// the body after the status.
func DecodeResponse(b []byte, want amt.HostCommand) (amt.HostStatus, []byte, error) {
	cmd, body, err := decodeHeader(b)
	if err != nil {
		return 0, nil, err
	}
	if cmd != want.Response() {
		return 0, nil, fmt.Errorf("host interface: got %v, want %v", cmd, want.Response())
	}
	if len(body) < 4 {
		return 0, nil, fmt.Errorf("host interface: %v has %d body bytes, want at least the 4-byte status", cmd, len(body))
	}
	return amt.HostStatus(binary.LittleEndian.Uint32(body)), body[4:], nil
}

// StatusError is a non-zero host-interface status.
type StatusError struct {
	Command amt.HostCommand
	Status  amt.HostStatus
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("host interface %v: status %d (%v)", e.Command.Request(), uint32(e.Status), e.Status)
}

// reader walks a body with bounds checks so that decoding hostile input
// returns an error instead of panicking.
type reader struct {
	b   []byte
	err error
	cmd amt.HostCommand
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = fmt.Errorf("host interface %v: body ends before %s (%d bytes wanted, %d left)", r.cmd, what, n, len(r.b))
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(what string) uint8 {
	if v := r.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16(what string) uint16 {
	if v := r.take(2, what); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if v := r.take(4, what); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

// done ends a decode. Bytes after the fields are ignored, as the
// hardware-proven readers ignore them (rpc-go pkg/pthi reads the fields it
// needs; Intel LMS and MeshCentral take a 68-byte GetLocalSystemAccount
// body where 66 bytes hold the fields): firmware versions differ in what
// they append. Their count goes to the debug log, never their content,
// which may follow a password.
func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		trailing(r.cmd.String(), len(r.b))
	}
	return r.err
}

// debugLog receives the count of trailing bytes in replies (SetDebugLogger).
var debugLog atomic.Pointer[slog.Logger]

// SetDebugLogger sets where decoders report trailing bytes, at debug level
// (nil: nowhere). The server and the agent set their logger at start.
func SetDebugLogger(l *slog.Logger) { debugLog.Store(l) }

func trailing(command string, n int) {
	if l := debugLog.Load(); l != nil {
		l.Debug("host interface reply has bytes after its fields; ignored", "command", command, "bytes", n)
	}
}

type writer struct{ b []byte }

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *writer) fixed(s []byte, n int) {
	p := make([]byte, n)
	copy(p, s)
	w.b = append(w.b, p...)
}
