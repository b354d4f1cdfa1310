package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/store"
)

// Maintenance task names, as `amtrcs device maintain --task` and the API
// take them.
const (
	TaskClockSync        = "clock-sync"
	TaskNetworkSync      = "network-sync"
	TaskTLS              = "tls"
	TaskPasswordRotation = "password-rotation"
	// TaskProvisioningCert checks the provisioning certificates' expiry; it
	// is about the RCS, not one device.
	TaskProvisioningCert = "provisioning-cert"
)

// DeviceTasks are the tasks that run on one device.
var DeviceTasks = []string{TaskClockSync, TaskNetworkSync, TaskTLS, TaskPasswordRotation, TaskEnforce}

// TaskDescriptions say in a line what each task does, for the CLI's help
// and the API's refusals.
var TaskDescriptions = map[string]string{
	TaskClockSync:        "set the firmware clock when it is off",
	TaskNetworkSync:      "write the OS host and domain names into AMT, and re-issue TLS for a new name",
	TaskTLS:              "configure TLS, or re-issue its certificate before expiry",
	TaskPasswordRotation: "give the device a new random admin password, sealed before it is set",
	TaskEnforce:          "re-apply the profile: report the settings that drifted from it, and set them (dry run: report only)",
	TaskProvisioningCert: "check the provisioning certificates' expiry (about the server, not a device)",
}

// IsTask reports whether name is a maintenance task.
func IsTask(name string) bool {
	for _, t := range DeviceTasks {
		if t == name {
			return true
		}
	}
	return name == TaskProvisioningCert
}

