package hostif

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/amtrcs/amtrcs/amt"
)

// Transport carries one framed request to the firmware and returns its
// framed response: /dev/mei0 on a real host, a virtual device in the
// simulator, or a stream relayed by the agent.
type Transport interface {
	Call(ctx context.Context, request []byte) ([]byte, error)
}

// TransportFunc adapts a function to Transport.
type TransportFunc func(ctx context.Context, request []byte) ([]byte, error)

// Call implements Transport.
func (f TransportFunc) Call(ctx context.Context, request []byte) ([]byte, error) {
	return f(ctx, request)
}

// Client makes typed host-interface calls.
type Client struct{ t Transport }

// NewClient returns a client over t.
func NewClient(t Transport) *Client { return &Client{t: t} }

func (c *Client) call(ctx context.Context, cmd amt.HostCommand, body []byte) ([]byte, error) {
	resp, err := c.t.Call(ctx, EncodeRequest(cmd, body))
	if err != nil {
		return nil, fmt.Errorf("host interface %v: %w", cmd, err)
	}
	status, rest, err := DecodeResponse(resp, cmd)
	if err != nil {
		return nil, err
	}
	if status != amt.HostSuccess {
		return nil, &StatusError{Command: cmd, Status: status}
	}
	return rest, nil
}

func (c *Client) u32(ctx context.Context, cmd amt.HostCommand) (uint32, error) {
	b, err := c.call(ctx, cmd, nil)
	if err != nil {
		return 0, err
	}
	r := &reader{b: b, cmd: cmd}
	v := r.u32("the value")
	return v, r.done()
}

// CodeVersions reads the firmware versions.
func (c *Client) CodeVersions(ctx context.Context) (CodeVersions, error) {
	b, err := c.call(ctx, amt.CmdGetCodeVersions, nil)
	if err != nil {
		return CodeVersions{}, err
	}
	return decodeCodeVersions(b)
}

// UUID reads the device UUID.
func (c *Client) UUID(ctx context.Context) (amt.UUID, error) {
	var u amt.UUID
	b, err := c.call(ctx, amt.CmdGetUUID, nil)
	if err != nil {
		return u, err
	}
	r := &reader{b: b, cmd: amt.CmdGetUUID}
	copy(u[:], r.take(16, "the UUID"))
	return u, r.done()
}

// ControlMode reads none, CCM or ACM.
func (c *Client) ControlMode(ctx context.Context) (amt.ControlMode, error) {
	v, err := c.u32(ctx, amt.CmdGetControlMode)
	return amt.ControlMode(v), err
}

// ProvisioningState reads pre, in or post provisioning.
func (c *Client) ProvisioningState(ctx context.Context) (amt.ProvisioningState, error) {
	v, err := c.u32(ctx, amt.CmdGetProvisioningState)
	return amt.ProvisioningState(v), err
}

// DNSSuffix reads the PKI DNS suffix the firmware uses for the certificate
// rule.
func (c *Client) DNSSuffix(ctx context.Context) (string, error) {
	b, err := c.call(ctx, amt.CmdGetPKIFQDNSuffix, nil)
	if err != nil {
		return "", err
	}
	r := &reader{b: b, cmd: amt.CmdGetPKIFQDNSuffix}
	n := int(r.u16("the suffix length"))
	s := r.take(n, "the suffix")
	return string(s), r.done()
}

// HashHandles lists the handles of the trusted-root table.
func (c *Client) HashHandles(ctx context.Context) ([]uint32, error) {
	b, err := c.call(ctx, amt.CmdEnumerateHashHandles, nil)
	if err != nil {
		return nil, err
	}
	r := &reader{b: b, cmd: amt.CmdEnumerateHashHandles}
	n := r.u32("the handle count")
	if r.err == nil && n > amt.MaxHashEntries {
		return nil, fmt.Errorf("host interface: %d hash handles, at most %d", n, amt.MaxHashEntries)
	}
	hs := make([]uint32, 0, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		hs = append(hs, r.u32("a handle"))
	}
	return hs, r.done()
}

// CertHashEntry reads one row of the trusted-root table.
func (c *Client) CertHashEntry(ctx context.Context, handle uint32) (CertHashEntry, error) {
	b, err := c.call(ctx, amt.CmdGetCertHashEntry, binary.LittleEndian.AppendUint32(nil, handle))
	if err != nil {
		return CertHashEntry{}, err
	}
	return decodeCertHashEntry(b)
}

