package rcs

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs/jobs"
	"github.com/amtrcs/amtrcs/store"
)

// Version is reported by the health endpoint.
const Version = "amtrcs/1"

// Handler is the API: every endpoint, including the agent gateway's.
func (s *Server) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /api/v1/health", s.health)
	m.HandleFunc("GET /api/v1/devices", s.requireAdmin(s.listDevices))
	m.HandleFunc("GET /api/v1/devices/{id}", s.requireAdmin(s.showDevice))
	m.HandleFunc("POST /api/v1/devices/{id}/activate", s.requireAdmin(s.activateDevice))
	m.HandleFunc("POST /api/v1/devices/{id}/deactivate", s.requireAdmin(s.deactivateDevice))
	m.HandleFunc("POST /api/v1/devices/{id}/accept", s.requireAdmin(s.acceptDevice))
	m.HandleFunc("GET /api/v1/devices/{id}/password", s.requireAdmin(s.devicePassword))
	m.HandleFunc("POST /api/v1/devices/{id}/forget", s.requireAdmin(s.forgetDevice))
	m.HandleFunc("GET /api/v1/profiles", s.requireAdmin(s.listProfiles))
	m.HandleFunc("POST /api/v1/profiles", s.requireAdmin(s.putProfile(true)))
	m.HandleFunc("GET /api/v1/profiles/{name}", s.requireAdmin(s.getProfile))
	m.HandleFunc("PUT /api/v1/profiles/{name}", s.requireAdmin(s.putProfile(false)))
	m.HandleFunc("DELETE /api/v1/profiles/{name}", s.requireAdmin(s.deleteProfile))
	m.HandleFunc("GET /api/v1/domains", s.requireAdmin(s.listDomains))
	m.HandleFunc("POST /api/v1/domains", s.requireAdmin(s.putDomain(true)))
	m.HandleFunc("GET /api/v1/domains/{name}", s.requireAdmin(s.getDomain))
	m.HandleFunc("PUT /api/v1/domains/{name}", s.requireAdmin(s.putDomain(false)))
	m.HandleFunc("DELETE /api/v1/domains/{name}", s.requireAdmin(s.deleteDomain))
	m.HandleFunc("GET /api/v1/certs", s.requireAdmin(s.listCerts))
	m.HandleFunc("POST /api/v1/certs", s.requireAdmin(s.importCert))
	m.HandleFunc("GET /api/v1/certs/{id}/check", s.requireAdmin(s.checkCert))
	m.HandleFunc("POST /api/v1/certs/{id}/renew", s.requireAdmin(s.renewCert))
	m.HandleFunc("GET /api/v1/csrs", s.requireAdmin(s.listCSRs))
	m.HandleFunc("POST /api/v1/csrs", s.requireAdmin(s.newCSR))
	m.HandleFunc("GET /api/v1/csrs/{id}", s.requireAdmin(s.getCSR))
	m.HandleFunc("DELETE /api/v1/csrs/{id}", s.requireAdmin(s.deleteCSR))
	m.HandleFunc("GET /api/v1/jobs", s.requireAdmin(s.listJobs))
	m.HandleFunc("GET /api/v1/jobs/{id}", s.requireAdmin(s.getJob))
	m.HandleFunc("GET /api/v1/audit", s.requireAdmin(s.audit))
	m.HandleFunc("GET /api/v1/backup", s.requireAdmin(s.backup))
	m.HandleFunc("GET /api/v1/agents", s.requireAdmin(s.listAgents))
	m.HandleFunc("POST /api/v1/agents/tokens", s.requireAdmin(s.createEnrollToken))
	m.HandleFunc("GET /api/v1/agents/tokens", s.requireAdmin(s.listEnrollTokens))
	m.HandleFunc("POST /api/v1/agents/tokens/{id}/revoke", s.requireAdmin(s.revokeEnrollToken))
	m.HandleFunc("POST /api/v1/agents/{id}/revoke", s.requireAdmin(s.revokeAgentAPI))
	m.HandleFunc("POST /api/v1/agents/{id}/rebind", s.requireAdmin(s.rebindAgent))
	m.HandleFunc("POST "+wire.EnrollPath, s.gw.handleEnroll)
	m.HandleFunc("GET "+wire.ConnectPath, s.gw.handleConnect)
	s.maint.RegisterRoutes(m)
	s.webRoutes(m)
	m.HandleFunc("GET /api/v1/reports/dns", s.requireAdmin(s.dnsCheck))
	m.HandleFunc("GET /metrics", s.requireAdmin(s.serveMetricsAPI))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if wantsDashboard(r) {
			http.Redirect(w, r, webPath, http.StatusSeeOther)
			return
		}
		writeError(w, apiErr(http.StatusNotFound, "endpoint", r.Method+" "+r.URL.Path, "an endpoint under /api/v1", "see the README's Server and agents section"))
	})
	return m
}

