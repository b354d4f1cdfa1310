package rcs

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/store"
)

// An admin's activation or deactivation may reach a server other than the
// one holding the device's agent (a load balancer chose it). That server
// writes the job as requested, addressed to the agent's server, and
// notifies; the agent's server runs it as its own. A request whose server
// stopped before running it ends failed, so that nothing waits forever.

// topicJob is the notification of a requested job; its payload is the
// job id.
const topicJob = "job"

// errRequestTaken: the request ran already, or ended.
var errRequestTaken = errors.New("the job request was taken or ended")

// agentServer is the id of the other server holding the device's agent,
// if one does.
func (s *Server) agentServer(device string) string {
	ls, err := s.st.Leases(leaseAgent + device)
	if err != nil {
		return ""
	}
	for _, l := range ls {
		if l.Name == leaseAgent+device && l.Owner != s.id {
			return l.Owner
		}
	}
	return ""
}

// requestJob writes a job for the server holding the device's agent and
// wakes it.
func (s *Server) requestJob(device, kind, profile, actor, server string, deact provisioning.DeactivateOptions) (Job, error) {
	j := Job{ID: newJobID(), Device: device, Kind: kind, Profile: profile, Actor: actor, Server: server, Status: JobRequested, Created: s.now(), Deactivate: deact}
	err := s.st.Batch(func(tx *store.Tx) error {
		if err := tx.Put(store.Jobs, j.ID, j); err != nil {
			return err
		}
		return tx.Audit(store.Event{Actor: actor, Action: "job.request", Subject: device, Outcome: store.OutcomeSuccess, Detail: map[string]string{"job": j.ID, "kind": kind, "server": server}})
	})
	if err != nil {
		return Job{}, err
	}
	if err := s.st.Notify(topicJob, j.ID); err != nil {
		// The server finds it at its next sweep.
		s.log.Warn("notify a job request", "job", j.ID, "err", err)
	}
	return j, nil
}

// takeRequest moves a request to running in the transaction that starts
// it: a request runs once.
func takeRequest(tx *store.Tx, id string) error {
	var j Job
	if err := tx.Get(store.Jobs, id, &j); err != nil {
		return err
	}
	if j.Status != JobRequested {
		return errRequestTaken
	}
	return nil
}

// serveRequests runs the requests addressed to this server as they are
// notified, until it stops.
func (s *Server) serveRequests() {
	ids, err := s.st.Listen(s.ctx, topicJob)
	if err != nil {
		s.log.Warn("listen for job requests; they run at the sweeps instead", "err", err)
		return
	}
	for id := range ids {
		var j Job
		if err := s.st.Get(store.Jobs, id, &j); err == nil {
			s.runRequest(j)
		}
	}
}

// runRequest runs a request addressed to this server, or ends it failed
// when its device's agent has gone.
func (s *Server) runRequest(j Job) {
	if j.Status != JobRequested || j.Server != s.id {
		return
	}
	ac := s.gw.conn(j.Device)
	var err error
	if ac == nil {
		err = apiErr(http.StatusConflict, "device reachable", fmt.Sprintf("the agent of device %s disconnected before the job ran", j.Device), "a connected agent", "ask again once the agent is back")
	} else {
		var prof string
		var fn jobFunc
		if prof, fn, err = s.deviceJobFunc(ac, j.Device, j.Kind, j.Profile, j.Deactivate); err == nil {
			j.Profile = prof
			_, err = s.jobs.launch(j, true, fn)
		}
	}
	if err == nil || errors.Is(err, errRequestTaken) {
		return
	}
	s.failRequest(j.ID, err)
}

// failRequest ends a request that cannot run, unless it ended already.
func (s *Server) failRequest(id string, cause error) {
	ae := toAPIError(cause)
	err := s.st.Batch(func(tx *store.Tx) error {
		var j Job
		if err := tx.Get(store.Jobs, id, &j); err != nil || j.Status != JobRequested {
			return err
		}
		j.Status, j.Finished, j.Error, j.Rule, j.Fix = JobFailed, s.now(), ae.Message, ae.Rule, ae.Fix
		return tx.Put(store.Jobs, j.ID, j)
	})
	if err != nil {
		s.log.Warn("record a failed job request", "job", id, "err", err)
	}
}

// sweepRequests runs the requests addressed here that no notification
// brought, and fails those whose server no longer holds the device's agent
// a lease's time after they were made.
func (s *Server) sweepRequests(jobs []Job) {
	for _, j := range jobs {
		switch {
		case j.Status != JobRequested:
		case j.Server == s.id:
			s.runRequest(j)
		case s.now().Sub(j.Created) > 2*s.leaseTTL() && s.agentServer(j.Device) != j.Server:
			s.failRequest(j.ID, apiErr(http.StatusConflict, "device reachable", "the server holding the device's agent stopped before running the job", "a connected agent", "ask again: the agent reconnects to another server"))
		}
	}
}
