package amtsim

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
)

// Host is the device's host interface as /dev/mei0 gives it to a local
// agent: each call costs the firmware latency, then hostif.Serve answers it.
func (d *Device) Host() hostif.Transport {
	return hostif.TransportFunc(d.hostCall)
}

// HostReplies is a shape of host-interface replies that real firmware
// sends, for testing readers against each.
type HostReplies string

const (
	// RepliesExact: each reply holds its fields and nothing more.
	RepliesExact HostReplies = ""
	// RepliesPadded: two bytes after the fields of every reply (so a
	// 68-byte GetLocalSystemAccount body, the length Intel LMS and
	// MeshCentral read), and Unprovision's reply without a state: the
	// status alone, which is all those readers take from it.
	RepliesPadded HostReplies = "padded"
)

// ParseHostReplies reads a reply shape by name.
func ParseHostReplies(s string) (HostReplies, error) {
	switch HostReplies(s) {
	case RepliesExact, "exact":
		return RepliesExact, nil
	case RepliesPadded:
		return RepliesPadded, nil
	}
	return "", fmt.Errorf("amtsim: host reply shape %q: want exact or padded", s)
}

func (d *Device) hostCall(ctx context.Context, req []byte) ([]byte, error) {
	if err := d.wait(ctx); err != nil {
		return nil, err
	}
	resp, err := hostif.Serve(d, req)
	if err != nil || len(resp) < amt.HostHeaderLen+4 {
		return resp, err
	}
	d.mu.Lock()
	shape := d.st.HostReplies
	d.mu.Unlock()
	if shape != RepliesPadded {
		return resp, nil
	}
	body := resp[amt.HostHeaderLen:]
	if cmd, _, derr := hostif.DecodeRequest(req); derr == nil && cmd == amt.CmdUnprovision {
		body = body[:4]
	} else {
		body = append(append([]byte(nil), body...), 0, 0)
	}
	out := append([]byte(nil), resp[:amt.HostHeaderLen]...)
	binary.LittleEndian.PutUint32(out[8:], uint32(len(body)))
	return append(out, body...), nil
}

// CodeVersions implements hostif.Firmware.
func (d *Device) CodeVersions() (hostif.CodeVersions, amt.HostStatus) {
	v := d.version
	return hostif.CodeVersions{
		BIOS: "AMTSIM.86B.0001",
		Versions: []hostif.CodeVersion{
			{Description: "AMT", Version: fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Build)},
			{Description: "Build Number", Version: strconv.Itoa(1000 + v.Build)},
			{Description: "Sku", Version: "16392"},
		},
	}, amt.HostSuccess
}

// UUID implements hostif.Firmware.
func (d *Device) UUID() (amt.UUID, amt.HostStatus) { return d.uuid, amt.HostSuccess }

// ControlMode implements hostif.Firmware.
func (d *Device) ControlMode() (amt.ControlMode, amt.HostStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.Mode, amt.HostSuccess
}

// ProvisioningState implements hostif.Firmware.
func (d *Device) ProvisioningState() (amt.ProvisioningState, amt.HostStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.ProvState, amt.HostSuccess
}

// PKIDNSSuffix implements hostif.Firmware: the suffix the rule uses, after
// the device's precedence between option 15 and the MEBx suffix.
func (d *Device) PKIDNSSuffix() (string, amt.HostStatus) {
	return d.DNSSuffix(), amt.HostSuccess
}

// HashHandles implements hostif.Firmware: handles are table positions.
func (d *Device) HashHandles() ([]uint32, amt.HostStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(d.hashesLocked().Entries)
	hs := make([]uint32, n)
	for i := range hs {
		hs[i] = uint32(i)
	}
	return hs, amt.HostSuccess
}

// CertHashEntry implements hostif.Firmware.
func (d *Device) CertHashEntry(handle uint32) (hostif.CertHashEntry, amt.HostStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.hashesLocked()
	if int64(handle) >= int64(len(t.Entries)) {
		return hostif.CertHashEntry{}, amt.HostInternalError
	}
	e := t.Entries[handle]
	return hostif.CertHashEntry{Default: e.Default, Active: e.Active, Algorithm: e.Algorithm, Hash: bytes.Clone(e.Hash), Name: e.Name}, amt.HostSuccess
}

