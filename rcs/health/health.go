// Package health builds the fleet health report (`amtrcs report health`,
// GET /api/v1/reports/health): for every device its last contact, last
// error, AMT FQDN against the OS FQDN, TLS certificate days left, clock
// drift, password age and configuration drift from its profile, the
// failing devices first, each problem with
// the maintenance task that fixes it; and the provisioning certificates'
// expiry.
//
// Build is pure: it judges records (Input) at a given time by a Policy,
// so the report is reproducible in tests and identical in the CLI and the
// API. Load reads the records from the store; the server adds how each
// device answered a probe of its network path (Input.Reach). The package
// must never write to the store, reach a device, or show a secret.
package health

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs/device"
	"github.com/amtrcs/amtrcs/rcs/jobs"
	"github.com/amtrcs/amtrcs/store"
)

// DeviceInfo is the server's device record (package device): the report
// reads what the server last heard from a device through the record type
// the server writes.
type DeviceInfo = device.Record

// CertInfo is a provisioning certificate's identity and end.
type CertInfo struct {
	ID         string    `json:"id"`
	CommonName string    `json:"common_name"`
	NotAfter   time.Time `json:"not_after"`
}

// Input is the records the report is built from.
type Input struct {
	Devices   []DeviceInfo
	Sessions  []provisioning.Session
	States    []provisioning.DeviceState
	Jobs      []jobs.Record
	ProvCerts []CertInfo
	// Reach is how each device with a TLS certificate from the internal
	// CA answered when the report was made (nil: not probed, as when the
	// CLI reads a stopped server's store).
	Reach map[string]Reach
}

// Reach states: how the RCS can reach a device whose TLS it configured.
const (
	// ReachAgent: the device's agent is connected; maintenance goes
	// through it.
	ReachAgent = "agent connected"
	// ReachNetworkOnly: no agent is connected, and AMT answered on its
	// own port 16993: the PC's OS or its agent is down, and maintenance
	// goes over the network path.
	ReachNetworkOnly = "OS and agent down, AMT answers"
	// ReachNone: no agent is connected, and AMT did not answer on port
	// 16993 either.
	ReachNone = "AMT does not answer"
)

// NotProbed is what a report built from the store alone says of reach: it
// asked no device, so a device whose OS and agent are down and one whose
// AMT is silent look the same.
const NotProbed = "reach: not probed; this report read the store and asked no device. Ask the running server, which probes each device's port 16993: amtrcs report health --server URL"

// Reach is what a probe of a device's network path found.
type Reach struct {
	State   string `json:"state"`
	Address string `json:"address,omitempty"` // the address probed
	Detail  string `json:"detail,omitempty"`  // why AMT did not answer, or what it refused
}

// Policy is what counts as a problem.
type Policy struct {
	TLSRenewBefore time.Duration   // TLS certificate days left below this
	ClockThreshold time.Duration   // clock drift above this, uncorrected
	PasswordMaxAge time.Duration   // password older than this (0: no rotation policy)
	ContactMaxAge  time.Duration   // no contact for longer than this
	CertWarn       []time.Duration // provisioning certificate lead times
}

// PolicyFrom derives the policy from the maintenance schedule: what the
// schedule should have fixed by now is a problem.
func PolicyFrom(m config.Maintenance) Policy {
	contact := 2 * m.NetworkSync
	if contact == 0 {
		contact = 7 * 24 * time.Hour
	}
	return Policy{TLSRenewBefore: m.TLSRenewBefore, ClockThreshold: 10 * time.Second, PasswordMaxAge: m.PasswordRotation,
		ContactMaxAge: contact, CertWarn: m.ProvisioningCertWarn}
}

// Problem is one thing wrong with a device and the task that fixes it.
type Problem struct {
	Check  string `json:"check"`
	Detail string `json:"detail"`
	// Task is the maintenance task that fixes it (`amtrcs device maintain
	// ID --task TASK`); Fix says what else to do when no task can.
	Task string `json:"task,omitempty"`
	Fix  string `json:"fix,omitempty"`
}

