package provisioning

import (
	"errors"
	"fmt"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
)

// Reason is one refusal in the shape every refusal of amtrcs takes: rule,
// value seen, value wanted, fix. It is amt's type, so that firmware and
// certificate refusals pass through unchanged.
type Reason = amt.RuleError

// Errors callers branch on.
var (
	// ErrBusy: another session of the engine is running on the device.
	ErrBusy = errors.New("a provisioning session is already running on this device")
	// ErrNoSession: Resume found no session record for the device.
	ErrNoSession = errors.New("no provisioning session recorded for this device")
	// ErrUnknownPassword: the device is provisioned and the store holds no
	// password that authenticates. It is never the result of a session of
	// this engine, since passwords are sealed before they are set.
	ErrUnknownPassword = errors.New("device is provisioned with a password the store does not hold")
)

// PreflightError is a refused preflight: every reason the device would
// refuse the activation, found before any write.
type PreflightError struct {
	Device  string   // the device UUID
	Reasons []Reason // never empty
}

func (e *PreflightError) Error() string {
	parts := make([]string, len(e.Reasons))
	for i, r := range e.Reasons {
		parts[i] = r.Error()
	}
	return fmt.Sprintf("preflight of device %s refused (%d reasons): %s", e.Device, len(e.Reasons), strings.Join(parts, " | "))
}

// Unwrap gives every reason to errors.As and amt.AsRefusal, the first
// first, so that a preflight refusal reaches a user in the one shape.
func (e *PreflightError) Unwrap() []error {
	errs := make([]error, len(e.Reasons))
	for i, r := range e.Reasons {
		errs[i] = r
	}
	return errs
}

// Has reports whether one of the reasons is about rule.
func (e *PreflightError) Has(rule string) bool {
	for _, r := range e.Reasons {
		if r.Rule == rule {
			return true
		}
	}
	return false
}

// StepError is a failed step of a session: which path, which step, and the
// cause. The cause never carries a secret.
type StepError struct {
	Device string
	Path   Path
	Step   string
	Err    error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s on device %s: step %s: %v", e.Path, e.Device, e.Step, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// StateError is a device in a state the requested operation does not
// start from.
type StateError struct {
	Device string
	Reason Reason
}

func (e *StateError) Error() string { return fmt.Sprintf("device %s: %s", e.Device, e.Reason.Error()) }

// Unwrap gives the reason to errors.As and amt.AsRefusal.
func (e *StateError) Unwrap() error { return e.Reason }
