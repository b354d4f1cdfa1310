package amtsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/amtrcs/amtrcs/amt"
)

// A saved device or fleet is JSON. It holds the simulator's own test
// secrets (the admin digest, the MEBx password, the local system account,
// the firmware's generated keys, the identity root's key): they protect
// nothing but simulated devices, and the file is written with mode 0600.

// MarshalJSON saves the device's persistent state. A setup in progress is
// not saved: like a power cycle, a load returns such a device to
// pre-provisioning, and a device that was in legacy network setup starts it
// again.
func (d *Device) MarshalJSON() ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.st
	st.Setup = nil
	if st.CCMUncommitted {
		// A CCM Setup never committed does not survive the restart a
		// saved device models.
		st.ProvState, st.Mode, st.AdminHA1, st.CCMUncommitted = amt.PreProvisioning, amt.ControlNone, "", false
	}
	if d.setup != nil {
		st.ProvState = amt.PreProvisioning
		if d.setup.kind == setupHello {
			st.Setup = &setupPersisted{Hello: true}
		}
	}
	return json.Marshal(st)
}

// LoadOptions give a loaded device what a saved one cannot carry.
type LoadOptions struct {
	Clock    Clock       // default SystemClock
	Identity *IdentityCA // default DefaultIdentityCA()
}

// LoadDevice restores a device saved with MarshalJSON. It refuses a state
// that a device could not be in, naming the field.
func LoadDevice(b []byte, opts LoadOptions) (*Device, error) {
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("amtsim: saved device: %w", err)
	}
	if st.Version == (amt.Version{}) {
		return nil, errNoVersion
	}
	p, err := amt.LookupProfile(st.Version)
	if err != nil {
		return nil, err
	}
	if st.SuffixPrecedence, err = ParseSuffixPrecedence(string(st.SuffixPrecedence)); err != nil {
		return nil, fmt.Errorf("amtsim: saved device %s: %w", st.UUID, err)
	}
	if err := checkAMTState(Config{Version: st.Version, LocalTLS: st.LocalTLS, AMTDisabled: st.AMTDisabled}, p); err != nil {
		return nil, fmt.Errorf("amtsim: saved device %s: %w", st.UUID, err)
	}
	switch {
	case st.ProvState > amt.PostProvisioning || st.Mode > amt.ControlACM:
		return nil, fmt.Errorf("amtsim: saved device %s: provisioning state %d, control mode %d; want 0-2 each", st.UUID, st.ProvState, st.Mode)
	case (st.ProvState == amt.PostProvisioning) != (st.Mode != amt.ControlNone):
		return nil, fmt.Errorf("amtsim: saved device %s: %s with control mode %s; a provisioned device has CCM or ACM, others none", st.UUID, st.ProvState, st.Mode)
	case st.Realm == "" || st.LocalAccount.User == "":
		return nil, fmt.Errorf("amtsim: saved device %s: no digest realm or local account", st.UUID)
	case len(st.LocalAccount.User) > 32 || len(st.LocalAccount.Password) > 32:
		return nil, fmt.Errorf("amtsim: saved device %s: local account fields longer than 32 bytes", st.UUID)
	case st.FlashWrites < 0 || st.FlashWriteLimit < 0 || st.LatencyNS < 0:
		return nil, fmt.Errorf("amtsim: saved device %s: negative counter or latency", st.UUID)
	}
	if st.Hashes != nil {
		if st.Hashes.Version != st.Version {
			return nil, fmt.Errorf("amtsim: saved device %s: hash table of AMT %s on AMT %s", st.UUID, st.Hashes.Version, st.Version)
		}
		if len(st.Hashes.Entries) > amt.MaxHashEntries || st.Hashes.CustomCount() > amt.MaxCustomHashes {
			return nil, fmt.Errorf("amtsim: saved device %s: hash table with %d entries, %d custom; at most %d and %d", st.UUID, len(st.Hashes.Entries), st.Hashes.CustomCount(), amt.MaxHashEntries, amt.MaxCustomHashes)
		}
		for _, e := range st.Hashes.Entries {
			if err := amt.CheckHashName(e.Name); err != nil {
				return nil, fmt.Errorf("amtsim: saved device %s: %w", st.UUID, err)
			}
			if len(e.Hash) != e.Algorithm.Size() {
				return nil, fmt.Errorf("amtsim: saved device %s: hash %q of %d bytes for %s", st.UUID, e.Name, len(e.Hash), e.Algorithm)
			}
		}
	}
	if st.IdentityChain != nil {
		if _, err := st.IdentityChain.load(); err != nil {
			return nil, fmt.Errorf("amtsim: saved device %s: identity_chain: %w", st.UUID, err)
		}
	}
	if st.ProvState == amt.InProvisioning {
		st.ProvState = amt.PreProvisioning
	}
	if len(st.Events) > maxEvents {
		st.Events = st.Events[len(st.Events)-maxEvents:]
	}
	clock := opts.Clock
	if clock == nil {
		clock = SystemClock
	}
	return &Device{uuid: st.UUID, version: st.Version, profile: p, clock: clock, identity: opts.Identity, st: st}, nil
}

