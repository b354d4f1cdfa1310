package rcs

import (
	"errors"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/rcs/device"
	"github.com/amtrcs/amtrcs/store"
)

// Device states as the API shows them.
const (
	StateDiscovered     = "discovered"      // reported, nothing done yet
	StateActivating     = "activating"      // a job runs
	StateProvisioned    = "provisioned"     // in ACM or CCM, with its password in the store
	StateFailed         = "failed"          // the last job failed: see Error and Fix
	StateDeactivating   = "deactivating"    // a deactivation runs
	StateNotProvisioned = "not-provisioned" // pre-provisioning, after a deactivation
	StateInterrupted    = "interrupted"     // the server stopped during a job; it resumes when the agent reconnects
)

// DeviceRecord is what the RCS knows about a device, in the devices bucket
// under its UUID (package device owns the type, so that readers below the
// server, such as the health report, decode the one record type).
type DeviceRecord = device.Record

// updateDevice applies fn to the device's record (a new one when absent)
// in one transaction.
func (s *Server) updateDevice(id string, fn func(d *DeviceRecord)) error {
	now := s.now()
	return s.st.Batch(func(tx *store.Tx) error { return updateDeviceTx(tx, id, now, fn) })
}

// updateDeviceTx is updateDevice within tx, for a caller that writes other
// records with it in one commit.
func updateDeviceTx(tx *store.Tx, id string, now time.Time, fn func(d *DeviceRecord)) error {
	var d DeviceRecord
	if err := tx.Get(store.Devices, id, &d); errors.Is(err, store.ErrNotFound) {
		d = DeviceRecord{ID: id, State: StateDiscovered, FirstSeen: now}
	} else if err != nil {
		return err
	}
	fn(&d)
	d.Updated = now
	d.Connected = false // computed when read
	return tx.Put(store.Devices, id, d)
}

func (s *Server) recordReport(r wire.Report, agentID string) error {
	return s.updateDevice(r.Info.UUID.String(), func(d *DeviceRecord) {
		d.Hostname, d.FQDN = r.Hostname, r.FQDN
		d.Version = r.Info.Version.String()
		d.SKU = r.Info.SKU
		d.DNSSuffix = r.Info.DNSSuffix
		d.ControlMode = strings.ToLower(r.Info.ControlMode.String())
		d.ProvisioningState = strings.ToLower(r.Info.ProvisioningState.String())
		d.Source, d.Agent = "agent", agentID
		d.Expires = time.Time{} // an enrolled agent vouches for it
		d.LastSeen = s.now()
	})
}

// device reads one record, with Connected filled in.
func (s *Server) device(id string) (DeviceRecord, error) {
	var d DeviceRecord
	if err := s.st.Get(store.Devices, id, &d); err != nil {
		return d, err
	}
	d.Connected = s.gw.conn(id) != nil
	return d, nil
}

// Devices lists the device records, with Connected filled in.
func (s *Server) Devices() ([]DeviceRecord, error) {
	ds, err := store.List[DeviceRecord](s.st, store.Devices)
	for i := range ds {
		ds[i].Connected = s.gw.conn(ds[i].ID) != nil
	}
	return ds, err
}
