package agent

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/amtrcs/amtrcs/agent/lme"
	"github.com/amtrcs/amtrcs/agent/wire"
)

// The Linux MEI character device interface (reference §12). The ioctl
// argument is a 16-byte union: in, the firmware client's GUID; out, the
// largest message the client takes (u32), its protocol version (u8) and
// three reserved bytes.
const (
	// ioctlMEIConnectClient is _IOWR('H', 0x01, struct mei_connect_client_data).
	ioctlMEIConnectClient = 0xC0104801
	meiConnectDataSize    = 16
	// meiReadTimeout is the firmware's answer time for a PTHI request.
	meiReadTimeout = 3 * time.Second
	// meiBusyRetries bounds the back-off while another process holds the
	// client (EBUSY): the whole wait stays under the RCS's call timeout.
	meiBusyRetries = 6
)

// ioctlNumber computes a Linux _IOC request number, so that a test can hold
// the constant above to its definition.
func ioctlNumber(dir, typ, nr, size uint32) uint32 {
	return dir<<30 | size<<16 | typ<<8 | nr
}

// meiGUID is a firmware client's GUID in the kernel's uuid_le byte order:
// the first three fields little-endian, the last eight bytes as written.
type meiGUID [16]byte

// parseMEIGUID reads the registry form {12F80028-B4B7-4B2D-ACA8-46E0FF65814C}.
func parseMEIGUID(s string) (meiGUID, error) {
	var g meiGUID
	h := strings.ReplaceAll(strings.Trim(s, "{}"), "-", "")
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) != 16 {
		return g, fmt.Errorf("MEI client GUID %q: want {8-4-4-4-12 hex digits}", s)
	}
	binary.LittleEndian.PutUint32(g[0:], binary.BigEndian.Uint32(raw[0:]))
	binary.LittleEndian.PutUint16(g[4:], binary.BigEndian.Uint16(raw[4:]))
	binary.LittleEndian.PutUint16(g[6:], binary.BigEndian.Uint16(raw[6:]))
	copy(g[8:], raw[8:])
	return g, nil
}

func mustMEIGUID(s string) meiGUID {
	g, err := parseMEIGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// Firmware clients of reference §12.
var (
	meiClientPTHI     = mustMEIGUID("{12F80028-B4B7-4B2D-ACA8-46E0FF65814C}")
	meiClientLME      = mustMEIGUID("{6733A4DB-0476-4E7B-B3AF-BCFC29BEE7A7}")
	meiClientWatchdog = mustMEIGUID("{05B79A6F-4628-4D7F-899D-A91514CB32AB}")
)

// meiConnectRequest packs the ioctl argument for connecting to client g.
func meiConnectRequest(g meiGUID) [meiConnectDataSize]byte {
	var b [meiConnectDataSize]byte
	copy(b[:], g[:])
	return b
}

// meiClientProperties is what the kernel writes back into the union.
type meiClientProperties struct {
	MaxMessageLength uint32
	ProtocolVersion  uint8
}

func parseMEIConnectReply(b [meiConnectDataSize]byte) (meiClientProperties, error) {
	p := meiClientProperties{
		MaxMessageLength: binary.LittleEndian.Uint32(b[0:]),
		ProtocolVersion:  b[4],
	}
	if p.MaxMessageLength == 0 {
		return p, errors.New("MEI client reports a maximum message length of 0: the firmware client is not usable")
	}
	return p, nil
}

// meiFile is an open, connected MEI file: one write is one message, one read
// returns one message.
type meiFile interface {
	Write(p []byte) (int, error)
	// ReadTimeout waits up to d for a message and reads it into p.
	ReadTimeout(p []byte, d time.Duration) (int, error)
	Close() error
}

// errMEITimeout is returned by ReadTimeout when the firmware did not answer.
var errMEITimeout = errors.New("no answer from the firmware")

// meiPTHI is a connection to one MEI client (PTHI or the manageability
// client) over an MEI file: a hostif.Transport.
type meiPTHI struct {
	mu    sync.Mutex
	f     meiFile
	props meiClientProperties
	sleep func(time.Duration)
}

// Call writes the request as one message and reads one reply.
func (m *meiPTHI) Call(ctx context.Context, req []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if uint32(len(req)) > m.props.MaxMessageLength {
		return nil, fmt.Errorf("MEI request of %d bytes: the firmware client takes at most %d", len(req), m.props.MaxMessageLength)
	}
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := m.f.Write(req)
		if errors.Is(err, syscall.EBUSY) && attempt < meiBusyRetries {
			m.sleep(backoff)
			backoff *= 2
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("MEI write: %w", err)
		}
		if n != len(req) {
			return nil, fmt.Errorf("MEI write: %d of %d bytes written", n, len(req))
		}
		break
	}
	timeout := meiReadTimeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = max(time.Until(d), time.Millisecond)
	}
	buf := make([]byte, m.props.MaxMessageLength)
	n, err := m.f.ReadTimeout(buf, timeout)
	if err != nil {
		return nil, fmt.Errorf("MEI read (waited up to %s): %w", timeout, err)
	}
	return buf[:n], nil
}