// resumeHello reports whether the device was in legacy network setup when
// it was saved.
func (d *Device) resumeHello() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.st.Setup != nil && d.st.Setup.Hello
	d.st.Setup = nil
	return r
}

// fleetFile is the saved form of a fleet.
type fleetFile struct {
	Format   string            `json:"format"`
	Identity *IdentityCA       `json:"identity_ca"`
	Config   FleetConfig       `json:"config"`
	Devices  []json.RawMessage `json:"devices"`
}

const fleetFormat = "amtsim-fleet/1"

// Save writes the fleet to path atomically (a temporary file renamed over
// it), mode 0600.
func (f *Fleet) Save(path string) error {
	ff := fleetFile{Format: fleetFormat, Identity: f.identity, Config: f.cfg}
	for _, d := range f.Devices() {
		b, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("amtsim: save device %s: %w", d.uuid, err)
		}
		ff.Devices = append(ff.Devices, b)
	}
	b, err := json.Marshal(ff)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".amtsim-*.json")
	if err != nil {
		return fmt.Errorf("amtsim: save fleet: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("amtsim: save fleet: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ErrNotFleetFile is returned by LoadFleet for a file of another format.
var ErrNotFleetFile = errors.New("not an amtsim fleet file")

// LoadFleet reads a fleet saved with Save. Devices that were in legacy
// network setup start it again.
func LoadFleet(path string, clock Clock) (*Fleet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("amtsim: load fleet: %w", err)
	}
	ff := fleetFile{Identity: &IdentityCA{}}
	if err := json.Unmarshal(b, &ff); err != nil {
		return nil, fmt.Errorf("amtsim: load fleet %s: %w", path, err)
	}
	if ff.Format != fleetFormat {
		return nil, fmt.Errorf("amtsim: load fleet %s: format %q: %w (want %q)", path, ff.Format, ErrNotFleetFile, fleetFormat)
	}
	if ff.Identity.Cert == nil {
		return nil, fmt.Errorf("amtsim: load fleet %s: no identity root", path)
	}
	if clock == nil {
		clock = SystemClock
	}
	f := newFleet(ff.Config, ff.Identity)
	var hello []*Device
	for i, raw := range ff.Devices {
		d, err := LoadDevice(raw, LoadOptions{Clock: clock, Identity: ff.Identity})
		if err != nil {
			return nil, fmt.Errorf("amtsim: load fleet %s: device %d: %w", path, i+1, err)
		}
		if err := f.add(d); err != nil {
			return nil, fmt.Errorf("amtsim: load fleet %s: %w", path, err)
		}
		if d.resumeHello() {
			hello = append(hello, d)
		}
	}
	for _, d := range hello {
		if err := d.StartHello(); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}