// gatewayHandler serves only the agents' endpoints, on the agent gateway
// listener.
func (s *Server) gatewayHandler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /api/v1/health", s.health)
	m.HandleFunc("POST "+wire.EnrollPath, s.gw.handleEnroll)
	m.HandleFunc("GET "+wire.ConnectPath, s.gw.handleConnect)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, apiErr(http.StatusNotFound, "endpoint", r.Method+" "+r.URL.Path, "the agent endpoints "+wire.EnrollPath+" and "+wire.ConnectPath, "call the REST API on the server.api listener"))
	})
	return m
}

// health answers liveness to anyone; the version and the agent count,
// which help whoever maps the fleet, only to an admin.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{"status": "ok"}
	if r.Header.Get("Authorization") != "" || (r.TLS != nil && len(r.TLS.VerifiedChains) > 0) {
		if p, err := s.authenticate(r); err == nil && p.Kind == kindAdmin {
			out["version"], out["agents"] = Version, s.gw.count()
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *gateway) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

// resolveDevice finds a device by UUID, host name or FQDN.
func (s *Server) resolveDevice(ref string) (DeviceRecord, error) {
	if u, err := amt.ParseUUID(ref); err == nil {
		return s.device(u.String())
	}
	ds, err := s.Devices()
	if err != nil {
		return DeviceRecord{}, err
	}
	for _, d := range ds {
		if strings.EqualFold(d.Hostname, ref) || strings.EqualFold(d.FQDN, ref) {
			return d, nil
		}
	}
	return DeviceRecord{}, apiErr(http.StatusNotFound, "device", fmt.Sprintf("%q is no known UUID, host name or FQDN", ref), "a device that reported to this server", "list devices with amtrcs device list")
}

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request, _ *principal) {
	pg, err := parsePage(r, DefaultPageSize)
	if err != nil {
		writeError(w, err)
		return
	}
	ds, err := s.Devices()
	if err != nil {
		writeError(w, err)
		return
	}
	ds, next := pageOf(ds, func(d DeviceRecord) string { return d.ID }, pg)
	if ds == nil {
		ds = []DeviceRecord{}
	}
	setNext(w, r, next)
	writeJSON(w, http.StatusOK, ds)
}

// DeviceDetail is the answer of GET /api/v1/devices/{id}.
type DeviceDetail struct {
	Device  DeviceRecord          `json:"device"`
	Session *provisioning.Session `json:"session,omitempty"`
	// Enforce is what the last enforce task found: each profile setting
	// that differed, with what was seen and wanted, and whether it was
	// set back.
	Enforce *provisioning.EnforceState `json:"enforce,omitempty"`
	Jobs    []Job                      `json:"jobs"`
	Audit   []store.Event              `json:"audit"`
}

