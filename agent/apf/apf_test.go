package apf

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The byte layouts below are those rpc-go puts on the LME client (through
// go-wsman-messages' apf package): ChannelOpenPort(1, 16992),
// ProtocolVersion(1, 0, 9), ServiceAccept("pfwd@amt.intel.com"),
// TcpForwardReplySuccess(16992), ChannelOpenReplySuccess(1, 2),
// ChannelOpenReplyFailure(1, 4), BuildChannelDataBytes,
// BuildChannelWindowAdjustBytes and BuildChannelCloseBytes. They are written
// out by hand, not derived from the encoder.
var pinned = map[string]struct {
	msg Message
	hex string
}{
	"channel open 16992": {ChannelOpen{ChannelType: ChannelForwarded, Sender: 1, Window: DefaultWindow, MaxPacket: 0xFFFFFFFF,
		ConnectedAddr: "::1", ConnectedPort: 16992, OriginAddr: "::1", OriginPort: 123},
		"5a" + "0000000f" + hex.EncodeToString([]byte("forwarded-tcpip")) + "00000001" + "00001000" + "ffffffff" +
			"00000003" + "3a3a31" + "00004260" + "00000003" + "3a3a31" + "0000007b"},
	"protocol version 1.0 trigger 9": {ProtocolVersion{Major: 1, Minor: 0, TriggerReason: 9},
		"c0" + "00000001" + "00000000" + "00000009" + strings.Repeat("00", 16+64)},
	"service accept pfwd": {ServiceAccept{Service: ServicePortForward},
		"06" + "00000012" + hex.EncodeToString([]byte("pfwd@amt.intel.com"))},
	"tcp forward reply": {RequestSuccess{Port: 16992, HasPort: true}, "51" + "00004260"},
	"open confirmation": {ChannelOpenConfirm{Recipient: 1, Sender: 2, Window: DefaultWindow, MaxPacket: 0xFFFFFFFF},
		"5b" + "00000001" + "00000002" + "00001000" + "ffffffff"},
	"open failure":  {ChannelOpenFailure{Recipient: 1, Reason: ReasonResourceShortage}, "5c" + "00000001" + "00000004" + "00000000" + "00000000"},
	"data":          {ChannelData{Recipient: 7, Data: []byte("hi")}, "5e" + "00000007" + "00000002" + "6869"},
	"window adjust": {ChannelWindowAdjust{Recipient: 7, Bytes: 4096}, "5d" + "00000007" + "00001000"},
	"close":         {ChannelClose{Recipient: 7}, "61" + "00000007"},
	"global request tcpip-forward": {GlobalRequest{Request: RequestTCPForward, WantReply: true, Address: "", Port: 16993},
		"50" + "0000000d" + hex.EncodeToString([]byte("tcpip-forward")) + "01" + "00000000" + "00004261"},
	"service request pfwd": {ServiceRequest{Service: ServicePortForward}, "05" + "00000012" + hex.EncodeToString([]byte("pfwd@amt.intel.com"))},
	"keep-alive reply":     {KeepAliveReply{Cookie: 5}, "d1" + "00000005"},
}

func TestPinnedLayouts(t *testing.T) {
	t.Parallel()
	for name, tc := range pinned {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.msg.Marshal(); !bytes.Equal(got, want) {
				t.Fatalf("Marshal:\n got %x\nwant %x", got, want)
			}
			back, err := Parse(want)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.msg) {
				t.Fatalf("Parse = %#v, want %#v", back, tc.msg)
			}
			// Trailing bytes are ignored, as the proven readers do.
			if _, err := Parse(append(want, 0xEE)); err != nil {
				t.Fatalf("Parse with a trailing byte: %v", err)
			}
		})
	}
}

func TestParseRefusesCutMessages(t *testing.T) {
	t.Parallel()
	for name, tc := range pinned {
		if _, ok := tc.msg.(RequestSuccess); ok {
			continue // the port is optional
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := tc.msg.Marshal()
			for n := 1; n < len(b); n++ {
				if _, err := Parse(b[:n]); !errors.Is(err, ErrShort) {
					t.Fatalf("Parse of %d of %d bytes: err = %v, want ErrShort", n, len(b), err)
				}
			}
		})
	}
}

func TestParseRefusals(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		in   []byte
		want string
	}{
		"empty":        {nil, "empty message"},
		"unknown type": {[]byte{77}, "apf message type 77"},
		"huge string":  {[]byte{TypeServiceRequest, 0xff, 0xff, 0xff, 0xff}, "want at most 2048"},
		"data longer":  {[]byte{TypeChannelData, 0, 0, 0, 1, 0, 0, 0, 9, 1}, "says 9 bytes, 1 follow"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse(%x) = %v, want an error containing %q", tc.in, err, tc.want)
			}
		})
	}
}

// FuzzParse holds Parse to its bounds: never a panic, and what it decodes
// encodes back to a prefix-compatible message that decodes the same.
func FuzzParse(f *testing.F) {
	for _, tc := range pinned {
		b, _ := hex.DecodeString(tc.hex)
		f.Add(b)
	}
	f.Add([]byte{TypeChannelData, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{TypeGlobalRequest, 0x80, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		again, err := Parse(m.Marshal())
		if err != nil {
			t.Fatalf("re-parse of %x: %v", m.Marshal(), err)
		}
		if !reflect.DeepEqual(normalise(again), normalise(m)) {
			t.Fatalf("round trip: %#v, then %#v", m, again)
		}
	})
}

// normalise makes nil and empty data equal.
func normalise(m Message) Message {
	if d, ok := m.(ChannelData); ok && len(d.Data) == 0 {
		d.Data = nil
		return d
	}
	return m
}
