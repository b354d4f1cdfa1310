package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

// ReplicaReport is what the scenario found.
type ReplicaReport struct {
	Store    string `json:"store"`
	Replicas int    `json:"replicas"`
	Devices  int    `json:"devices"`
	Version  string `json:"amt_version"`
	// Killed is the index of the server killed (-1: none); KilledAfter
	// how many devices were provisioned when it was.
	Killed      int `json:"killed"`
	KilledAfter int `json:"killed_after,omitempty"`
	Provisioned int `json:"provisioned"`
	// Failed counts devices left not provisioned; Lost those whose state
	// is unknown (provisioned without a password of the store that opens
	// them, or neither provisioned nor not).
	Failed int `json:"failed"`
	Lost   int `json:"lost"`
	// JobsRunTwice counts devices with more than one successful
	// activation or resumption job; JobsUnended jobs still recorded as
	// running at the end; JobsInterrupted jobs ended as interrupted by
	// a server's death.
	JobsRunTwice    int `json:"jobs_run_twice"`
	JobsUnended     int `json:"jobs_unended"`
	JobsInterrupted int `json:"jobs_interrupted"`
	// ElapsedSeconds runs from the agents' start to the last device
	// provisioned.
	ElapsedSeconds       float64 `json:"elapsed_seconds"`
	ActivationsPerSecond float64 `json:"activations_per_second"`
	// ServerCPUSeconds is the servers' CPU (user and system) during the
	// run, the killed one's until its death.
	ServerCPUSeconds         float64  `json:"server_cpu_seconds"`
	ServerCPUPerActivationMS float64  `json:"server_cpu_per_activation_ms"`
	Failures                 []string `json:"failures,omitempty"`
}

// OK says whether the run met the scenario's guarantees.
func (r *ReplicaReport) OK() bool {
	return r.Failed == 0 && r.Lost == 0 && r.JobsRunTwice == 0 && r.JobsUnended == 0
}

// check opens the store once the servers have stopped and checks every
// device and job.
func (r *replicaRun) check(rep *ReplicaReport, devs []*amtsim.Device, key []byte) error {
	st, err := r.openStore(key)
	if err != nil {
		return fmt.Errorf("open the store to check the fleet: %w", err)
	}
	defer st.Close()
	ours := make(map[string]bool, len(devs))
	for _, d := range devs {
		ours[d.ID().String()] = true
	}
	jobs, err := store.List[rcs.Job](st, store.Jobs)
	if err != nil {
		return err
	}
	succeeded := map[string]int{}
	for _, j := range jobs {
		if !ours[j.Device] {
			continue
		}
		switch j.Status {
		case rcs.JobRunning:
			rep.JobsUnended++
			rep.fail("job %s (%s) of device %s never ended (server %s)", j.ID, j.Kind, j.Device, j.Server)
		case rcs.JobInterrupted:
			rep.JobsInterrupted++
		case rcs.JobDone:
			if j.Kind == rcs.JobActivate || j.Kind == rcs.JobResume {
				succeeded[j.Device]++
			}
		}
	}
	for dev, n := range succeeded {
		if n > 1 {
			rep.JobsRunTwice++
			rep.fail("device %s has %d successful activation jobs, want 1", dev, n)
		}
	}
	for _, d := range devs {
		id := d.ID().String()
		switch ps, mode := d.State(); ps {
		case amt.PreProvisioning:
			rep.Failed++
			rep.fail("device %s ended not provisioned", id)
		case amt.PostProvisioning:
			if opensWithStored(st, d) {
				rep.Provisioned++
				if succeeded[id] == 0 {
					rep.JobsUnended++
					rep.fail("device %s is provisioned and no job of it ended done", id)
				}
				continue
			}
			rep.Lost++
			rep.fail("device %s is provisioned (%s) and no password of the store opens it", id, mode)
		default:
			rep.Lost++
			rep.fail("device %s ended %s", id, ps)
		}
	}
	return nil
}

// opensWithStored says whether a password the store holds for the device
// (its admin password, or the next one of a rotation) opens it.
func opensWithStored(st *store.Store, d *amtsim.Device) bool {
	id := d.ID().String()
	for _, name := range []string{provisioning.AdminSecretName(id), provisioning.AdminNextSecretName(id)} {
		pw, err := st.Secret(name)
		if err == nil && d.CheckAdminPassword(context.Background(), string(pw)) == nil {
			return true
		}
	}
	return false
}

// maxReplicaFailures bounds the failures a report lists.
const maxReplicaFailures = 20

func (r *ReplicaReport) fail(format string, args ...any) {
	if len(r.Failures) < maxReplicaFailures {
		r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
	}
}

// WriteText writes the report for people.
func (r *ReplicaReport) WriteText(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "store %s, %d server(s), %d devices (AMT %s)\n", r.Store, r.Replicas, r.Devices, r.Version)
	if r.Killed >= 0 {
		fmt.Fprintf(&b, "server %d killed with SIGKILL after %d devices were provisioned\n", r.Killed, r.KilledAfter)
	}
	fmt.Fprintf(&b, "provisioned %d, failed %d, lost %d; jobs run twice %d, unended %d, interrupted %d\n",
		r.Provisioned, r.Failed, r.Lost, r.JobsRunTwice, r.JobsUnended, r.JobsInterrupted)
	fmt.Fprintf(&b, "%.1f activations/s over %.1f s; server CPU %.1f s, %.1f ms per activation\n",
		r.ActivationsPerSecond, r.ElapsedSeconds, r.ServerCPUSeconds, r.ServerCPUPerActivationMS)
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	_, err := w.Write(b.Bytes())
	return err
}