// Checks.
const (
	CheckError    = "last error"
	CheckContact  = "contact"
	CheckFQDN     = "fqdn"
	CheckTLS      = "tls"
	CheckClock    = "clock"
	CheckPassword = "password age"
	CheckReach    = "reach"
	CheckDrift    = "configuration drift"
)

// DeviceHealth is one device's line of the report.
type DeviceHealth struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Status      string     `json:"status"` // "failing" or "ok"
	LastContact *time.Time `json:"last_contact,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	AMTFQDN     string     `json:"amt_fqdn,omitempty"`
	OSFQDN      string     `json:"os_fqdn,omitempty"`
	TLSDaysLeft *int       `json:"tls_days_left,omitempty"`
	// ClockDriftSeconds is the firmware clock minus the RCS clock when
	// last measured.
	ClockDriftSeconds *float64 `json:"clock_drift_seconds,omitempty"`
	PasswordAgeDays   *int     `json:"password_age_days,omitempty"`
	// Drift is the profile settings the last enforce task found changed
	// and left so (a dry run, or a failure).
	Drift []provisioning.Drift `json:"drift,omitempty"`
	// Reach is how the RCS reached the device when the report was made
	// (empty when it was not probed).
	Reach    string    `json:"reach,omitempty"`
	Problems []Problem `json:"problems"`
}

// Report is the health report.
type Report struct {
	Generated         time.Time                 `json:"generated"`
	Devices           []DeviceHealth            `json:"devices"`
	Failing           int                       `json:"failing"`
	ProvisioningCerts []provisioning.CertExpiry `json:"provisioning_certificates"`
	// ReachProbed says whether the network paths were probed; false when
	// the report was built from the store alone, which says nothing of
	// whether AMT answers now.
	ReachProbed bool `json:"reach_probed"`
}

// Statuses.
const (
	StatusOK      = "ok"
	StatusFailing = "failing"
)

// Build judges in at now by p.
func Build(in Input, now time.Time, p Policy) Report {
	rep := Report{Generated: now, Devices: []DeviceHealth{}, ProvisioningCerts: []provisioning.CertExpiry{}, ReachProbed: in.Reach != nil}
	devs := map[string]*DeviceInfo{}
	sessions := map[string]provisioning.Session{}
	states := map[string]provisioning.DeviceState{}
	jobsOf := map[string][]jobs.Record{}
	var ids []string
	add := func(id string) {
		if id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for i := range in.Devices {
		devs[in.Devices[i].ID] = &in.Devices[i]
		add(in.Devices[i].ID)
	}
	for _, s := range in.Sessions {
		sessions[s.Device] = s
		add(s.Device)
	}
	for _, s := range in.States {
		states[s.Device] = s
		add(s.Device)
	}
	for _, j := range in.Jobs {
		jobsOf[j.Device] = append(jobsOf[j.Device], j)
	}
	for _, id := range ids {
		h := judge(id, devs[id], sessions[id], states[id], jobsOf[id], now, p)
		if r, ok := in.Reach[id]; ok {
			judgeReach(&h, r)
		}
		rep.Devices = append(rep.Devices, h)
	}
	slices.SortFunc(rep.Devices, func(a, b DeviceHealth) int {
		if (a.Status == StatusFailing) != (b.Status == StatusFailing) {
			if a.Status == StatusFailing {
				return -1
			}
			return 1
		}
		if n := len(b.Problems) - len(a.Problems); n != 0 {
			return n
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, d := range rep.Devices {
		if d.Status == StatusFailing {
			rep.Failing++
		}
	}
	for _, c := range in.ProvCerts {
		rep.ProvisioningCerts = append(rep.ProvisioningCerts, provisioning.JudgeCertExpiry(c.ID, c.CommonName, c.NotAfter, now, p.CertWarn))
	}
	return rep
}

func judge(id string, dev *DeviceInfo, sess provisioning.Session, st provisioning.DeviceState, js []jobs.Record, now time.Time, p Policy) DeviceHealth {
	h := DeviceHealth{ID: id, Name: id, Problems: []Problem{}}
	problem := func(check, detail, task, fix string) {
		h.Problems = append(h.Problems, Problem{Check: check, Detail: detail, Task: task, Fix: fix})
	}
	var contact time.Time
	if dev != nil {
		h.OSFQDN = strings.ToLower(dev.FQDN)
		switch {
		case dev.FQDN != "":
			h.Name = dev.FQDN
		case dev.Hostname != "":
			h.Name = dev.Hostname
		}
		contact = dev.LastSeen
	}
	if st.LastContact.After(contact) {
		contact = st.LastContact
	}
	if !contact.IsZero() {
		h.LastContact = &contact
	}
	if h.OSFQDN == "" && st.Network != nil {
		h.OSFQDN = st.Network.OSFQDN
	}
	if st.Network != nil {
		h.AMTFQDN = st.Network.AMTFQDN
	} else if st.TLS != nil {
		h.AMTFQDN = st.TLS.FQDN
	}
	maintained := provisioning.Maintained(sess)

	// Last error: the device's own (activation), the last failed task, or
	// a maintenance job in back-off.
	switch {
	case dev != nil && dev.Error != "":
		h.LastError = dev.Error
		problem(CheckError, dev.Error, "", "see the device's last job: amtrcs device show "+id)
	case st.LastError != "":
		h.LastError = st.LastError
		problem(CheckError, fmt.Sprintf("%s failed at %s: %s", st.LastErrorTask, st.LastErrorTime.UTC().Format(time.RFC3339), st.LastError), st.LastErrorTask, "")
	}
	for _, j := range js {
		if j.Error != "" && j.Attempts > 0 && (st.LastErrorTask != j.Task || st.LastError == "") {
			if h.LastError == "" {
				h.LastError = j.Error
			}
			problem(CheckError, fmt.Sprintf("%s failed %s, retried at %s: %s", j.Task, count(j.Attempts, "time", "times"), j.NextRun.UTC().Format(time.RFC3339), j.Error), j.Task, "")
		}
	}
	if maintained && p.ContactMaxAge > 0 && (contact.IsZero() || now.Sub(contact) > p.ContactMaxAge) {
		seen := "never"
		if !contact.IsZero() {
			seen = fmt.Sprintf("%s ago", roundDays(now.Sub(contact)))
		}
		problem(CheckContact, fmt.Sprintf("last contact %s, want within %s", seen, roundDays(p.ContactMaxAge)), provisioning.TaskNetworkSync,
			"if it fails too, start the agent on the device (it relays the RCS's calls)")
	}
	if h.AMTFQDN != "" && h.OSFQDN != "" && !strings.EqualFold(h.AMTFQDN, h.OSFQDN) {
		problem(CheckFQDN, fmt.Sprintf("AMT calls itself %s, the OS %s: consoles connecting by the OS name fail TLS", h.AMTFQDN, h.OSFQDN), provisioning.TaskNetworkSync, "")
	}
	if st.TLS != nil {
		left := int(math.Floor(st.TLS.NotAfter.Sub(now).Hours() / 24))
		h.TLSDaysLeft = &left
		if st.TLS.NotAfter.Sub(now) < p.TLSRenewBefore {
			problem(CheckTLS, fmt.Sprintf("TLS certificate for %s has %s left, want at least %s", st.TLS.FQDN, count(left, "day", "days"), count(int(p.TLSRenewBefore.Hours()/24), "day", "days")), provisioning.TaskTLS, "")
		} else if h.OSFQDN != "" && !strings.EqualFold(st.TLS.FQDN, h.OSFQDN) && strings.EqualFold(h.AMTFQDN, h.OSFQDN) {
			problem(CheckTLS, fmt.Sprintf("TLS certificate names %s, the device is %s", st.TLS.FQDN, h.OSFQDN), provisioning.TaskTLS, "")
		}
	} else if maintained && sess.Profile.TLS.Enabled {
		problem(CheckTLS, fmt.Sprintf("profile %q wants TLS and the device has none", sess.Profile.Name), provisioning.TaskTLS, "")
	}
	if st.Clock != nil {
		d := st.Clock.Drift.Seconds()
		h.ClockDriftSeconds = &d
		if !st.Clock.Corrected && st.Clock.Drift.Abs() > p.ClockThreshold {
			problem(CheckClock, fmt.Sprintf("firmware clock off by %s", st.Clock.Drift), provisioning.TaskClockSync, "")
		}
	}
	if st.Enforce != nil {
		if ds := st.Enforce.Unfixed(); len(ds) > 0 {
			h.Drift = ds
			items := make([]string, len(ds))
			for i, d := range ds {
				items[i] = d.String()
			}
			problem(CheckDrift, fmt.Sprintf("%d settings differ from profile %q (found %s): %s", len(ds), st.Enforce.Profile,
				st.Enforce.Checked.UTC().Format(time.RFC3339), strings.Join(items, "; ")), provisioning.TaskEnforce, "")
		}
	}
	if maintained {
		if set := provisioning.PasswordSetAt(sess, st); !set.IsZero() {
			age := int(now.Sub(set).Hours() / 24)
			h.PasswordAgeDays = &age
			if p.PasswordMaxAge > 0 && now.Sub(set) > p.PasswordMaxAge {
				problem(CheckPassword, fmt.Sprintf("admin password set %s ago, want a rotation every %s", count(age, "day", "days"), count(int(p.PasswordMaxAge.Hours()/24), "day", "days")), provisioning.TaskPasswordRotation, "")
			}
		}
	}
	h.Status = StatusOK
	if len(h.Problems) > 0 {
		h.Status = StatusFailing
	}
	return h
}

// judgeReach adds what the probe of the network path found.
func judgeReach(h *DeviceHealth, r Reach) {
	h.Reach = r.State
	at := ""
	if r.Address != "" {
		at = " at " + r.Address
	}
	switch r.State {
	case ReachNetworkOnly:
		detail := fmt.Sprintf("%s: no agent is connected; AMT answered on port 16993%s", r.State, at)
		if r.Detail != "" {
			detail += " (" + r.Detail + ")"
		}
		h.Problems = append(h.Problems, Problem{Check: CheckReach, Detail: detail,
			Fix: "start the PC's operating system, or the agent on it (amtrcs agent); maintenance goes on over the network path meanwhile"})
	case ReachNone:
		detail := fmt.Sprintf("%s: no agent is connected, and port 16993%s gave no answer", r.State, at)
		if r.Detail != "" {
			detail += ": " + r.Detail
		}
		h.Problems = append(h.Problems, Problem{Check: CheckReach, Detail: detail,
			Fix: "check that the PC has power (AMT answers when off only on AC power) and a network link, that its AMT FQDN resolves to its address (amtrcs dns check), and that nothing between the RCS and the PC blocks port 16993"})
	}
	h.Status = StatusOK
	if len(h.Problems) > 0 {
		h.Status = StatusFailing
	}
}

func roundDays(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return d.Round(time.Minute).String()
}

// Load reads the report's records from the store.
func Load(st store.Viewer) (Input, error) {
	var in Input
	var errs []error
	err := st.View(func(tx *store.Tx) error {
		return tx.ForEach(store.Devices, func(id string, raw []byte) error {
			var d DeviceInfo
			if err := json.Unmarshal(raw, &d); err != nil {
				errs = append(errs, fmt.Errorf("device %q: %w", id, err))
				return nil
			}
			if d.ID == "" {
				d.ID = id
			}
			in.Devices = append(in.Devices, d)
			return nil
		})
	})
	errs = append(errs, err)
	in.Sessions, err = provisioning.Sessions(st)
	errs = append(errs, err)
	in.States, err = provisioning.States(st)
	errs = append(errs, err)
	in.Jobs, err = jobs.Records(st)
	errs = append(errs, err)
	certs, err := store.List[csr.ProvisioningCert](st, store.ProvCerts)
	errs = append(errs, err)
	for _, c := range certs {
		if c.Status != csr.StatusSuperseded {
			in.ProvCerts = append(in.ProvCerts, CertInfo{ID: c.ID, CommonName: c.CommonName, NotAfter: c.NotAfter})
		}
	}
	return in, errors.Join(errs...)
}
