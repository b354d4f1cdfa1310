package provisioning

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/store"
)

// IdentityState is an AMT 19+ device's hardware identity as the engine
// first saw it: the CSME ROM certificate of its identity chain (position
// 3), which is per part and stays when the firmware re-issues its leaf.
// It is trusted on first use: recorded at the first verified identity
// chain for the device's UUID (TLS-based setup, or the local TLS port
// before provisioning), compared at every later one. Deactivation and a
// new activation keep it; only Forget drops it.
type IdentityState struct {
	// ROMSHA256 is the SHA-256 of the ROM certificate's DER.
	ROMSHA256  []byte    `json:"rom_sha256"`
	ROMSubject string    `json:"rom_subject"`
	Recorded   time.Time `json:"recorded"`
	// Where is the connection that first showed it.
	Where string `json:"where"`
}

// Where a device's identity chain is seen.
const (
	identityAtSetup = "TLS-based setup"
	identityAtLocal = "local TLS port"
)

// checkIdentity holds a verified identity chain of the device that r
// runs on to the ROM certificate recorded for its UUID. The UUID comes from
// the agent's report, and an agent can lie; the ROM certificate comes from
// the firmware at the end of the relayed stream, verified to Intel's
// On-Die root, so a chain of another part under a recorded UUID is refused
// before the session writes anything more to it. With no record yet, the
// chain's ROM certificate is the device's from now on (trust on first
// use): it is held for the rest of the run and recorded with the session's
// next commit (e.event), so it is durable before the next step writes to
// the device and costs no commit of its own.
func (r *run) checkIdentity(chain []*x509.Certificate, where string) error {
	rom := chain[amt.DeviceChainROMIndex]
	sum := amt.HashSHA256.Sum(rom.Raw)
	r.pinMu.Lock()
	defer r.pinMu.Unlock()
	if bytes.Equal(r.romChecked, sum) {
		return nil // this run already held it to the record
	}
	device := r.dev.ID()
	rec, err := GetState(r.e.st, device)
	if err != nil {
		return fmt.Errorf("read the device's recorded identity: %w", err)
	}
	want := rec.Identity
	if want == nil {
		want = r.newIdentity // seen earlier in this run, not committed yet
	}
	if want == nil {
		r.newIdentity = &IdentityState{ROMSHA256: sum, ROMSubject: rom.Subject.String(), Recorded: r.e.opts.Clock(), Where: where}
		r.romChecked = sum
		if r.res != nil {
			r.res.Notes = append(r.res.Notes, r.newIdentity.note())
		}
		return nil
	}
	if !bytes.Equal(want.ROMSHA256, sum) {
		refusal := Reason{Rule: RuleDeviceIdentity,
			Seen: fmt.Sprintf("ROM certificate %q, SHA-256 %s, in the %s chain of device %s", rom.Subject.String(), amt.FormatHash(sum), where, device),
			Want: fmt.Sprintf("the ROM certificate recorded for %s at its first use (%s, %s): %q, SHA-256 %s", device, want.Where, want.Recorded.UTC().Format(time.RFC3339), want.ROMSubject, amt.FormatHash(want.ROMSHA256)),
			Fix: "if this PC's board was replaced, forget the device (amtrcs device forget " + device + ") and activate it again; " +
				"otherwise an agent relays another PC under this device's UUID: revoke it (amtrcs agents revoke AGENT)"}
		r.e.log.Warn("device identity refused", "device", device, "rom_sha256", amt.FormatHash(sum), "recorded_sha256", amt.FormatHash(want.ROMSHA256))
		r.e.denied(device, "device.identity", refusal)
		return refusal
	}
	r.romChecked = sum
	return nil
}

func (id *IdentityState) note() string {
	return fmt.Sprintf("device identity recorded at first use (%s): ROM certificate %q, SHA-256 %s; later identity chains for this UUID must show it", id.Where, id.ROMSubject, amt.FormatHash(id.ROMSHA256))
}

// takeIdentity hands the identity first seen in this run, not recorded
// yet, to the commit that records it.
func (r *run) takeIdentity() *IdentityState {
	r.pinMu.Lock()
	defer r.pinMu.Unlock()
	id := r.newIdentity
	r.newIdentity = nil
	return id
}

// recordIdentity writes a device's identity first seen in a run, in the
// transaction of the session's commit; a record another server made in
// the meantime stays.
func recordIdentity(tx *store.Tx, device string, id *IdentityState, now time.Time) error {
	var s DeviceState
	if err := tx.Get(store.Maintenance, StateKey(device), &s); err == nil && s.Identity != nil {
		return nil
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return updateState(tx, device, now, func(s *DeviceState) { s.Identity = id })
}

// resetState drops what maintenance knew of a device whose provisioning
// ended or starts again, and keeps its recorded identity: the part is the
// same.
func resetState(tx *store.Tx, device string, now time.Time) error {
	var s DeviceState
	err := tx.Get(store.Maintenance, StateKey(device), &s)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case s.Identity == nil:
		return tx.Delete(store.Maintenance, StateKey(device))
	}
	return tx.Put(store.Maintenance, StateKey(device), &DeviceState{Device: device, Identity: s.Identity, Updated: now})
}
