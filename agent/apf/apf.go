// Package apf encodes and decodes the messages of Intel's AMT Port
// Forwarding protocol (APF), which the host speaks with the firmware over
// the MEI LME client when no LMS runs: an SSH-like connection protocol with
// big-endian integers and u32-length strings.
//
// It is pure: no I/O, no state. Decoders take one MEI message and, like the
// proven readers (rpc-go over go-wsman-messages' apf package), ignore bytes
// after the fields they read; a message shorter than its fields is refused.
package apf

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Message types (the numbers of the APF specification, as rpc-go uses them).
const (
	TypeDisconnect            byte = 1
	TypeServiceRequest        byte = 5
	TypeServiceAccept         byte = 6
	TypeGlobalRequest         byte = 80
	TypeRequestSuccess        byte = 81
	TypeRequestFailure        byte = 82
	TypeChannelOpen           byte = 90
	TypeChannelOpenConfirm    byte = 91
	TypeChannelOpenFailure    byte = 92
	TypeChannelWindowAdjust   byte = 93
	TypeChannelData           byte = 94
	TypeChannelClose          byte = 97
	TypeProtocolVersion       byte = 192
	TypeKeepAliveRequest      byte = 208
	TypeKeepAliveReply        byte = 209
	TypeKeepAliveOptionsReq   byte = 210
	TypeKeepAliveOptionsReply byte = 211
)

// Names the protocol carries.
const (
	ServicePortForward = "pfwd@amt.intel.com"
	RequestTCPForward  = "tcpip-forward"
	RequestTCPCancel   = "cancel-tcpip-forward"
	ChannelForwarded   = "forwarded-tcpip"
)

// Channel open failure reasons.
const (
	ReasonProhibited         uint32 = 1
	ReasonConnectFailed      uint32 = 2
	ReasonUnknownChannelType uint32 = 3
	ReasonResourceShortage   uint32 = 4
)

// Sizes the proven implementations use.
const (
	// DefaultWindow is the receive window LMS and rpc-go advertise.
	DefaultWindow = 4096
	// ChannelDataHeader is the bytes of a data message before its payload.
	ChannelDataHeader = 9
	// maxString bounds a string field: the longest legitimate one is a
	// host name; rpc-go refuses names above 2048 bytes.
	maxString = 2048
)

// ErrShort is wrapped by every refusal of a message shorter than its fields.
var ErrShort = errors.New("apf message shorter than its fields")

// Message is one APF message.
type Message interface {
	// Type returns the message type byte.
	Type() byte
	// Marshal encodes the message, type byte first.
	Marshal() []byte
}

// ProtocolVersion opens the session in both directions.
type ProtocolVersion struct {
	Major, Minor  uint32
	TriggerReason uint32
	UUID          [16]byte
}

// ServiceRequest is sent by the firmware to ask for port forwarding.
type ServiceRequest struct{ Service string }

// ServiceAccept answers a ServiceRequest.
type ServiceAccept struct{ Service string }

// GlobalRequest is a tcpip-forward (or cancel) from the firmware, telling
// the host which ports it serves.
type GlobalRequest struct {
	Request   string
	WantReply bool
	Address   string
	Port      uint32
}

// RequestSuccess answers a GlobalRequest; Port is the bound port of a
// tcpip-forward (HasPort), absent for other requests.
type RequestSuccess struct {
	Port    uint32
	HasPort bool
}

// RequestFailure refuses a GlobalRequest.
type RequestFailure struct{}

// ChannelOpen asks the other side for a channel to a port.
type ChannelOpen struct {
	ChannelType   string
	Sender        uint32
	Window        uint32
	MaxPacket     uint32 // rpc-go sends 0xFFFFFFFF ("reserved")
	ConnectedAddr string
	ConnectedPort uint32
	OriginAddr    string
	OriginPort    uint32
}

// ChannelOpenConfirm accepts a ChannelOpen.
type ChannelOpenConfirm struct {
	Recipient, Sender uint32
	Window            uint32
	MaxPacket         uint32
}

// ChannelOpenFailure refuses a ChannelOpen.
type ChannelOpenFailure struct {
	Recipient uint32
	Reason    uint32
}

// ChannelWindowAdjust gives the other side more bytes to send.
type ChannelWindowAdjust struct {
	Recipient uint32
	Bytes     uint32
}

// ChannelData carries bytes of one channel.
type ChannelData struct {
	Recipient uint32
	Data      []byte
}

// ChannelClose ends one channel.
type ChannelClose struct{ Recipient uint32 }