// TaskOptions say how a task runs.
type TaskOptions struct {
	// Force: the task was asked for on demand (the tls task then
	// re-issues even when not due).
	Force bool `json:"force,omitempty"`
	// DryRun: the enforce task reports drift and changes nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// RuleDryRun names refusals of a dry run of a task that has none.
const RuleDryRun = "dry run"

// CheckTaskOptions refuses options task does not take.
func CheckTaskOptions(task string, o TaskOptions) error {
	if o.DryRun && task != TaskEnforce {
		return Reason{Rule: RuleDryRun, Seen: fmt.Sprintf("a dry run of task %q", task), Want: "a dry run of task " + TaskEnforce + " only",
			Fix: "drop the dry run, or run task " + TaskEnforce}
	}
	return nil
}

// DeviceState is what the engine knows of a device beside its session:
// what maintenance learnt of a provisioned device (its TLS certificate, its
// clock and names as last seen, when its password was set, the last
// contact and error), which deactivation and a new activation drop, and
// its hardware identity (AMT 19+), which only Forget drops. It lives in the
// store's maintenance bucket under StateKey, and holds no secret.
type DeviceState struct {
	Device   string         `json:"device"`
	Identity *IdentityState `json:"identity,omitempty"`
	TLS      *TLSState      `json:"tls,omitempty"`
	Clock    *ClockState    `json:"clock,omitempty"`
	Network  *NetworkState  `json:"network,omitempty"`
	// PasswordSet is when the admin password now sealed was set in the
	// firmware by a rotation (zero: by the activation).
	PasswordSet time.Time `json:"password_set,omitzero"`
	Rotations   int       `json:"rotations,omitempty"`
	// MEBxPasswordSet is when the enforce task last set the MEBx password
	// (zero: by the activation).
	MEBxPasswordSet time.Time `json:"mebx_password_set,omitzero"`
	// Enforce is what the last enforce task found.
	Enforce *EnforceState `json:"enforce,omitempty"`
	// LastContact is the last time a maintenance task reached the device.
	LastContact time.Time `json:"last_contact,omitzero"`
	// LastError is the last failed task's error, cleared by its next
	// success.
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTask string    `json:"last_error_task,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	Updated       time.Time `json:"updated"`
}

// ClockState is the device clock as the last clock sync found it.
type ClockState struct {
	Checked time.Time `json:"checked"`
	// Drift is the firmware clock minus the RCS clock before the sync.
	Drift time.Duration `json:"drift"`
	// Corrected says the sync set the firmware clock.
	Corrected bool `json:"corrected"`
}

// NetworkState is the device's names as the last network sync found them.
type NetworkState struct {
	Checked time.Time `json:"checked"`
	AMTFQDN string    `json:"amt_fqdn"`
	OSFQDN  string    `json:"os_fqdn"`
	// Updated says the sync wrote the OS name into AMT.
	Updated bool `json:"updated"`
}

// StateKey is the key of a device's DeviceState in the store's maintenance
// bucket (the suffix dates from when the states shared the sessions bucket,
// and the migration kept the keys).
func StateKey(device string) string { return device + "/maintenance" }

// GetState reads a device's maintenance state; a device with none yet has
// the zero state.
func GetState(st store.Viewer, device string) (DeviceState, error) {
	var s DeviceState
	err := st.View(func(tx *store.Tx) error { return tx.Get(store.Maintenance, StateKey(device), &s) })
	if errors.Is(err, store.ErrNotFound) {
		return DeviceState{Device: device}, nil
	}
	return s, err
}

// State reads a device's maintenance state.
func (e *Engine) State(device string) (DeviceState, error) { return GetState(e.st, device) }

// updateState applies fn to the device's state in tx.
func updateState(tx *store.Tx, device string, now time.Time, fn func(s *DeviceState)) error {
	var s DeviceState
	if err := tx.Get(store.Maintenance, StateKey(device), &s); errors.Is(err, store.ErrNotFound) {
		s = DeviceState{Device: device}
	} else if err != nil {
		return err
	}
	fn(&s)
	s.Updated = now
	return tx.Put(store.Maintenance, StateKey(device), &s)
}

// Sessions lists the devices' session records.
func Sessions(st store.Viewer) ([]Session, error) {
	var out []Session
	err := st.View(func(tx *store.Tx) error {
		return tx.ForEach(store.Sessions, func(id string, raw []byte) error {
			var s Session
			if err := json.Unmarshal(raw, &s); err != nil {
				return fmt.Errorf("session %q: %w", id, err)
			}
			out = append(out, s)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out, err
}

// States lists the maintenance states of all devices.
func States(st store.Viewer) ([]DeviceState, error) {
	var out []DeviceState
	err := st.View(func(tx *store.Tx) error {
		return tx.ForEach(store.Maintenance, func(id string, raw []byte) error {
			var s DeviceState
			if err := json.Unmarshal(raw, &s); err != nil {
				return fmt.Errorf("maintenance state %q: %w", id, err)
			}
			out = append(out, s)
			return nil
		})
	})
	return out, err
}

// Maintained says whether a session leaves a device that maintenance
// looks after: provisioned by this RCS, and not deactivated since.
func Maintained(s Session) bool {
	switch s.Path {
	case PathDeactivate, "":
		return false
	case PathRotatePassword:
		return true // a rotation only runs on a provisioned device
	}
	return s.Status == StatusDone
}

// MaintenanceResult is what one maintenance task did.
type MaintenanceResult struct {
	Device  string `json:"device"`
	Task    string `json:"task"`
	Changed bool   `json:"changed"` // the task wrote to the device
	// Steps are the calls made, for the audit and the job record.
	Steps []string `json:"steps,omitempty"`
	Notes []string `json:"notes,omitempty"`
	// Drift is what the enforce task found, each marked fixed or not.
	Drift []Drift `json:"drift,omitempty"`
}

// maintenance opens a run on a provisioned device for task: the device is
// held busy, its stored admin password loaded, and fn called. Whatever
// fn returns is recorded in the device's state (last contact, last error)
// and audited as maintain.<task>.
func (e *Engine) maintenance(ctx context.Context, dev *Device, task string, fn func(ctx context.Context, r *run, res *MaintenanceResult) error) (*MaintenanceResult, error) {
	id := dev.ID()
	release, err := e.acquire(id)
	if err != nil {
		return nil, err
	}
	defer release()
	res := &MaintenanceResult{Device: id, Task: task}
	sess, err := e.GetSession(id)
	if err != nil {
		return res, e.maintDone(res, fmt.Errorf("%s: %w", task, err), false)
	}
	if !Maintained(sess) {
		return res, e.maintDone(res, &StateError{Device: id, Reason: Reason{Rule: RuleDeviceState,
			Seen: fmt.Sprintf("session %s is %s", sess.Path, sess.Status), Want: "a device this RCS provisioned",
			Fix: "activate the device first, or resume its session"}}, false)
	}
	if sess.Path == PathRotatePassword && sess.Status != StatusDone {
		return res, e.maintDone(res, &StateError{Device: id, Reason: Reason{Rule: RuleDeviceState,
			Seen: "a password rotation did not finish", Want: "a finished rotation",
			Fix: "resume the device (its agent's reconnection does), or run password-rotation again"}}, false)
	}
	// The run's session is a copy that is never recorded: maintenance
	// other than rotation leaves the device's session as it is.
	msess := sess
	msess.Path = pathMaintain
	r := e.newRun(dev, &msess, e.restoreStatic(sess), nil, Domain{})
	defer r.close()
	if err := r.loadPasswords(); err != nil {
		return res, e.maintDone(res, &StateError{Device: id, Reason: Reason{Rule: RuleDeviceState,
			Seen: "provisioned, and the store has no admin password for it: " + err.Error(), Want: "the sealed password",
			Fix: "restore the store from a backup"}}, false)
	}
	ferr := fn(ctx, r, res)
	return res, e.maintDone(res, ferr, ferr == nil || deviceAnswered(ferr))
}

// pathMaintain marks a run that maintains a device; it is never recorded.
const pathMaintain Path = "maintain"

// deviceAnswered reports an error the firmware itself sent: the device was
// reached, and refused or failed the call.
func deviceAnswered(err error) bool {
	var f *wsman.Fault
	var re *wsman.ReturnError
	var ae *wsman.AuthError
	var he *wsman.HTTPError
	return errors.As(err, &f) || errors.As(err, &re) || errors.As(err, &ae) || errors.As(err, &he)
}

// maintDone records a task's outcome in the device's state and the audit
// log, and returns err.
func (e *Engine) maintDone(res *MaintenanceResult, err error, contacted bool) error {
	now := e.opts.Clock()
	outcome := store.OutcomeSuccess
	detail := map[string]string{"task": res.Task, "changed": fmt.Sprint(res.Changed), "steps": strings.Join(res.Steps, ",")}
	if err != nil {
		outcome = store.OutcomeFailure
		detail["error"] = err.Error()
	}
	werr := e.st.Update(func(tx *store.Tx) error {
		if err := updateState(tx, res.Device, now, func(s *DeviceState) {
			if contacted {
				s.LastContact = now
			}
			if err != nil {
				s.LastError, s.LastErrorTask, s.LastErrorTime = err.Error(), res.Task, now
			} else if s.LastErrorTask == res.Task || s.LastErrorTask == "" {
				s.LastError, s.LastErrorTask, s.LastErrorTime = "", "", time.Time{}
			}
		}); err != nil {
			return err
		}
		return tx.Audit(store.Event{Time: now, Actor: e.opts.Actor, Action: "maintain." + res.Task, Subject: res.Device, Outcome: outcome, Detail: detail})
	})
	if err != nil {
		e.log.Warn("maintenance failed", "device", res.Device, "task", res.Task, "err", err)
	} else {
		e.log.Info("maintenance done", "device", res.Device, "task", res.Task, "changed", res.Changed)
	}
	return errors.Join(err, werr)
}

// Maintain runs one device task by name: TaskClockSync, TaskNetworkSync,
// TaskTLS (configure, or re-issue when due; Force re-issues anyway),
// TaskPasswordRotation or TaskEnforce (DryRun reports only).
func (e *Engine) Maintain(ctx context.Context, dev *Device, task string, o TaskOptions) (*MaintenanceResult, error) {
	if err := CheckTaskOptions(task, o); err != nil {
		return nil, err
	}
	switch task {
	case TaskClockSync:
		return e.SyncClock(ctx, dev)
	case TaskNetworkSync:
		return e.SyncNetwork(ctx, dev)
	case TaskTLS:
		return e.RenewTLS(ctx, dev, o.Force)
	case TaskPasswordRotation:
		if !o.Force {
			if res, due, err := e.rotationDue(dev.ID()); err != nil || !due {
				return res, err
			}
		}
		return e.RotatePassword(ctx, dev)
	case TaskEnforce:
		return e.Enforce(ctx, dev, o.DryRun)
	}
	return nil, Reason{Rule: RuleTask, Seen: fmt.Sprintf("task %q", task),
		Want: strings.Join(DeviceTasks, ", "), Fix: "name one of these tasks (provisioning-cert is about the server, not a device)"}
}

// RuleTask names refusals of an unknown task.
const RuleTask = "maintenance task"

// forgetState drops what maintenance knew of a device that a new
// activation starts on: its TLS certificate and names belonged to the
// provisioning before. Its recorded identity stays.
func (e *Engine) forgetState(device string) error {
	var s DeviceState
	if err := e.st.Get(store.Maintenance, StateKey(device), &s); errors.Is(err, store.ErrNotFound) {
		return nil // nothing to drop: no commit
	} else if err != nil {
		return err
	}
	return e.st.Update(func(tx *store.Tx) error { return resetState(tx, device, e.opts.Clock()) })
}

// rotationDue reports whether the scheduled password rotation of device is
// due: its sealed admin password is older than PasswordMaxAge. A device
// the scheduler meets for the first time, just activated, keeps the
// password its activation set rather than having it replaced (a flash
// write on the firmware) within the minute; an admin's request (Force)
// rotates at once. When not due, the result says when it will be.
func (e *Engine) rotationDue(device string) (*MaintenanceResult, bool, error) {
	maxAge := e.opts.PasswordMaxAge
	if maxAge <= 0 {
		return nil, true, nil
	}
	sess, err := e.GetSession(device)
	if err != nil {
		return nil, true, nil // RotatePassword refuses it with the reason
	}
	st, err := e.State(device)
	if err != nil {
		return nil, false, err
	}
	set := PasswordSetAt(sess, st)
	now := e.opts.Clock()
	if set.IsZero() || now.Sub(set) >= maxAge {
		return nil, true, nil
	}
	res := &MaintenanceResult{Device: device, Task: TaskPasswordRotation, Notes: []string{
		fmt.Sprintf("the admin password was set %s ago; it is rotated once it is %s old (at %s)",
			now.Sub(set).Round(time.Minute), maxAge, set.Add(maxAge).UTC().Format(time.RFC3339))}}
	return res, false, nil
}
