package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/amtrcs/amtrcs/agent/lme"
	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt/hostif"
)

// PTHI is an open connection to one of the firmware's MEI clients: PTHI,
// or the manageability client, which frames its messages the same way.
type PTHI interface {
	hostif.Transport
	io.Closer
}

// Backend reaches the firmware of the host the agent runs on.
type Backend interface {
	// OpenPTHI connects to the host interface's PTHI client.
	OpenPTHI(ctx context.Context) (PTHI, error)
	// OpenManageability connects to the manageability client
	// (operational state and TLS enforcement, ME 16.1 and later).
	OpenManageability(ctx context.Context) (PTHI, error)
	// DialLMS opens a byte stream to firmware port 16992 or 16993.
	DialLMS(ctx context.Context, port int) (net.Conn, error)
	// Name says what the backend is, for logs.
	Name() string
}

// InProcess reaches a device through functions: an amtsim.Device's Host and
// DialLMS in tests and the demo, with no sockets.
type InProcess struct {
	Label string
	Host  hostif.Transport
	// Mng is the manageability client; nil: the firmware has none.
	Mng  hostif.Transport
	Dial func(ctx context.Context, port int) (net.Conn, error)
	// LME connects to the LME client (frames of APF messages); when Dial
	// is nil the firmware ports are reached through it, as on a host
	// without LMS.
	LME func() net.Conn
}

var _ Backend = (*InProcess)(nil)

// Firmware is a device reached in process: an amtsim.Device.
type Firmware interface {
	Host() hostif.Transport
	Manageability() hostif.Transport
	DialLMS(ctx context.Context, port int) (net.Conn, error)
}

// OnDevice is the in-process backend of one device, with all its clients.
func OnDevice(label string, d Firmware) *InProcess {
	return &InProcess{Label: label, Host: d.Host(), Mng: d.Manageability(), Dial: d.DialLMS}
}

// LMEFirmware is a device reached in process that has an LME client.
type LMEFirmware interface {
	Firmware
	LME() net.Conn
}

// OnDeviceWithoutLMS is the in-process backend of one device on a host
// where no LMS runs: the firmware ports are reached with APF over the
// device's LME client only.
func OnDeviceWithoutLMS(label string, d LMEFirmware) *InProcess {
	return &InProcess{Label: label, Host: d.Host(), Mng: d.Manageability(), LME: d.LME}
}

// OpenPTHI implements Backend.
func (b *InProcess) OpenPTHI(context.Context) (PTHI, error) {
	if b.Host == nil {
		return nil, fmt.Errorf("in-process backend %s has no host interface", b.Label)
	}
	return nopClose{b.Host}, nil
}

// OpenManageability implements Backend.
func (b *InProcess) OpenManageability(context.Context) (PTHI, error) {
	if b.Mng == nil {
		return nil, fmt.Errorf("in-process backend %s has no manageability client", b.Label)
	}
	return nopClose{b.Mng}, nil
}

// DialLMS implements Backend.
func (b *InProcess) DialLMS(ctx context.Context, port int) (net.Conn, error) {
	if _, err := wire.LMSChannel(port); err != nil {
		return nil, err
	}
	if b.Dial != nil {
		return b.Dial(ctx, port)
	}
	if b.LME == nil {
		return nil, fmt.Errorf("in-process backend %s has neither LMS nor an LME client: give it Dial or LME", b.Label)
	}
	return dialLME(ctx, port, func(context.Context) (lme.Link, int, error) {
		return lme.FramedLink(b.LME()), hostif.MaxMessage, nil
	})
}

// Name implements Backend.
func (b *InProcess) Name() string {
	if b.Dial == nil && b.LME != nil {
		return "in-process device " + b.Label + " without LMS"
	}
	return "in-process device " + b.Label
}

type nopClose struct{ hostif.Transport }

func (nopClose) Close() error { return nil }

// SimHostPort reaches one device of an `amtrcs sim` process through its
// loopback host port, which plays /dev/mei0 and LMS for a whole fleet.
type SimHostPort struct {
	Addr   string // host:port of the simulator's host port
	Device string // the device UUID
	Dialer net.Dialer
	// NoLMS plays a host where no LMS runs: the firmware ports are reached
	// with APF over the device's LME client (the host port's "lme" channel).
	NoLMS  bool
	Logger *slog.Logger

	path pathLog
}

var _ Backend = (*SimHostPort)(nil)

// OpenPTHI implements Backend.
func (b *SimHostPort) OpenPTHI(ctx context.Context) (PTHI, error) {
	c, err := b.open(ctx, wire.ChannelPTHI)
	if err != nil {
		return nil, err
	}
	return wire.NewFramedTransport(c), nil
}

// OpenManageability implements Backend.
func (b *SimHostPort) OpenManageability(ctx context.Context) (PTHI, error) {
	c, err := b.open(ctx, wire.ChannelManageability)
	if err != nil {
		return nil, err
	}
	return wire.NewFramedTransport(c), nil
}

// DialLMS implements Backend.
func (b *SimHostPort) DialLMS(ctx context.Context, port int) (net.Conn, error) {
	ch, err := wire.LMSChannel(port)
	if err != nil {
		return nil, err
	}
	if !b.NoLMS {
		b.path.say(b.Logger, b.Name(), pathLMS)
		return b.open(ctx, ch)
	}
	b.path.say(b.Logger, b.Name(), pathLME)
	return dialLME(ctx, port, func(ctx context.Context) (lme.Link, int, error) {
		c, err := b.open(ctx, wire.ChannelLME)
		if err != nil {
			return nil, 0, err
		}
		return lme.FramedLink(c), hostif.MaxMessage, nil
	})
}

// Name implements Backend.
func (b *SimHostPort) Name() string {
	if b.NoLMS {
		return fmt.Sprintf("simulator %s device %s without LMS", b.Addr, b.Device)
	}
	return fmt.Sprintf("simulator %s device %s", b.Addr, b.Device)
}

func (b *SimHostPort) open(ctx context.Context, ch wire.Channel) (net.Conn, error) {
	c, err := b.Dialer.DialContext(ctx, "tcp", b.Addr)
	if err != nil {
		return nil, fmt.Errorf("simulator host port %s: %w: start `amtrcs sim` or fix --sim", b.Addr, err)
	}
	// The answer comes at once from a live simulator; a silent one is
	// something else listening on that port.
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wire.WriteSimChannel(c, b.Device, ch); err != nil {
		c.Close()
		return nil, err
	}
	if err := wire.ReadAnswer(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("simulator %s device %s channel %s: %w", b.Addr, b.Device, ch, err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
