package provisioning

import (
	"context"
	"fmt"
	"time"

	"github.com/amtrcs/amtrcs/store"
)

// SyncClock is the clock task (reference §10: AMT clocks drift, and
// Kerberos and certificate checks need them right): it reads the firmware
// clock and sets it from the RCS clock when it is off by more than
// Options.TimeSyncThreshold. The drift found is recorded for the health
// report.
func (e *Engine) SyncClock(ctx context.Context, dev *Device) (*MaintenanceResult, error) {
	return e.maintenance(ctx, dev, TaskClockSync, func(ctx context.Context, r *run, res *MaintenanceResult) error {
		c, err := r.adminConn()
		if err != nil {
			return err
		}
		ta0, err := c.GetLowAccuracyTimeSynch(ctx)
		if err != nil {
			return fmt.Errorf("GetLowAccuracyTimeSynch: %w", err)
		}
		res.Steps = append(res.Steps, "read-clock")
		now := e.opts.Clock()
		drift := time.Unix(ta0, 0).Sub(now.Truncate(time.Second))
		corrected := drift.Abs() > e.opts.TimeSyncThreshold
		if corrected {
			// Tm1 and Tm2 are both now: the call is one round trip and the
			// RCS clock is the reference.
			tm := now.Unix()
			if err := c.SetHighAccuracyTimeSynch(ctx, ta0, tm, tm); err != nil {
				return fmt.Errorf("SetHighAccuracyTimeSynch: %w", err)
			}
			res.Steps = append(res.Steps, "set-clock")
			res.Changed = true
			res.Notes = append(res.Notes, fmt.Sprintf("firmware clock was off by %s: set", drift))
		} else {
			res.Notes = append(res.Notes, fmt.Sprintf("firmware clock off by %s, within %s: left alone", drift, e.opts.TimeSyncThreshold))
		}
		return e.st.Update(func(tx *store.Tx) error {
			return updateState(tx, r.sess.Device, now, func(s *DeviceState) {
				s.Clock = &ClockState{Checked: now, Drift: drift, Corrected: corrected}
			})
		})
	})
}
