package rcs

import (
	"net/http"
	"strconv"

	"github.com/amtrcs/amtrcs/store"
)

// BackupContentType is the media type of GET /api/v1/backup: a bbolt
// database file, the store as one read transaction saw it.
const BackupContentType = "application/vnd.amtrcs.store"

// backup streams a consistent copy of the store while the server runs.
// Activations go on: the copy is one read transaction, so it holds every
// commit before it began and none after. The copy holds secrets sealed
// under the KEK, never the KEK; it is audited like a password read, since
// with the KEK it opens every device's password.
func (s *Server) backup(w http.ResponseWriter, r *http.Request, p *principal) {
	h := w.Header()
	h.Set("Content-Type", BackupContentType)
	h.Set("Content-Disposition", `attachment; filename="amtrcs-`+s.now().UTC().Format("20060102T150405Z")+`.db"`)
	h.Set("Cache-Control", "no-store")
	started := false
	n, err := s.st.WriteBackup(w, func(size int64) {
		started = true
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
	})
	if err != nil && !started {
		// Refused before the copy began (a PostgreSQL store, whose
		// backup is pg_dump's): the client gets the refusal, not an
		// empty copy.
		h.Del("Content-Disposition")
		writeError(w, err)
	}
	ev := store.Event{Actor: p.Actor, Action: "store.backup", Subject: "store", Outcome: store.OutcomeSuccess, Detail: map[string]string{"bytes": strconv.FormatInt(n, 10)}}
	if err != nil {
		// Once the status is sent, the client sees fewer bytes than
		// Content-Length announced and refuses the copy.
		ev.Outcome = store.OutcomeFailure
		ev.Detail["error"] = err.Error()
		s.log.Warn("backup cut short", "actor", p.Actor, "bytes", n, "err", err)
	}
	if aerr := s.st.Audit(ev); aerr != nil {
		s.log.Warn("audit backup", "err", aerr)
	}
}
