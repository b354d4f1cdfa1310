package amtsim

import (
	"time"
)

// Clock is the host's time source. Tests inject one so that certificate
// validity and clock drift can be shown without waiting.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the real time.
var SystemClock Clock = systemClock{}

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now implements Clock.
func (f ClockFunc) Now() time.Time { return f() }

// fwClock is the firmware's own clock: it was set to Base when the host
// clock read Ref, and since then runs at (1 + DriftPPM/1e6) times the host's
// speed. Real AMT clocks drift; that is why an RCS syncs them (reference §10).
type fwClock struct {
	Base     time.Time `json:"base"`
	Ref      time.Time `json:"ref"`
	DriftPPM float64   `json:"drift_ppm,omitempty"`
}

func (c fwClock) now(host time.Time) time.Time {
	if c.Ref.IsZero() {
		return host
	}
	elapsed := host.Sub(c.Ref)
	drift := time.Duration(float64(elapsed) * c.DriftPPM / 1e6)
	return c.Base.Add(elapsed + drift)
}

func (c *fwClock) set(fw, host time.Time) {
	c.Base, c.Ref = fw, host
}