// LocalSystemAccount implements hostif.Firmware: the digest credentials
// WS-MAN accepts on port 16992 before the device is provisioned.
func (d *Device) LocalSystemAccount() (hostif.Account, amt.HostStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return hostif.Account{Username: d.st.LocalAccount.User, Password: d.st.LocalAccount.Password}, amt.HostSuccess
}

// LANInterfaceSettings implements hostif.Firmware: a wired interface with
// link, and a wireless one without (as AMT_EthernetPortSettings reports).
func (d *Device) LANInterfaceSettings(index uint32) (hostif.LANSettings, amt.HostStatus) {
	switch index {
	case 0:
	case 1:
		return hostif.LANSettings{Enabled: true, DHCPEnabled: true, DHCPMode: 2}, amt.HostSuccess
	default:
		return hostif.LANSettings{}, amt.HostInternalError
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	l := hostif.LANSettings{Enabled: true, DHCPEnabled: d.st.Features.DHCPEnabled, DHCPMode: 2, LinkUp: true, MAC: d.mac()}
	if ip := d.helloIPLocked(); ip != nil {
		l.IPv4 = uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
	}
	return l, amt.HostSuccess
}

// mac derives a stable, locally administered MAC address from the UUID.
func (d *Device) mac() [6]byte {
	u := d.uuid
	return [6]byte{0x02, u[11], u[12], u[13], u[14], u[15]}
}

// StopConfiguration implements hostif.Firmware: it ends a TLS-based setup
// that has not completed and returns the device to pre-provisioning.
func (d *Device) StopConfiguration() amt.HostStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.setup == nil || d.setup.kind != setupTLS || d.st.ProvState != amt.InProvisioning {
		d.refuseLocked("StopConfiguration", refusal(RuleState, "no TLS-based setup in progress ("+d.st.ProvState.String()+")", "a device after StartConfigurationHBased", "call StopConfiguration only after a failed StartConfigurationHBased setup"))
		return amt.HostInvalidAMTMode
	}
	d.setup = nil
	d.st.ProvState = amt.PreProvisioning
	d.eventLocked("setup", "TLS-based setup stopped; back to pre-provisioning")
	return amt.HostSuccess
}

// Unprovision implements hostif.Firmware: the host command works in CCM
// only (reference §9); ACM devices unprovision over WS-MAN.
func (d *Device) Unprovision(mode uint32) (amt.ProvisioningState, amt.HostStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st.Mode != amt.ControlCCM {
		d.refuseLocked("host Unprovision", refusal(RuleState, "control mode "+d.st.Mode.String(), "CCM", "unprovision an ACM device over WS-MAN with AMT_SetupAndConfigurationService.Unprovision(1)"))
		return d.st.ProvState, amt.HostInvalidAMTMode
	}
	d.unprovisionLocked(mode == 2)
	return d.st.ProvState, amt.HostSuccess
}

// unprovisionLocked clears the configuration (reference §9). A partial
// unprovision keeps the admin ACL; the MEBx password is always kept.
func (d *Device) unprovisionLocked(partial bool) {
	d.selfSigned = nil // a new provisioning gets a new self-signed certificate
	d.st.ProvState, d.st.Mode = amt.PreProvisioning, amt.ControlNone
	if !partial {
		d.st.AdminUser, d.st.AdminHA1 = amt.AdminUser, ""
	}
	d.st.Certs, d.st.Keys, d.st.TLSCredential = nil, nil, ""
	d.keyCache = nil
	d.st.TLSRemote, d.st.TLSLocal = tlsSetting{AcceptNonSecure: true}, tlsSetting{AcceptNonSecure: true}
	if d.st.Hashes != nil {
		t := &amt.HashTable{Version: d.st.Hashes.Version}
		for _, e := range d.st.Hashes.Entries {
			if e.Default {
				t.Entries = append(t.Entries, e)
			}
		}
		d.st.Hashes = t
	}
	if d.version.Less(amt.Version{Major: 12}) {
		d.st.MEBxSuffix = ""
	}
	d.st.MEBxPasswordSet = false
	d.setup, d.chain, d.chainStatus, d.nonce = nil, nil, amt.CertChainStatusNotStarted, nil
	kind := "full"
	if partial {
		kind = "partial"
	}
	d.eventLocked("unprovision", kind+" unprovision; back to pre-provisioning")
}
