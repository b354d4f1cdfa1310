package provisioning

import (
	"context"
	"testing"
	"time"
)

// TestSyncClock: a drifted firmware clock is set from the RCS clock; one
// within the threshold is left alone; the drift found is recorded.
func TestSyncClock(t *testing.T) {
	tests := map[string]struct {
		offset  time.Duration
		correct bool
	}{
		"5 minutes behind":  {-5 * time.Minute, true},
		"3 minutes ahead":   {3 * time.Minute, true},
		"3 seconds behind":  {-3 * time.Second, false},
		"within a second":   {0, false},
		"two days of drift": {-48 * time.Hour, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f := newTLSFixture(t, "16.1.27", Options{})
			f.sd.SetFirmwareTime(f.clock.Now().Add(tc.offset))
			res, err := f.e.SyncClock(ctx, f.dev)
			if err != nil {
				t.Fatalf("SyncClock: %v (%s)", err, f.sd.LastError())
			}
			if res.Changed != tc.correct {
				t.Fatalf("changed %t, want %t (%v)", res.Changed, tc.correct, res.Notes)
			}
			st, _ := f.e.State(f.dev.ID())
			if st.Clock == nil || (st.Clock.Drift-tc.offset).Abs() > 2*time.Second || st.Clock.Corrected != tc.correct {
				t.Fatalf("recorded clock %+v, want drift %s corrected %t", st.Clock, tc.offset, tc.correct)
			}
			off := f.sd.FirmwareTime().Sub(f.clock.Now()).Abs()
			if tc.correct && off > 2*time.Second {
				t.Fatalf("firmware clock still off by %s", off)
			}
			if !tc.correct && (off-tc.offset.Abs()).Abs() > 2*time.Second {
				t.Fatalf("firmware clock moved although within the threshold: off by %s", off)
			}
			if st.LastContact.IsZero() || st.LastError != "" {
				t.Fatalf("state %+v: want a contact and no error", st)
			}
		})
	}
}