// HashTable reads the whole trusted-root table.
func (c *Client) HashTable(ctx context.Context) (amt.HashTable, error) {
	hs, err := c.HashHandles(ctx)
	if err != nil {
		return amt.HashTable{}, err
	}
	var t amt.HashTable
	for _, h := range hs {
		e, err := c.CertHashEntry(ctx, h)
		if err != nil {
			return amt.HashTable{}, err
		}
		t.Entries = append(t.Entries, e.RootHash())
	}
	return t, nil
}

// LocalSystemAccount reads the pre-provisioning WS-MAN credentials.
func (c *Client) LocalSystemAccount(ctx context.Context) (Account, error) {
	b, err := c.call(ctx, amt.CmdGetLocalSystemAccount, make([]byte, localAccountReq))
	if err != nil {
		return Account{}, err
	}
	return decodeAccount(b)
}

// LANInterfaceSettings reads the wired (0) or wireless (1) interface.
func (c *Client) LANInterfaceSettings(ctx context.Context, index uint32) (LANSettings, error) {
	b, err := c.call(ctx, amt.CmdGetLANInterfaceSettings, binary.LittleEndian.AppendUint32(nil, index))
	if err != nil {
		return LANSettings{}, err
	}
	return decodeLANSettings(b)
}

// StartConfigurationHBased opens TLS-based setup (AMT 19+).
func (c *Client) StartConfigurationHBased(ctx context.Context, s StartConfig) (StartConfigResult, error) {
	body, err := s.encode()
	if err != nil {
		return StartConfigResult{}, err
	}
	b, err := c.call(ctx, amt.CmdStartConfigurationHBased, body)
	if err != nil {
		return StartConfigResult{}, err
	}
	return decodeStartConfigResult(b)
}

// StopConfiguration returns the device to pre-provisioning after a failed
// TLS-based setup.
func (c *Client) StopConfiguration(ctx context.Context) error {
	_, err := c.call(ctx, amt.CmdStopConfiguration, nil)
	return err
}

// Unprovision asks the firmware to unprovision (CCM only, reference §9).
// Only the reply's status counts, as Intel LMS (UnprovisionCommand.h) and
// MeshCentral read it: some firmware sends a state after it, some does
// not. The state, when sent, is returned with known true.
func (c *Client) Unprovision(ctx context.Context, mode uint32) (state amt.ProvisioningState, known bool, err error) {
	b, err := c.call(ctx, amt.CmdUnprovision, binary.LittleEndian.AppendUint32(nil, mode))
	if err != nil {
		return 0, false, err
	}
	if len(b) < 4 {
		return 0, false, nil
	}
	r := &reader{b: b, cmd: amt.CmdUnprovision}
	v := r.u32("the state")
	return amt.ProvisioningState(v), true, r.done()
}

// Info is what the host interface tells about a device before it is
// provisioned: everything the RCS needs for its preflight.
type Info struct {
	UUID              amt.UUID              `json:"uuid"`
	Version           amt.Version           `json:"version"`
	SKU               string                `json:"sku,omitempty"`
	ControlMode       amt.ControlMode       `json:"control_mode"`
	ProvisioningState amt.ProvisioningState `json:"provisioning_state"`
	DNSSuffix         string                `json:"dns_suffix"`
	Hashes            amt.HashTable         `json:"hashes"`
	// AMTState is what the manageability client reported (operational,
	// TLS enforced on the local ports); nil when it was not read.
	AMTState *amt.AMTState `json:"amt_state,omitempty"`
}

// TLSEnforced reports whether the firmware serves WS-MAN on its local
// ports over TLS only: what its manageability client said, or, when that
// was not read, whether its version activates over TLS only (AMT 19+),
// where plain 16992 would certainly be refused.
func (in Info) TLSEnforced() bool {
	if in.AMTState != nil {
		return in.AMTState.TLSEnforced()
	}
	p, err := amt.LookupProfile(in.Version)
	return err == nil && p.TLSSetup
}

// ReadInfo gathers Info with one call per fact.
func (c *Client) ReadInfo(ctx context.Context) (Info, error) {
	var in Info
	var err error
	if in.UUID, err = c.UUID(ctx); err != nil {
		return in, err
	}
	cv, err := c.CodeVersions(ctx)
	if err != nil {
		return in, err
	}
	if in.Version, err = cv.AMTVersion(); err != nil {
		return in, err
	}
	in.SKU, _ = cv.Lookup("Sku")
	if in.ControlMode, err = c.ControlMode(ctx); err != nil {
		return in, err
	}
	if in.ProvisioningState, err = c.ProvisioningState(ctx); err != nil {
		return in, err
	}
	if in.DNSSuffix, err = c.DNSSuffix(ctx); err != nil {
		return in, err
	}
	if in.Hashes, err = c.HashTable(ctx); err != nil {
		return in, err
	}
	return in, nil
}
