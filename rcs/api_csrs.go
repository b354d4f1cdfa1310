package rcs

import (
	"net/http"

	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/store"
)

// The CSRs of a running server: the key is made and sealed in the server's
// store, so the request for a provisioning certificate is made without
// stopping the server. The responses hold the CSR's PEM, never its key.

func (s *Server) listCSRs(w http.ResponseWriter, _ *http.Request, _ *principal) {
	recs, err := s.workshop.CSRs()
	if err != nil {
		writeError(w, err)
		return
	}
	if recs == nil {
		recs = []csr.CSRRecord{}
	}
	writeJSON(w, http.StatusOK, recs)
}

func (s *Server) getCSR(w http.ResponseWriter, r *http.Request, _ *principal) {
	rec, err := s.workshop.CSR(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (s *Server) newCSR(w http.ResponseWriter, r *http.Request, p *principal) {
	var req csr.CSRRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Renews != "" {
		// A renewal takes the certificate's own subject: POST
		// /api/v1/certs/{id}/renew.
		writeError(w, apiErr(http.StatusBadRequest, "renews", req.Renews, "empty", "renew a certificate with POST /api/v1/certs/"+req.Renews+"/renew"))
		return
	}
	rec, err := s.workshop.NewCSR(req)
	if err != nil {
		_ = s.st.Audit(store.Event{Actor: p.Actor, Action: "api.csr.new", Outcome: store.OutcomeFailure, Detail: map[string]string{"common_name": req.Subject.CommonName, "error": firstLine(toAPIError(err).Message)}})
		writeError(w, err)
		return
	}
	_ = s.st.Audit(store.Event{Actor: p.Actor, Action: "api.csr.new", Subject: rec.ID, Outcome: store.OutcomeSuccess, Detail: map[string]string{"common_name": rec.Subject.CommonName}})
	writeJSON(w, http.StatusCreated, rec)
}

// deleteCSR removes a pending CSR and its sealed key; a CSR a certificate
// already matched is refused, as its key is that certificate's key.
func (s *Server) deleteCSR(w http.ResponseWriter, r *http.Request, p *principal) {
	id := r.PathValue("id")
	rec, err := s.workshop.DeleteCSR(id)
	if err != nil {
		_ = s.st.Audit(store.Event{Actor: p.Actor, Action: "api.csr.delete", Subject: id, Outcome: store.OutcomeFailure, Detail: map[string]string{"error": firstLine(toAPIError(err).Message)}})
		writeError(w, err)
		return
	}
	_ = s.st.Audit(store.Event{Actor: p.Actor, Action: "api.csr.delete", Subject: id, Outcome: store.OutcomeSuccess, Detail: map[string]string{"common_name": rec.Subject.CommonName}})
	writeJSON(w, http.StatusOK, rec)
}
