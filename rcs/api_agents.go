package rcs

import (
	"net/http"
	"slices"
	"time"

	"github.com/amtrcs/amtrcs/store"
)

// AgentInfo is an enrolled agent as the API shows it: no credential hash.
type AgentInfo struct {
	ID       string    `json:"id"`
	Hostname string    `json:"hostname,omitempty"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Device is the device the agent speaks for (bound at its first
	// report; an admin moves it with rebind).
	Device        string    `json:"device,omitempty"`
	Bound         time.Time `json:"bound,omitzero"`
	BoundHostname string    `json:"bound_hostname,omitempty"`
	Connected     bool      `json:"connected"`
	Revoked       bool      `json:"revoked,omitempty"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	// Refused is the agent's last refused report: what it claimed.
	Refused   string    `json:"refused,omitempty"`
	RefusedAt time.Time `json:"refused_at,omitzero"`
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request, _ *principal) {
	pg, err := parsePage(r, DefaultPageSize)
	if err != nil {
		writeError(w, err)
		return
	}
	as, err := store.List[agentRecord](s.st, store.Agents)
	if err != nil {
		writeError(w, err)
		return
	}
	as, next := pageOf(as, func(a agentRecord) string { return a.ID }, pg)
	setNext(w, r, next)
	out := []AgentInfo{}
	for _, a := range as {
		out = append(out, s.agentView(a))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) agentInfo(id string) (AgentInfo, error) {
	var a agentRecord
	if err := s.st.Get(store.Agents, id, &a); err != nil {
		return AgentInfo{}, err
	}
	return s.agentView(a), nil
}

// agentView is the API's view of an agent record, with Connected filled in.
func (s *Server) agentView(a agentRecord) AgentInfo {
	ac := s.gw.conn(a.Device)
	return AgentInfo{ID: a.ID, Hostname: a.Hostname, Created: a.Created, LastSeen: a.LastSeen,
		Device: a.Device, Bound: a.Bound, BoundHostname: a.BoundHostname,
		Connected: ac != nil && ac.agentID == a.ID, Revoked: a.Revoked, RevokedAt: a.RevokedAt,
		Refused: a.Refused, RefusedAt: a.RefusedAt}
}

// revokeAgentAPI revokes an agent credential and disconnects the agent.
func (s *Server) revokeAgentAPI(w http.ResponseWriter, r *http.Request, p *principal) {
	id := r.PathValue("id")
	if err := s.revokeAgent(id, p.Actor); err != nil {
		writeError(w, err)
		return
	}
	s.writeAgent(w, id)
}

// rebindAgent moves an agent to the device the body names (or frees it),
// and ends the sessions of the agents it concerns, which reconnect under
// the new binding.
func (s *Server) rebindAgent(w http.ResponseWriter, r *http.Request, p *principal) {
	var req rebindRequest
	if r.ContentLength != 0 {
		if err := readJSON(w, r, &req); err != nil {
			writeError(w, err)
			return
		}
	}
	id := r.PathValue("id")
	affected, err := s.rebind(id, req.Device, p.Actor)
	if err != nil {
		writeError(w, err)
		return
	}
	for _, a := range affected {
		s.gw.disconnect(a)
	}
	s.writeAgent(w, id)
}

func (s *Server) writeAgent(w http.ResponseWriter, id string) {
	a, err := s.agentInfo(id)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// EnrollTokenInfo is an enrollment token as the list shows it: never the
// token nor its hash.
type EnrollTokenInfo struct {
	ID        string    `json:"id"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by,omitempty"`
	Expires   time.Time `json:"expires"`
	Used      time.Time `json:"used,omitzero"`
	UsedBy    string    `json:"used_by,omitempty"`
	Revoked   time.Time `json:"revoked,omitzero"`
}

func (s *Server) listEnrollTokens(w http.ResponseWriter, _ *http.Request, _ *principal) {
	ts, err := store.List[tokenRecord](s.st, store.Tokens)
	if err != nil {
		writeError(w, err)
		return
	}
	out := []EnrollTokenInfo{}
	for _, t := range ts {
		if t.Kind == kindEnroll {
			out = append(out, EnrollTokenInfo{ID: t.ID, Created: t.Created, CreatedBy: t.CreatedBy, Expires: t.Expires, Used: t.Used, UsedBy: t.UsedBy, Revoked: t.Revoked})
		}
	}
	slices.SortFunc(out, func(a, b EnrollTokenInfo) int { return a.Created.Compare(b.Created) })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) revokeEnrollToken(w http.ResponseWriter, r *http.Request, p *principal) {
	id := r.PathValue("id")
	if err := s.revokeToken(id, p.Actor); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