func (m *meiPTHI) Close() error { return m.f.Close() }

// MEI is the backend of a real host: /dev/mei0 for PTHI, and LMS (the Intel
// Local Manageability Service) on localhost for the firmware ports.
type MEI struct {
	Device  string // default /dev/mei0
	LMSHost string // default 127.0.0.1
	Dialer  net.Dialer
	Logger  *slog.Logger

	path pathLog
	// open connects to a firmware client (nil: the operating system's MEI
	// device) and lmsAddr names where LMS answers for a firmware port (nil:
	// LMSHost on the same port): the tests' fake MEI file and refusing port.
	open    func(path string, client meiGUID) (meiFile, meiClientProperties, error)
	lmsAddr func(port int) string
}

var _ Backend = (*MEI)(nil)

// OpenPTHI implements Backend.
func (b *MEI) OpenPTHI(ctx context.Context) (PTHI, error) { return b.openClient(meiClientPTHI) }

// OpenManageability implements Backend: the client rpc-go opens as its
// watchdog client.
func (b *MEI) OpenManageability(ctx context.Context) (PTHI, error) {
	return b.openClient(meiClientWatchdog)
}

func (b *MEI) openClient(g meiGUID) (PTHI, error) {
	dev := b.Device
	if dev == "" {
		dev = "/dev/mei0"
	}
	f, props, err := b.openMEI(dev, g)
	if err != nil {
		return nil, err
	}
	return &meiPTHI{f: f, props: props, sleep: time.Sleep}, nil
}

// DialLMS implements Backend.
func (b *MEI) DialLMS(ctx context.Context, port int) (net.Conn, error) {
	if _, err := wire.LMSChannel(port); err != nil {
		return nil, err
	}
	c, err := b.Dialer.DialContext(ctx, "tcp", b.lmsAddress(port))
	if err == nil {
		b.path.say(b.Logger, b.Name(), pathLMS)
		return c, nil
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return nil, fmt.Errorf("LMS port %d: %w: install and start the Intel LMS service (lms.service) on this host, or stop what holds the port", port, err)
	}
	// Nothing listens: no LMS on this host. Speak APF to the firmware's
	// LME client ourselves, as rpc-go does.
	b.path.say(b.Logger, b.Name(), pathLME)
	conn, lerr := dialLME(ctx, port, b.openLME)
	if lerr != nil {
		return nil, fmt.Errorf("firmware port %d: LMS refused (%v) and the LME path failed: %w: start the Intel LMS service (lms.service), or check that AMT is enabled in MEBx", port, err, lerr)
	}
	return conn, nil
}

func (b *MEI) openMEI(path string, client meiGUID) (meiFile, meiClientProperties, error) {
	if b.open != nil {
		return b.open(path, client)
	}
	return openMEI(path, client)
}

func (b *MEI) lmsAddress(port int) string {
	if b.lmsAddr != nil {
		return b.lmsAddr(port)
	}
	host := b.LMSHost
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func (b *MEI) openLME(context.Context) (lme.Link, int, error) {
	dev := b.Device
	if dev == "" {
		dev = "/dev/mei0"
	}
	f, props, err := b.openMEI(dev, meiClientLME)
	if err != nil {
		return nil, 0, err
	}
	return &meiLink{f: f, max: int(props.MaxMessageLength)}, int(props.MaxMessageLength), nil
}

// meiLink carries APF messages over a connected LME client: one write is
// one message; the firmware writes when it likes, so reads wait in turns
// of meiReadTimeout until the link is closed.
type meiLink struct {
	f      meiFile
	max    int
	closed atomic.Bool
}

func (l *meiLink) Send(msg []byte) error {
	if len(msg) > l.max {
		return fmt.Errorf("APF message of %d bytes: the LME client takes at most %d", len(msg), l.max)
	}
	n, err := l.f.Write(msg)
	if err != nil {
		return fmt.Errorf("MEI write: %w", err)
	}
	if n != len(msg) {
		return fmt.Errorf("MEI write: %d of %d bytes written", n, len(msg))
	}
	return nil
}

func (l *meiLink) Recv() ([]byte, error) {
	buf := make([]byte, l.max)
	for {
		if l.closed.Load() {
			return nil, net.ErrClosed
		}
		n, err := l.f.ReadTimeout(buf, meiReadTimeout)
		if errors.Is(err, errMEITimeout) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("MEI read: %w", err)
		}
		return buf[:n], nil
	}
}

func (l *meiLink) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	return l.f.Close()
}

// Name implements Backend.
func (b *MEI) Name() string {
	if b.Device == "" {
		return "MEI /dev/mei0"
	}
	return "MEI " + b.Device
}
