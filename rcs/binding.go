package rcs

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/store"
)

// An agent credential speaks for one device: the one its first report
// named. The binding is kept on both records (agentRecord.Device and
// DeviceRecord.Agent) and written in the transaction that checks it, so
// two credentials reporting one UUID at once cannot both win. Only an
// admin moves it (rebind).

// Rules of the agent's identity, as refusals name them.
const (
	RuleAgentBinding  = "agent binding"  // a credential reported another device than its own
	RuleDeviceBinding = "device binding" // a second credential reported a bound device
	RuleAgentRevoked  = "agent revoked"
)

// bindReport checks that the agent may speak for the device its report
// names, binding the two at the agent's first report. A refusal is a 403
// APIError, audited and kept on the agent's record for the admin's list.
func (s *Server) bindReport(agentID string, r wire.Report) error {
	id := r.Info.UUID.String()
	now := s.now()
	var refusal *APIError
	// A group commit: a fleet coming back after a restart binds thousands
	// of reports at once, and one fsync each in turn would queue them.
	// Batch may run this more than once; it starts afresh each time.
	err := s.st.Batch(func(tx *store.Tx) error {
		refusal = nil
		var a agentRecord
		if err := tx.Get(store.Agents, agentID, &a); err != nil {
			return err
		}
		refusal = s.bindingRefusal(tx, a, id)
		if refusal != nil {
			a.Refused, a.RefusedAt = refusal.Seen, now
			if err := tx.Put(store.Agents, agentID, a); err != nil {
				return err
			}
			return tx.Audit(store.Event{Time: now, Actor: "agent:" + agentID, Action: "agent.report", Subject: id, Outcome: store.OutcomeDenied,
				Detail: map[string]string{"rule": refusal.Rule, "bound_device": a.Device, "hostname": r.Hostname}})
		}
		first := a.Device == ""
		if first {
			a.Device, a.Bound, a.BoundHostname = id, now, r.Hostname
		}
		a.LastSeen = now
		if err := tx.Put(store.Agents, agentID, a); err != nil {
			return err
		}
		if err := bindDevice(tx, id, agentID); err != nil {
			return err
		}
		if !first {
			return nil
		}
		return tx.Audit(store.Event{Time: now, Actor: "agent:" + agentID, Action: "agent.bind", Subject: id, Outcome: store.OutcomeSuccess,
			Detail: map[string]string{"agent": agentID, "hostname": r.Hostname}})
	})
	if err != nil {
		return err
	}
	if refusal != nil {
		return refusal
	}
	return nil
}

// bindingRefusal is why agent a may not report device id, or nil.
func (s *Server) bindingRefusal(tx *store.Tx, a agentRecord, id string) *APIError {
	if a.Revoked {
		return apiErr(http.StatusForbidden, RuleAgentRevoked, "agent "+a.ID+" was revoked", "a credential that is not revoked", "enroll the agent again with a new token (amtrcs agent --token), then an admin binds it: amtrcs agents rebind NEW-AGENT --device "+id)
	}
	if a.Device != "" && a.Device != id {
		return apiErr(http.StatusForbidden, RuleAgentBinding, fmt.Sprintf("agent %s speaks for device %s and reported device %s", a.ID, a.Device, id),
			"reports for device "+a.Device+" only",
			"if this agent now runs on the PC of "+id+", an admin moves it: amtrcs agents rebind "+a.ID+" --device "+id+"; otherwise revoke it: amtrcs agents revoke "+a.ID)
	}
	var d DeviceRecord
	if err := tx.Get(store.Devices, id, &d); err != nil || d.Agent == "" || d.Agent == a.ID {
		return nil
	}
	var other agentRecord
	if err := tx.Get(store.Agents, d.Agent, &other); err != nil || other.Device != id {
		// The device's last agent no longer speaks for it (an admin
		// moved it, or it is gone): the device is free.
		return nil
	}
	return apiErr(http.StatusForbidden, RuleDeviceBinding, fmt.Sprintf("device %s is bound to agent %s and agent %s reported it", id, d.Agent, a.ID),
		"reports for "+id+" from agent "+d.Agent,
		"if the PC was enrolled again, an admin moves the device to the new agent: amtrcs agents rebind "+a.ID+" --device "+id+" (and revokes agent "+d.Agent+")")
}

// bindDevice records agentID as the agent of device id, making the record
// when the device is new.
func bindDevice(tx *store.Tx, id, agentID string) error {
	var d DeviceRecord
	if err := tx.Get(store.Devices, id, &d); errors.Is(err, store.ErrNotFound) {
		d = DeviceRecord{ID: id, State: StateDiscovered}
	} else if err != nil {
		return err
	}
	if d.Agent == agentID {
		return nil
	}
	d.Agent = agentID
	return tx.Put(store.Devices, id, d)
}

