package hostif

import (
	"bytes"
	"context"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
)

type mngFirmware struct {
	state amt.AMTState
	set   []bool
}

func (f *mngFirmware) AMTState() amt.AMTState { return f.state }
func (f *mngFirmware) SetAMTOperational(on bool) amt.HostStatus {
	if !f.state.CanEnable() {
		return amt.HostInvalidAMTMode
	}
	f.set = append(f.set, on)
	if on {
		f.state |= amt.StateOperational
	} else {
		f.state &^= amt.StateOperational
	}
	return amt.HostSuccess
}

// The request bytes are rpc-go's (pkg/pthi/commands.go IsChangeToAMTEnabled
// and SetAmtOperationalState); a change here breaks real firmware.
func TestManageabilityBytes(t *testing.T) {
	if got, want := EncodeAMTStateRequest(), []byte{0x05, 0x02, 0x51, 0x10}; !bytes.Equal(got, want) {
		t.Errorf("IsChangeToAMTEnabled = % X, want % X", got, want)
	}
	if got, want := EncodeSetOperationalRequest(true), []byte{0x05, 0x03, 0x53, 0x10, 0x01}; !bytes.Equal(got, want) {
		t.Errorf("SetAmtOperationalState(on) = % X, want % X", got, want)
	}
	if got, want := EncodeSetOperationalRequest(false), []byte{0x05, 0x03, 0x53, 0x10, 0x00}; !bytes.Equal(got, want) {
		t.Errorf("SetAmtOperationalState(off) = % X, want % X", got, want)
	}
}

func TestManageabilityClient(t *testing.T) {
	ctx := context.Background()
	fw := &mngFirmware{state: 0x81} // new interface, disabled, transition allowed
	m := NewManageability(TransportFunc(func(_ context.Context, req []byte) ([]byte, error) { return ServeManageability(fw, req) }))
	st, err := m.AMTState(ctx)
	if err != nil || st != 0x81 {
		t.Fatalf("AMTState = %v, %v", st, err)
	}
	if err := m.SetOperational(ctx, true); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.AMTState(ctx); !st.Operational() {
		t.Errorf("after enabling, state %v", st)
	}
	fw.state = 0x80 // transition not allowed
	if err := m.SetOperational(ctx, true); err == nil {
		t.Error("a refused transition gave no error")
	}
}

// Replies are read as tolerantly as rpc-go reads them: the flags byte, or
// the status after four header bytes; bytes after them are ignored; a
// reply too short for its field is refused.
func TestManageabilityReplies(t *testing.T) {
	if st, err := DecodeAMTState([]byte{0xC2, 0, 0, 0}); err != nil || st != 0xC2 {
		t.Errorf("padded flags: %v, %v", st, err)
	}
	if _, err := DecodeAMTState(nil); err == nil {
		t.Error("empty flags reply accepted")
	}
	if st, err := DecodeSetOperationalReply([]byte{0x85, 6, 0x53, 0x10, 3, 0, 0, 0, 9, 9}); err != nil || st != amt.HostInvalidAMTMode {
		t.Errorf("padded status: %v, %v", st, err)
	}
	if _, err := DecodeSetOperationalReply([]byte{0x85, 6, 0x53, 0x10, 0}); err == nil {
		t.Error("short status reply accepted")
	}
	for _, bad := range [][]byte{nil, {0x05}, {0x05, 0x02, 0x51, 0x11}, {0x05, 0x03, 0x51, 0x10}, {0x05, 0x03, 0x53, 0x10, 7}, {0x06, 0x02, 0x51, 0x10}} {
		if _, err := ServeManageability(&mngFirmware{}, bad); err == nil {
			t.Errorf("request % X served", bad)
		}
	}
}

func FuzzManageability(f *testing.F) {
	f.Add(EncodeAMTStateRequest())
	f.Add(EncodeSetOperationalRequest(true))
	f.Add([]byte{0xC2})
	f.Add([]byte{0x85, 6, 0x53, 0x10, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeAMTState(b)
		_, _ = DecodeSetOperationalReply(b)
		resp, err := ServeManageability(&mngFirmware{state: 0x81}, b)
		if err != nil {
			return
		}
		if b[2] == mngIsChangeToAMT {
			if _, err := DecodeAMTState(resp); err != nil {
				t.Fatalf("served flags do not decode: %v", err)
			}
		} else if _, err := DecodeSetOperationalReply(resp); err != nil {
			t.Fatalf("served status does not decode: %v", err)
		}
	})
}
