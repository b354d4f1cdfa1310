package lme

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/amtrcs/amtrcs/agent/apf"
)

// FirmwareChannels is how many channels the firmware's LME client holds
// open at once (rpc-go: sender channels 0 to 7, then resource shortage).
const FirmwareChannels = 8

// Firmware is what ServeFirmware plays the LME client of.
type Firmware struct {
	// UUID goes into the firmware's protocol version message.
	UUID [16]byte
	// Ports returns the ports to register when the host accepts port
	// forwarding: the management port and its redirection partner.
	Ports func() []uint32
	// Dial connects a channel to one of the firmware's own ports.
	Dial func(ctx context.Context, port int) (net.Conn, error)
	// KeepSession plays firmware that keeps the session when a channel
	// closes, as rpc-go's local transport assumes when it opens its next
	// channel without a new handshake. By default the session ends with
	// each channel's close, as rpc-go's LME engine says real firmware does
	// ("the firmware drops the LME session on every CHANNEL_CLOSE") and its
	// RPS executor sees ("AMT tears the connection down after a channel
	// close").
	KeepSession bool
}

// ServeFirmware plays the firmware side of APF on link until it ends: it
// answers the host's protocol version, asks for port forwarding, registers
// its ports and connects the channels the host opens.
func ServeFirmware(ctx context.Context, link Link, fw Firmware) error {
	m := newMux(link, 0)
	if !fw.KeepSession {
		m.onClosed = m.endAfterQueued
	}
	stop := context.AfterFunc(ctx, func() { m.fail(fmt.Errorf("%w: %v", ErrSessionClosed, ctx.Err())) })
	defer stop()
	m.run(func(msg apf.Message) error {
		switch msg := msg.(type) {
		case apf.ProtocolVersion:
			if msg.Major != 1 {
				return fmt.Errorf("apf protocol version %d.%d from the host: want 1.x", msg.Major, msg.Minor)
			}
			if err := m.send(apf.ProtocolVersion{Major: 1, Minor: 0, TriggerReason: msg.TriggerReason, UUID: fw.UUID}); err != nil {
				return err
			}
			return m.send(apf.ServiceRequest{Service: apf.ServicePortForward})
		case apf.ServiceAccept:
			for _, p := range fw.Ports() {
				if err := m.send(apf.GlobalRequest{Request: apf.RequestTCPForward, WantReply: true, Address: "", Port: p}); err != nil {
					return err
				}
			}
		case apf.ChannelOpen:
			if msg.ChannelType != apf.ChannelForwarded {
				return m.send(apf.ChannelOpenFailure{Recipient: msg.Sender, Reason: apf.ReasonUnknownChannelType})
			}
			c, err := m.reserve(FirmwareChannels)
			if err != nil {
				return m.send(apf.ChannelOpenFailure{Recipient: msg.Sender, Reason: apf.ReasonResourceShortage})
			}
			// Dialling may take a TLS configuration: off the reader.
			go func() {
				conn, err := fw.Dial(ctx, int(msg.ConnectedPort))
				if err != nil {
					m.release(c)
					_ = m.send(apf.ChannelOpenFailure{Recipient: msg.Sender, Reason: apf.ReasonConnectFailed})
					return
				}
				c.start(msg.Sender, msg.Window)
				if m.send(apf.ChannelOpenConfirm{Recipient: msg.Sender, Sender: c.local, Window: apf.DefaultWindow, MaxPacket: 0xFFFFFFFF}) != nil {
					conn.Close()
					return
				}
				splice(conn, c.outer)
			}()
		}
		return nil
	})
	return m.Err()
}

// splice copies both ways until either side ends, then closes both.
func splice(a, b net.Conn) {
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(a, b); _ = a.Close(); done <- struct{}{} }()
	go func() { _, _ = io.Copy(b, a); _ = b.Close(); done <- struct{}{} }()
	<-done
	<-done
}