// rebindRequest is the body of POST /api/v1/agents/{id}/rebind.
type rebindRequest struct {
	// Device is the UUID the agent speaks for from now on; empty frees
	// the agent, whose next report binds it.
	Device string `json:"device,omitempty"`
}

// rebind moves agent agentID to device (or frees it), releasing the device
// from any other agent and the agent's old device from it, and returns
// the agents whose sessions must end.
func (s *Server) rebind(agentID, device, actor string) (affected []string, err error) {
	if device != "" {
		u, err := amt.ParseUUID(device)
		if err != nil {
			return nil, apiErr(http.StatusBadRequest, "device UUID", fmt.Sprintf("%q", device), "a UUID such as 8c0e6bd4-0000-4000-8000-000000000001", "copy it from amtrcs agents list (REFUSED) or amtrcs device list")
		}
		device = u.String()
	}
	now := s.now()
	err = s.st.Update(func(tx *store.Tx) error {
		affected = []string{agentID}
		var a agentRecord
		if err := tx.Get(store.Agents, agentID, &a); err != nil {
			return err
		}
		if a.Revoked {
			return apiErr(http.StatusConflict, RuleAgentRevoked, "agent "+agentID+" was revoked", "an agent that is not revoked", "enroll the agent again with a new token and rebind the new one")
		}
		old := a.Device
		if old != "" && old != device {
			var d DeviceRecord
			if err := tx.Get(store.Devices, old, &d); err == nil && d.Agent == agentID {
				d.Agent = ""
				if err := tx.Put(store.Devices, old, d); err != nil {
					return err
				}
			}
		}
		if device != "" {
			var d DeviceRecord
			if err := tx.Get(store.Devices, device, &d); err == nil && d.Agent != "" && d.Agent != agentID {
				var other agentRecord
				if err := tx.Get(store.Agents, d.Agent, &other); err == nil && other.Device == device {
					other.Device, other.Bound = "", now
					if err := tx.Put(store.Agents, other.ID, other); err != nil {
						return err
					}
					affected = append(affected, other.ID)
				}
			}
			if err := bindDevice(tx, device, agentID); err != nil {
				return err
			}
		}
		a.Device, a.Bound, a.BoundHostname, a.Refused, a.RefusedAt = device, now, "", "", time.Time{}
		if err := tx.Put(store.Agents, agentID, a); err != nil {
			return err
		}
		return tx.Audit(store.Event{Time: now, Actor: actor, Action: "agent.rebind", Subject: agentID, Outcome: store.OutcomeSuccess,
			Detail: map[string]string{"device": device, "previous_device": old}})
	})
	return affected, err
}

// revokeAgent revokes an agent credential and ends its live sessions: it
// cannot reconnect (authenticate refuses it).
func (s *Server) revokeAgent(agentID, actor string) error {
	now := s.now()
	err := s.st.Update(func(tx *store.Tx) error {
		var a agentRecord
		if err := tx.Get(store.Agents, agentID, &a); err != nil {
			return err
		}
		if a.Revoked {
			return nil
		}
		a.Revoked, a.RevokedAt, a.RevokedBy = true, now, actor
		if err := tx.Put(store.Agents, agentID, a); err != nil {
			return err
		}
		return tx.Audit(store.Event{Time: now, Actor: actor, Action: "agent.revoke", Subject: agentID, Outcome: store.OutcomeSuccess, Detail: map[string]string{"device": a.Device}})
	})
	if err != nil {
		return err
	}
	s.gw.disconnect(agentID)
	return nil
}

// revokeToken revokes an enrollment token: it buys no agent any more.
func (s *Server) revokeToken(id, actor string) error {
	now := s.now()
	return s.st.Update(func(tx *store.Tx) error {
		var t tokenRecord
		if err := tx.Get(store.Tokens, id, &t); err != nil {
			return err
		}
		if t.Kind != kindEnroll {
			return apiErr(http.StatusBadRequest, "token kind", fmt.Sprintf("token %s is a %s token", id, t.Kind), "an enrollment token", "list enrollment tokens with amtrcs tokens list")
		}
		if !t.Revoked.IsZero() {
			return nil
		}
		t.Revoked, t.RevokedBy = now, actor
		if err := tx.Put(store.Tokens, id, t); err != nil {
			return err
		}
		return tx.Audit(store.Event{Time: now, Actor: actor, Action: "token.revoke", Subject: id, Outcome: store.OutcomeSuccess, Detail: map[string]string{"kind": kindEnroll, "used_by": t.UsedBy}})
	})
}