// Disconnect ends the session.
type Disconnect struct{ Reason uint32 }

// KeepAliveRequest asks for a KeepAliveReply with the same cookie.
type KeepAliveRequest struct{ Cookie uint32 }

// KeepAliveReply answers a KeepAliveRequest.
type KeepAliveReply struct{ Cookie uint32 }

func (ProtocolVersion) Type() byte     { return TypeProtocolVersion }
func (ServiceRequest) Type() byte      { return TypeServiceRequest }
func (ServiceAccept) Type() byte       { return TypeServiceAccept }
func (GlobalRequest) Type() byte       { return TypeGlobalRequest }
func (RequestSuccess) Type() byte      { return TypeRequestSuccess }
func (RequestFailure) Type() byte      { return TypeRequestFailure }
func (ChannelOpen) Type() byte         { return TypeChannelOpen }
func (ChannelOpenConfirm) Type() byte  { return TypeChannelOpenConfirm }
func (ChannelOpenFailure) Type() byte  { return TypeChannelOpenFailure }
func (ChannelWindowAdjust) Type() byte { return TypeChannelWindowAdjust }
func (ChannelData) Type() byte         { return TypeChannelData }
func (ChannelClose) Type() byte        { return TypeChannelClose }
func (Disconnect) Type() byte          { return TypeDisconnect }
func (KeepAliveRequest) Type() byte    { return TypeKeepAliveRequest }
func (KeepAliveReply) Type() byte      { return TypeKeepAliveReply }

// enc appends big-endian fields.
type enc []byte

func (e enc) u8(v byte) enc    { return append(e, v) }
func (e enc) u32(v uint32) enc { return binary.BigEndian.AppendUint32(e, v) }
func (e enc) str(s string) enc { return append(e.u32(uint32(len(s))), s...) }

// Marshal implements Message: 93 bytes, the 16-byte UUID then 64 reserved.
func (m ProtocolVersion) Marshal() []byte {
	b := enc{m.Type()}.u32(m.Major).u32(m.Minor).u32(m.TriggerReason)
	b = append(b, m.UUID[:]...)
	return append(b, make([]byte, 64)...)
}
func (m ServiceRequest) Marshal() []byte { return enc{m.Type()}.str(m.Service) }
func (m ServiceAccept) Marshal() []byte  { return enc{m.Type()}.str(m.Service) }
func (m GlobalRequest) Marshal() []byte {
	b := enc{m.Type()}.str(m.Request)
	var want byte
	if m.WantReply {
		want = 1
	}
	return b.u8(want).str(m.Address).u32(m.Port)
}
func (m RequestSuccess) Marshal() []byte {
	if !m.HasPort {
		return []byte{m.Type()}
	}
	return enc{m.Type()}.u32(m.Port)
}
func (m RequestFailure) Marshal() []byte { return []byte{m.Type()} }
func (m ChannelOpen) Marshal() []byte {
	return enc{m.Type()}.str(m.ChannelType).u32(m.Sender).u32(m.Window).u32(m.MaxPacket).
		str(m.ConnectedAddr).u32(m.ConnectedPort).str(m.OriginAddr).u32(m.OriginPort)
}
func (m ChannelOpenConfirm) Marshal() []byte {
	return enc{m.Type()}.u32(m.Recipient).u32(m.Sender).u32(m.Window).u32(m.MaxPacket)
}

// Marshal implements Message: 17 bytes, two reserved zero words after the
// reason.
func (m ChannelOpenFailure) Marshal() []byte {
	return enc{m.Type()}.u32(m.Recipient).u32(m.Reason).u32(0).u32(0)
}
func (m ChannelWindowAdjust) Marshal() []byte {
	return enc{m.Type()}.u32(m.Recipient).u32(m.Bytes)
}
func (m ChannelData) Marshal() []byte {
	return append(enc{m.Type()}.u32(m.Recipient).u32(uint32(len(m.Data))), m.Data...)
}
func (m ChannelClose) Marshal() []byte     { return enc{m.Type()}.u32(m.Recipient) }
func (m Disconnect) Marshal() []byte       { return enc{m.Type()}.u32(m.Reason).u32(0) }
func (m KeepAliveRequest) Marshal() []byte { return enc{m.Type()}.u32(m.Cookie) }
func (m KeepAliveReply) Marshal() []byte   { return enc{m.Type()}.u32(m.Cookie) }

// dec reads big-endian fields; the first shortfall sticks.
type dec struct {
	b    []byte
	name string
	err  error
}

