package hostif

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/amtrcs/amtrcs/amt"
)

// The manageability client (Intel LMS's name; rpc-go opens it as its
// watchdog client, MEI GUID 05B79A6F-4628-4D7F-899D-A91514CB32AB) is a
// second MEI client beside PTHI. Its messages have no PTHI header: a
// request is command, byte count (the bytes after it), sub-command and
// interface version, then its data (rpc-go pkg/pthi/types.go,
// Intel LMS ManageabilityCommand.h).
const (
	mngCommand        = 0x05
	mngVersion        = 0x10
	mngIsChangeToAMT  = 0x51 // STATE_INDEPENDENCE_IsChangeToAMTEnabled
	mngSetOperational = 0x53 // MHC_SetAmtOperationalState
	// mngSetReplyLen is the SetAmtOperationalState reply as rpc-go reads
	// it: four header bytes it skips, then the status.
	mngSetReplyLen = 8
)

// ManageabilityGUID names the MEI client these messages go to.
const ManageabilityGUID = "05B79A6F-4628-4D7F-899D-A91514CB32AB"

func mngRequest(sub byte, data ...byte) []byte {
	return append([]byte{mngCommand, byte(2 + len(data)), sub, mngVersion}, data...)
}

// EncodeAMTStateRequest is IsChangeToAMTEnabled: 05 02 51 10.
func EncodeAMTStateRequest() []byte { return mngRequest(mngIsChangeToAMT) }

// EncodeSetOperationalRequest is SetAmtOperationalState: 05 03 53 10 and 1
// to enable, 0 to disable.
func EncodeSetOperationalRequest(enable bool) []byte {
	var v byte
	if enable {
		v = 1
	}
	return mngRequest(mngSetOperational, v)
}

// DecodeAMTState reads IsChangeToAMTEnabled's reply: its first byte is the
// flags, as rpc-go and Intel LMS read it; bytes after it are ignored.
func DecodeAMTState(b []byte) (amt.AMTState, error) {
	if len(b) < 1 {
		return 0, fmt.Errorf("manageability client IsChangeToAMTEnabled: empty reply, want at least the flags byte")
	}
	if len(b) > 1 {
		trailing("IsChangeToAMTEnabled", len(b)-1)
	}
	return amt.AMTState(b[0]), nil
}

// DecodeSetOperationalReply reads SetAmtOperationalState's reply: four
// header bytes, then the status; bytes after it are ignored.
func DecodeSetOperationalReply(b []byte) (amt.HostStatus, error) {
	if len(b) < mngSetReplyLen {
		return 0, fmt.Errorf("manageability client SetAmtOperationalState: reply of %d bytes, want at least %d (header and status)", len(b), mngSetReplyLen)
	}
	if len(b) > mngSetReplyLen {
		trailing("SetAmtOperationalState", len(b)-mngSetReplyLen)
	}
	return amt.HostStatus(binary.LittleEndian.Uint32(b[4:])), nil
}

// Manageability makes the manageability client's calls over t.
type Manageability struct{ t Transport }

// NewManageability returns a manageability client over t.
func NewManageability(t Transport) *Manageability { return &Manageability{t: t} }

// AMTState reads the operational and TLS-enforcement flags.
func (m *Manageability) AMTState(ctx context.Context) (amt.AMTState, error) {
	b, err := m.t.Call(ctx, EncodeAMTStateRequest())
	if err != nil {
		return 0, fmt.Errorf("manageability client IsChangeToAMTEnabled: %w", err)
	}
	return DecodeAMTState(b)
}

// SetOperational turns AMT on or off (ME 16.1+; AMTState.CanEnable says
// whether the firmware allows it).
func (m *Manageability) SetOperational(ctx context.Context, enable bool) error {
	b, err := m.t.Call(ctx, EncodeSetOperationalRequest(enable))
	if err != nil {
		return fmt.Errorf("manageability client SetAmtOperationalState: %w", err)
	}
	st, err := DecodeSetOperationalReply(b)
	if err != nil {
		return err
	}
	if st != amt.HostSuccess {
		return fmt.Errorf("manageability client SetAmtOperationalState(%v): status %d (%v)", enable, uint32(st), st)
	}
	return nil
}

// ManageabilityFirmware is the firmware side of the manageability client.
type ManageabilityFirmware interface {
	AMTState() amt.AMTState
	SetAMTOperational(enable bool) amt.HostStatus
}

// ServeManageability answers one manageability request. A request that is
// not one of the two known ones gets an error and no answer.
func ServeManageability(f ManageabilityFirmware, req []byte) ([]byte, error) {
	if len(req) < 4 || req[0] != mngCommand || req[3] != mngVersion || int(req[1]) != len(req)-2 {
		return nil, fmt.Errorf("manageability client: request % X is not command 05, version 10 with its byte count", truncBytes(req))
	}
	switch {
	case req[2] == mngIsChangeToAMT && len(req) == 4:
		return []byte{byte(f.AMTState())}, nil
	case req[2] == mngSetOperational && len(req) == 5 && req[4] <= 1:
		st := f.SetAMTOperational(req[4] == 1)
		out := []byte{mngCommand | 0x80, 6, mngSetOperational, mngVersion}
		return binary.LittleEndian.AppendUint32(out, uint32(st)), nil
	}
	return nil, fmt.Errorf("manageability client: unknown request % X", truncBytes(req))
}

func truncBytes(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}