func (s *Server) showDevice(w http.ResponseWriter, r *http.Request, _ *principal) {
	d, err := s.resolveDevice(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	out := DeviceDetail{Device: d, Jobs: []Job{}}
	if sess, err := s.eng.GetSession(d.ID); err == nil {
		// The session's profile copy holds no password (its JSON drops them).
		out.Session = &sess
	}
	if st, err := s.eng.State(d.ID); err == nil {
		out.Enforce = st.Enforce
	}
	jobs, err := s.jobList()
	if err != nil {
		writeError(w, err)
		return
	}
	for _, j := range jobs {
		if j.Device == d.ID {
			out.Jobs = append(out.Jobs, j)
		}
	}
	slices.SortFunc(out.Jobs, func(a, b Job) int { return a.Created.Compare(b.Created) })
	if out.Audit, err = s.st.AuditLog(store.AuditFilter{Subject: d.ID, Limit: 200}); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

type activateRequest struct {
	Profile string `json:"profile,omitempty"`
}

func (s *Server) activateDevice(w http.ResponseWriter, r *http.Request, p *principal) {
	var req activateRequest
	if r.ContentLength != 0 {
		if err := readJSON(w, r, &req); err != nil {
			writeError(w, err)
			return
		}
	}
	s.deviceJob(w, r, p, JobActivate, req.Profile, provisioning.DeactivateOptions{})
}

// DeactivateRequest is the optional body of POST
// /api/v1/devices/{id}/deactivate.
type DeactivateRequest struct {
	// Partial asks for a partial unprovision (ACM only): the firmware
	// keeps its admin account, host and domain name.
	Partial bool `json:"partial,omitempty"`
}

func (s *Server) deactivateDevice(w http.ResponseWriter, r *http.Request, p *principal) {
	var req DeactivateRequest
	if r.ContentLength != 0 {
		if err := readJSON(w, r, &req); err != nil {
			writeError(w, err)
			return
		}
	}
	s.deviceJob(w, r, p, JobDeactivate, "", provisioning.DeactivateOptions{Partial: req.Partial})
}

func (s *Server) deviceJob(w http.ResponseWriter, r *http.Request, p *principal, kind, profile string, deact provisioning.DeactivateOptions) {
	d, err := s.resolveDevice(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	j, err := s.startDeviceJob(d.ID, kind, profile, p.Actor, deact)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, j)
}

// forgetDevice drops the session, maintenance state and sealed passwords
// of a device unprovisioned out of band, so that it can be activated again.
// The agent bound to it stays bound.
func (s *Server) forgetDevice(w http.ResponseWriter, r *http.Request, p *principal) {
	d, err := s.resolveDevice(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.jobs.idle(d.ID); err != nil {
		writeError(w, err)
		return
	}
	if err := s.eng.Forget(d.ID, p.Actor); err != nil {
		writeError(w, err)
		return
	}
	err = s.updateDevice(d.ID, func(d *DeviceRecord) {
		d.State, d.Path, d.CertID, d.AdminSecret, d.Profile = StateDiscovered, "", "", "", ""
		d.Error, d.Rule, d.Fix = "", "", ""
	})
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := s.device(d.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// DevicePassword is the answer of GET /api/v1/devices/{id}/password.
type DevicePassword struct {
	Device   string `json:"device"`
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) devicePassword(w http.ResponseWriter, r *http.Request, p *principal) {
	d, err := s.resolveDevice(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if !p.ByToken {
		_ = s.st.Audit(store.Event{Actor: p.Actor, Action: "device.password.read", Subject: d.ID, Outcome: store.OutcomeDenied})
		writeError(w, apiErr(http.StatusForbidden, "password disclosure", "a client certificate", "an admin bearer token", "ask with the admin token (amtrcs device show --show-password uses it)"))
		return
	}
	pw, err := s.eng.AdminPassword(d.ID)
	if err != nil {
		_ = s.st.Audit(store.Event{Actor: p.Actor, Action: "device.password.read", Subject: d.ID, Outcome: store.OutcomeFailure, Detail: map[string]string{"secret_name": provisioning.AdminSecretName(d.ID)}})
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, apiErr(http.StatusNotFound, "device password", "the store holds no admin password for "+d.ID, "a device this server provisioned", "activate the device first"))
			return
		}
		writeError(w, err)
		return
	}
	if err := s.st.Audit(store.Event{Actor: p.Actor, Action: "device.password.read", Subject: d.ID, Outcome: store.OutcomeSuccess, Detail: map[string]string{"secret_name": provisioning.AdminSecretName(d.ID)}}); err != nil {
		// No audit record, no disclosure.
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, DevicePassword{Device: d.ID, Username: amt.AdminUser, Password: pw})
}

// profileRequest is a profile as the API takes it: static passwords travel
// in these write-only fields and are sealed at once.
type profileRequest struct {
	provisioning.Profile
	AdminPasswordValue string `json:"admin_password_value,omitempty"`
	MEBxPasswordValue  string `json:"mebx_password_value,omitempty"`
}

func (s *Server) listProfiles(w http.ResponseWriter, _ *http.Request, _ *principal) {
	ps, err := provisioning.ListProfiles(s.st)
	if err != nil {
		writeError(w, err)
		return
	}
	if ps == nil {
		ps = []provisioning.Profile{}
	}
	writeJSON(w, http.StatusOK, ps)
}

func (s *Server) getProfile(w http.ResponseWriter, r *http.Request, _ *principal) {
	p, err := provisioning.GetProfile(s.st, r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	p.AdminPasswordStatic, p.MEBxPasswordStatic = "", ""
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) putProfile(create bool) func(http.ResponseWriter, *http.Request, *principal) {
	return func(w http.ResponseWriter, r *http.Request, pr *principal) {
		var req profileRequest
		if err := readJSON(w, r, &req); err != nil {
			writeError(w, err)
			return
		}
		p := req.Profile
		if !create {
			if name := r.PathValue("name"); p.Name == "" {
				p.Name = name
			} else if p.Name != name {
				writeError(w, apiErr(http.StatusBadRequest, "profile name", fmt.Sprintf("%q in the body, %q in the path", p.Name, name), "the same name", "rename by creating the new profile and deleting the old"))
				return
			}
		}
		if err := checkName("profile", p.Name); err != nil {
			writeError(w, err)
			return
		}
		p.AdminPasswordStatic, p.MEBxPasswordStatic = req.AdminPasswordValue, req.MEBxPasswordValue
		if create {
			if ok, err := s.exists(store.Profiles, p.Name); err != nil || ok {
				if err == nil {
					err = apiErr(http.StatusConflict, "profile exists", fmt.Sprintf("%q", p.Name), "a new name", "use PUT /api/v1/profiles/"+p.Name+" to replace it")
				}
				writeError(w, err)
				return
			}
		}
		if err := p.Validate(); err != nil {
			writeError(w, validationError(err))
			return
		}
		if err := provisioning.PutProfile(s.st, p); err != nil {
			writeError(w, err)
			return
		}
		_ = s.st.Audit(store.Event{Actor: pr.Actor, Action: "api.profile.put", Subject: p.Name, Outcome: store.OutcomeSuccess})
		p.AdminPasswordStatic, p.MEBxPasswordStatic = "", ""
		status := http.StatusOK
		if create {
			status = http.StatusCreated
		}
		writeJSON(w, status, p)
	}
}

// validationError turns joined reasons into one 422 naming the first.
func validationError(err error) error {
	ae := toAPIError(err)
	if ae.Status == http.StatusInternalServerError {
		ae.Status, ae.Rule = http.StatusUnprocessableEntity, "validation"
	}
	return ae
}

func (s *Server) deleteProfile(w http.ResponseWriter, r *http.Request, p *principal) {
	name := r.PathValue("name")
	ds, err := store.List[Domain](s.st, store.Domains)
	if err != nil {
		writeError(w, err)
		return
	}
	for _, d := range ds {
		if d.Profile == name {
			writeError(w, apiErr(http.StatusConflict, "profile in use", fmt.Sprintf("domain %q uses profile %q", d.Name, name), "no domain naming it", "point the domain at another profile first"))
			return
		}
	}
	if err := provisioning.DeleteProfile(s.st, name); err != nil {
		writeError(w, err)
		return
	}
	_ = s.st.Audit(store.Event{Actor: p.Actor, Action: "api.profile.delete", Subject: name, Outcome: store.OutcomeSuccess})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listDomains(w http.ResponseWriter, _ *http.Request, _ *principal) {
	ds, err := store.List[Domain](s.st, store.Domains)
	if err != nil {
		writeError(w, err)
		return
	}
	if ds == nil {
		ds = []Domain{}
	}
	writeJSON(w, http.StatusOK, ds)
}

func (s *Server) getDomain(w http.ResponseWriter, r *http.Request, _ *principal) {
	var d Domain
	if err := s.st.Get(store.Domains, r.PathValue("name"), &d); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) putDomain(create bool) func(http.ResponseWriter, *http.Request, *principal) {
	return func(w http.ResponseWriter, r *http.Request, p *principal) {
		var d Domain
		if err := readJSON(w, r, &d); err != nil {
			writeError(w, err)
			return
		}
		if !create {
			if name := r.PathValue("name"); d.Name == "" {
				d.Name = name
			} else if d.Name != name {
				writeError(w, apiErr(http.StatusBadRequest, "domain name", fmt.Sprintf("%q in the body, %q in the path", d.Name, name), "the same name", "send the path's name in the body, or none"))
				return
			}
		}
		if err := checkName("domain", d.Name); err != nil {
			writeError(w, err)
			return
		}
		d.Updated = s.now()
		err := s.st.Update(func(tx *store.Tx) error {
			if create {
				if ok, err := tx.Exists(store.Domains, d.Name); err != nil || ok {
					if err == nil {
						err = apiErr(http.StatusConflict, "domain exists", fmt.Sprintf("%q", d.Name), "a new name", "use PUT /api/v1/domains/"+d.Name+" to replace it")
					}
					return err
				}
			}
			if err := s.validateDomain(tx, &d); err != nil {
				return err
			}
			if err := tx.Put(store.Domains, d.Name, d); err != nil {
				return err
			}
			return tx.Audit(store.Event{Actor: p.Actor, Action: "api.domain.put", Subject: d.Name, Outcome: store.OutcomeSuccess, Detail: map[string]string{"cert_id": d.CertID, "suffixes": strings.Join(d.Suffixes, ",")}})
		})
		if err != nil {
			writeError(w, err)
			return
		}
		status := http.StatusOK
		if create {
			status = http.StatusCreated
		}
		writeJSON(w, status, d)
	}
}

func (s *Server) deleteDomain(w http.ResponseWriter, r *http.Request, p *principal) {
	name := r.PathValue("name")
	err := s.st.Update(func(tx *store.Tx) error {
		if err := tx.Delete(store.Domains, name); err != nil {
			return err
		}
		return tx.Audit(store.Event{Actor: p.Actor, Action: "api.domain.delete", Subject: name, Outcome: store.OutcomeSuccess})
	})
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, _ *principal) {
	pg, err := parsePage(r, DefaultPageSize)
	if err != nil {
		writeError(w, err)
		return
	}
	jobs, err := s.jobList()
	if err != nil {
		writeError(w, err)
		return
	}
	dev, status := r.URL.Query().Get("device"), r.URL.Query().Get("status")
	out := []Job{}
	for _, j := range jobs {
		if (dev == "" || j.Device == dev) && (status == "" || j.Status == status) {
			out = append(out, j)
		}
	}
	// Oldest first; the key makes the order total.
	out, next := pageOf(out, func(j Job) string { return fmt.Sprintf("%020d/%s", j.Created.UnixNano(), j.ID) }, pg)
	setNext(w, r, next)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request, _ *principal) {
	id := r.PathValue("id")
	if strings.HasPrefix(id, jobs.KeyPrefix) {
		// A maintenance job is the scheduler's record: its state, next
		// run, attempts and notes, which the activation job's type lacks.
		var rec jobs.Record
		if err := s.st.Get(store.MaintJobs, id, &rec); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, rec)
		return
	}
	j, err := s.Job(id)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request, _ *principal) {
	q := r.URL.Query()
	pg, err := parsePage(r, 100)
	if err != nil {
		writeError(w, err)
		return
	}
	f := store.AuditFilter{Subject: q.Get("subject"), Action: q.Get("action"), Actor: q.Get("actor"), Limit: pg.limit}
	if pg.cursor != "" {
		if f.BeforeSeq, err = strconv.ParseUint(pg.cursor, 10, 64); err != nil {
			writeError(w, apiErr(http.StatusBadRequest, "page cursor", fmt.Sprintf("%q", pg.cursor), "the cursor of the previous page's Link header", "follow the Link header, or start without a cursor"))
			return
		}
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, apiErr(http.StatusBadRequest, "since", fmt.Sprintf("%q", v), "an RFC 3339 time", "write for example 2026-01-02T15:04:05Z"))
			return
		}
		f.Since = t
	}
	ev, err := s.st.AuditLog(f)
	if err != nil {
		writeError(w, err)
		return
	}
	if ev == nil {
		ev = []store.Event{}
	}
	if len(ev) == f.Limit {
		setNext(w, r, strconv.FormatUint(ev[len(ev)-1].Seq, 10))
	}
	writeJSON(w, http.StatusOK, ev)
}

// TokenRequest is the body of POST /api/v1/agents/tokens: how long the
// token may wait for its agent (default 24h, at most 720h).
type TokenRequest struct {
	TTL string `json:"ttl,omitempty"`
}

// EnrollToken is the answer of POST /api/v1/agents/tokens: the only time
// the token is shown.
type EnrollToken struct {
	ID      string    `json:"id"`
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

func (s *Server) createEnrollToken(w http.ResponseWriter, r *http.Request, p *principal) {
	var req TokenRequest
	if r.ContentLength != 0 {
		if err := readJSON(w, r, &req); err != nil {
			writeError(w, err)
			return
		}
	}
	ttl := 24 * time.Hour
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 || d > 30*24*time.Hour {
			writeError(w, apiErr(http.StatusBadRequest, "token ttl", fmt.Sprintf("%q", req.TTL), "a Go duration up to 720h", `write for example "24h"`))
			return
		}
		ttl = d
	}
	tok, id, exp, err := s.NewEnrollToken(p.Actor, ttl)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, EnrollToken{ID: id, Token: tok, Expires: exp})
}