func (d *dec) take(n int, field string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.err = fmt.Errorf("%w: %s needs %d bytes for %s, %d left: the firmware's message is cut; reconnect the LME client", ErrShort, d.name, n, field, len(d.b))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) u8(field string) byte {
	if v := d.take(1, field); v != nil {
		return v[0]
	}
	return 0
}

func (d *dec) u32(field string) uint32 {
	if v := d.take(4, field); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *dec) str(field string) string {
	n := d.u32(field + " length")
	if d.err == nil && n > maxString {
		d.err = fmt.Errorf("apf %s: %s of %d bytes, want at most %d: the message is corrupt; reconnect the LME client", d.name, field, n, maxString)
		return ""
	}
	return string(d.take(int(n), field))
}

// Parse decodes one message. Unknown types are refused with the type seen.
// The data of a ChannelData shares b's memory.
func Parse(b []byte) (Message, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty message, want at least the type byte", ErrShort)
	}
	d := &dec{b: b[1:]}
	var m Message
	switch t := b[0]; t {
	case TypeProtocolVersion:
		d.name = "protocol version"
		v := ProtocolVersion{Major: d.u32("major"), Minor: d.u32("minor"), TriggerReason: d.u32("trigger reason")}
		copy(v.UUID[:], d.take(16, "UUID"))
		d.take(64, "reserved")
		m = v
	case TypeServiceRequest:
		d.name = "service request"
		m = ServiceRequest{Service: d.str("service name")}
	case TypeServiceAccept:
		d.name = "service accept"
		m = ServiceAccept{Service: d.str("service name")}
	case TypeGlobalRequest:
		d.name = "global request"
		m = GlobalRequest{Request: d.str("request name"), WantReply: d.u8("want reply") != 0, Address: d.str("address"), Port: d.u32("port")}
	case TypeRequestSuccess:
		// The port is there for a tcpip-forward only.
		s := RequestSuccess{}
		if len(d.b) >= 4 {
			s.Port, s.HasPort = binary.BigEndian.Uint32(d.b), true
		}
		m = s
	case TypeRequestFailure:
		m = RequestFailure{}
	case TypeChannelOpen:
		d.name = "channel open"
		m = ChannelOpen{ChannelType: d.str("channel type"), Sender: d.u32("sender channel"), Window: d.u32("window"),
			MaxPacket: d.u32("maximum packet"), ConnectedAddr: d.str("connected address"), ConnectedPort: d.u32("connected port"),
			OriginAddr: d.str("originator address"), OriginPort: d.u32("originator port")}
	case TypeChannelOpenConfirm:
		d.name = "channel open confirmation"
		m = ChannelOpenConfirm{Recipient: d.u32("recipient channel"), Sender: d.u32("sender channel"), Window: d.u32("window"), MaxPacket: d.u32("maximum packet")}
	case TypeChannelOpenFailure:
		d.name = "channel open failure"
		m = ChannelOpenFailure{Recipient: d.u32("recipient channel"), Reason: d.u32("reason")}
		d.take(8, "reserved") // rpc-go reads all 17 bytes
	case TypeChannelWindowAdjust:
		d.name = "window adjust"
		m = ChannelWindowAdjust{Recipient: d.u32("recipient channel"), Bytes: d.u32("bytes to add")}
	case TypeChannelData:
		d.name = "channel data"
		r := d.u32("recipient channel")
		n := d.u32("data length")
		if d.err == nil && n > uint32(len(d.b)) {
			d.take(len(d.b)+1, "data")
			d.err = fmt.Errorf("%w: channel data says %d bytes, %d follow: the firmware's message is cut; reconnect the LME client", ErrShort, n, len(d.b))
		}
		m = ChannelData{Recipient: r, Data: d.take(int(n), "data")}
	case TypeChannelClose:
		d.name = "channel close"
		m = ChannelClose{Recipient: d.u32("recipient channel")}
	case TypeDisconnect:
		d.name = "disconnect"
		m = Disconnect{Reason: d.u32("reason")}
	case TypeKeepAliveRequest:
		d.name = "keep-alive request"
		m = KeepAliveRequest{Cookie: d.u32("cookie")}
	case TypeKeepAliveReply:
		d.name = "keep-alive reply"
		m = KeepAliveReply{Cookie: d.u32("cookie")}
	default:
		return nil, fmt.Errorf("apf message type %d: want one of 1, 5, 6, 80-82, 90-94, 97, 192, 208, 209: the peer speaks another protocol; check that the LME client GUID is 6733A4DB-0476-4E7B-B3AF-BCFC29BEE7A7", t)
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}
