package hostif

import (
	"encoding/binary"
	"fmt"

	"github.com/amtrcs/amtrcs/amt"
)

// Firmware is the firmware side of the host interface. The simulator
// implements it; Serve turns framed requests into calls on it.
type Firmware interface {
	CodeVersions() (CodeVersions, amt.HostStatus)
	UUID() (amt.UUID, amt.HostStatus)
	ControlMode() (amt.ControlMode, amt.HostStatus)
	ProvisioningState() (amt.ProvisioningState, amt.HostStatus)
	PKIDNSSuffix() (string, amt.HostStatus)
	HashHandles() ([]uint32, amt.HostStatus)
	CertHashEntry(handle uint32) (CertHashEntry, amt.HostStatus)
	LocalSystemAccount() (Account, amt.HostStatus)
	LANInterfaceSettings(index uint32) (LANSettings, amt.HostStatus)
	StartConfigurationHBased(StartConfig) (StartConfigResult, amt.HostStatus)
	StopConfiguration() amt.HostStatus
	Unprovision(mode uint32) (amt.ProvisioningState, amt.HostStatus)
}

// Serve answers one framed request. A request whose header cannot be read
// gets an error and no answer, as the MEI driver would drop it; a known
// command with a malformed body gets status 4 (invalid message length).
func Serve(f Firmware, request []byte) ([]byte, error) {
	cmd, body, err := DecodeRequest(request)
	if err != nil {
		return nil, err
	}
	bad := func() ([]byte, error) { return EncodeResponse(cmd, amt.HostInvalidMsgLength, nil), nil }
	reply := func(status amt.HostStatus, b []byte) ([]byte, error) {
		if status != amt.HostSuccess {
			b = nil
		}
		return EncodeResponse(cmd, status, b), nil
	}
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	noBody := len(body) == 0
	switch cmd {
	case amt.CmdGetCodeVersions:
		if !noBody {
			return bad()
		}
		cv, st := f.CodeVersions()
		b, err := cv.encode()
		if err != nil {
			return reply(amt.HostInternalError, nil)
		}
		return reply(st, b)
	case amt.CmdGetUUID:
		if !noBody {
			return bad()
		}
		u, st := f.UUID()
		return reply(st, u[:])
	case amt.CmdGetControlMode:
		if !noBody {
			return bad()
		}
		m, st := f.ControlMode()
		return reply(st, u32(uint32(m)))
	case amt.CmdGetProvisioningState:
		if !noBody {
			return bad()
		}
		s, st := f.ProvisioningState()
		return reply(st, u32(uint32(s)))
	case amt.CmdGetPKIFQDNSuffix:
		if !noBody {
			return bad()
		}
		s, st := f.PKIDNSSuffix()
		w := &writer{}
		w.u16(uint16(len(s)))
		w.b = append(w.b, s...)
		return reply(st, w.b)
	case amt.CmdEnumerateHashHandles:
		if !noBody {
			return bad()
		}
		hs, st := f.HashHandles()
		w := &writer{}
		w.u32(uint32(len(hs)))
		for _, h := range hs {
			w.u32(h)
		}
		return reply(st, w.b)
	case amt.CmdGetCertHashEntry:
		if len(body) != 4 {
			return bad()
		}
		e, st := f.CertHashEntry(binary.LittleEndian.Uint32(body))
		if st != amt.HostSuccess {
			return reply(st, nil)
		}
		b, err := e.encode()
		if err != nil {
			return reply(amt.HostInternalError, nil)
		}
		return reply(st, b)
	case amt.CmdGetLocalSystemAccount:
		if len(body) != localAccountReq {
			return bad()
		}
		a, st := f.LocalSystemAccount()
		b, err := a.encode()
		if err != nil {
			return reply(amt.HostInternalError, nil)
		}
		return reply(st, b)
	case amt.CmdGetLANInterfaceSettings:
		if len(body) != 4 {
			return bad()
		}
		l, st := f.LANInterfaceSettings(binary.LittleEndian.Uint32(body))
		return reply(st, l.encode())
	case amt.CmdStartConfigurationHBased:
		if len(body) != startConfigBody {
			return bad()
		}
		s, err := decodeStartConfig(body)
		if err != nil {
			return bad()
		}
		res, st := f.StartConfigurationHBased(s)
		return reply(st, res.encode())
	case amt.CmdStopConfiguration:
		if !noBody {
			return bad()
		}
		return reply(f.StopConfiguration(), nil)
	case amt.CmdUnprovision:
		if len(body) != 4 {
			return bad()
		}
		s, st := f.Unprovision(binary.LittleEndian.Uint32(body))
		return reply(st, u32(uint32(s)))
	}
	return nil, fmt.Errorf("host interface: %v is not a command this firmware knows", cmd)
}
