package rcs

import (
	"bytes"
	"cmp"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs/health"
	"github.com/amtrcs/amtrcs/rcs/jobs"
	"github.com/amtrcs/amtrcs/store"
)

// webList bounds the rows of the jobs and audit pages.
const webList = 200

// healthReport is the health report as the API builds it, from the store
// alone: a page load must not wait for probes of silent devices.
func (u *webUI) healthReport() (health.Report, error) {
	in, err := health.Load(u.s.st)
	if err != nil {
		return health.Report{}, err
	}
	return health.Build(in, u.s.now(), health.PolicyFrom(u.s.cfg.Maintenance)), nil
}

// count is one line of a fleet count.
type count struct {
	Name string
	N    int
}

func counted(m map[string]int) []count {
	out := make([]count, 0, len(m))
	for k, n := range m {
		out = append(out, count{k, n})
	}
	slices.SortFunc(out, func(a, b count) int { return cmp.Or(b.N-a.N, cmp.Compare(a.Name, b.Name)) })
	return out
}

// fleetRow is a device on the fleet page.
type fleetRow struct {
	DeviceRecord
	Health   string
	Problems []health.Problem
}

// countGroup is one table of counts.
type countGroup struct {
	Title string
	Rows  []count
}

type fleetView struct {
	Query   string
	Total   int
	Counts  []countGroup
	Devices []fleetRow
}

func (u *webUI) fleet(w http.ResponseWriter, r *http.Request, ws *webSession) {
	pg := ws.page("Fleet", "fleet")
	ds, err := u.s.Devices()
	if err != nil {
		u.fail(w, pg, err)
		return
	}
	rep, err := u.healthReport()
	if err != nil {
		u.fail(w, pg, err)
		return
	}
	byID := map[string]health.DeviceHealth{}
	for _, h := range rep.Devices {
		byID[h.ID] = h
	}
	v := fleetView{Query: strings.TrimSpace(r.FormValue("q")), Total: len(ds)}
	states, modes, versions, healths := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	q := strings.ToLower(v.Query)
	for _, d := range ds {
		h, ok := byID[d.ID]
		row := fleetRow{DeviceRecord: d, Health: health.StatusOK, Problems: h.Problems}
		if ok {
			row.Health = h.Status
		}
		if d.State == StateFailed {
			row.Health = health.StatusFailing
		}
		states[d.State]++
		modes[cmp.Or(d.ControlMode, "unknown")]++
		major, _, _ := strings.Cut(d.Version, ".")
		versions["AMT "+cmp.Or(major, "unknown")]++
		healths[row.Health]++
		if q == "" || strings.Contains(strings.ToLower(d.Hostname), q) || strings.Contains(strings.ToLower(d.FQDN), q) || strings.Contains(d.ID, q) {
			v.Devices = append(v.Devices, row)
		}
	}
	v.Counts = []countGroup{{"Health", counted(healths)}, {"State", counted(states)}, {"Control mode", counted(modes)}, {"AMT version", counted(versions)}}
	// Failing devices first, then by name.
	slices.SortFunc(v.Devices, func(a, b fleetRow) int {
		failing := func(r fleetRow) int {
			if r.Health == health.StatusFailing {
				return 0
			}
			return 1
		}
		return cmp.Or(cmp.Compare(failing(a), failing(b)), cmp.Compare(a.Hostname, b.Hostname), cmp.Compare(a.ID, b.ID))
	})
	pg.Data = v
	if isHTMX(r) {
		u.renderPart(w, http.StatusOK, "fleet", "devices", pg)
		return
	}
	u.render(w, http.StatusOK, "fleet", pg)
}

// taskRow is a maintenance task of a device and its record.
type taskRow struct {
	Task string
	jobs.Record
	Status string
}

// deviceView is the device page's data.
type deviceView struct {
	DeviceDetail
	// Activations are the activation and deactivation jobs, newest
	// first; maintenance records are in Tasks.
	Activations []Job
	Health      *health.DeviceHealth
	Tasks       []taskRow
	Profiles    []string
	// Running: a job or task runs or waits, so the progress part polls.
	Running bool
}

// deviceView reads a device as GET /api/v1/devices/{id} answers it, its
// maintenance records (one per task of provisioning.DeviceTasks, the list
// the API takes) and its line of the health report.
func (u *webUI) deviceView(r *http.Request, ws *webSession, id string) (deviceView, error) {
	var v deviceView
	if err := u.call(r, ws.principal(), u.s.showDevice, http.MethodGet, "/api/v1/devices/"+id, map[string]string{"id": id}, nil, &v.DeviceDetail); err != nil {
		return v, err
	}
	id = v.Device.ID
	for _, j := range slices.Backward(v.Jobs) {
		if strings.HasPrefix(j.Kind, "maintain/") {
			continue
		}
		v.Activations = append(v.Activations, j)
		if j.Status == JobRunning {
			v.Running = true
		}
	}
	for _, task := range provisioning.DeviceTasks {
		rec, err := u.s.maint.Sched.Get(id, task)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return v, err
		}
		row := taskRow{Task: task, Record: rec, Status: taskStatus(rec)}
		if row.Status == "running" || row.Status == "queued" {
			v.Running = true
		}
		v.Tasks = append(v.Tasks, row)
	}
	return v, nil
}

// taskStatus is a maintenance record's state in a word.
func taskStatus(r jobs.Record) string {
	switch {
	case r.State == jobs.StateRunning:
		return "running"
	case !r.Requested.IsZero():
		return "queued"
	case r.LastRun.IsZero():
		return "never run"
	case r.Error != "" && r.LastOK.Before(r.LastRun):
		return "failed"
	}
	return "done"
}

func (u *webUI) devicePage(w http.ResponseWriter, r *http.Request, ws *webSession) {
	pg := ws.page("Device", "fleet")
	v, err := u.deviceView(r, ws, r.PathValue("id"))
	if err != nil {
		u.fail(w, pg, err)
		return
	}
	rep, err := u.healthReport()
	if err != nil {
		u.fail(w, pg, err)
		return
	}
	for i := range rep.Devices {
		if rep.Devices[i].ID == v.Device.ID {
			v.Health = &rep.Devices[i]
		}
	}
	ps, err := provisioning.ListProfiles(u.s.st)
	if err != nil {
		u.fail(w, pg, err)
		return
	}
	for _, p := range ps {
		v.Profiles = append(v.Profiles, p.Name)
	}
	pg.Title, pg.Data = "Device "+cmp.Or(v.Device.Hostname, v.Device.ID), v
	u.render(w, http.StatusOK, "device", pg)
}

// deviceProgress is the part of the device page that polls while a job
// runs: the jobs and the maintenance tasks.
func (u *webUI) deviceProgress(w http.ResponseWriter, r *http.Request, ws *webSession) {
	pg := ws.page("Device", "fleet")
	v, err := u.deviceView(r, ws, r.PathValue("id"))
	if err != nil {
		u.fail(w, pg, err)
		return
	}
	pg.Data = v
	u.renderPart(w, http.StatusOK, "device", "progress", pg)
}

// deviceAction starts a job on a device through the API's own handler:
// activate (with the chosen profile), deactivate, or a maintenance task.
func (u *webUI) deviceAction(kind string) func(http.ResponseWriter, *http.Request, *webSession) {
	return func(w http.ResponseWriter, r *http.Request, ws *webSession) {
		id := r.PathValue("id")
		vals := map[string]string{"id": id}
		path := "/api/v1/devices/" + id + "/" + kind
		var err error
		switch kind {
		case JobActivate:
			var body any
			if p := r.PostFormValue("profile"); p != "" {
				body = activateRequest{Profile: p}
			}
			err = u.call(r, ws.principal(), u.s.activateDevice, http.MethodPost, path, vals, body, nil)
		case JobDeactivate:
			err = u.call(r, ws.principal(), u.s.deactivateDevice, http.MethodPost, path, vals, nil, nil)
		default:
			err = u.call(r, ws.principal(), u.s.maint.maintain, http.MethodPost, path, vals, maintainRequest{Task: r.PostFormValue("task"), DryRun: r.PostFormValue("dry_run") == "true"}, nil)
		}
		if !isHTMX(r) {
			if err != nil {
				u.fail(w, ws.page("Refused", "fleet"), err)
				return
			}
			http.Redirect(w, r, webPath+"devices/"+id, http.StatusSeeOther)
			return
		}
		pg := ws.page("Device", "fleet")
		v, verr := u.deviceView(r, ws, id)
		if verr != nil {
			u.fail(w, pg, verr)
			return
		}
		status := http.StatusOK
		if err != nil {
			pg.Refusal = toAPIError(err)
			status = pg.Refusal.Status
		}
		pg.Data = v
		u.renderPart(w, status, "device", "progress", pg)
	}
}

// certsView is the certificates page's data.
type certsView struct {
	Certs []certRow
	// CA says whether an internal CA is configured (its bundle can be
	// downloaded).
	CA bool
}

// certRow is a certificate or CSR as GET /api/v1/certs lists it, with its
// renewal state: the health report's judgement of its expiry, and the
// pending CSR that renews it.
type certRow struct {
	certView
	Expiry       *provisioning.CertExpiry
	RenewedByCSR string
}

func (u *webUI) certsPage(w http.ResponseWriter, r *http.Request, ws *webSession) {
	pg := ws.page("Certificates", "certs")
	var list []certView
	if err := u.call(r, ws.principal(), u.s.listCerts, http.MethodGet, "/api/v1/certs", nil, nil, &list); err != nil {
		u.fail(w, pg, err)
		return
	}
	rep, err := u.healthReport()
	if err != nil {
		u.fail(w, pg, err)
		return
	}
	v := certsView{CA: u.s.eng.TLSIssuer() != nil}
	for _, c := range list {
		row := certRow{certView: c}
		for i, x := range rep.ProvisioningCerts {
			if x.ID == c.ID {
				row.Expiry = &rep.ProvisioningCerts[i]
			}
		}
		for _, o := range list {
			if o.Renews == c.ID && o.Kind != c.Kind {
				row.RenewedByCSR = o.ID
			}
		}
		v.Certs = append(v.Certs, row)
	}
	pg.Data = v
	u.render(w, http.StatusOK, "certs", pg)
}

// caBundle is the internal CA's console PEM: the root first, then the
// intermediates, as `amtrcs pki bundle` writes it.
func (u *webUI) caBundle(w http.ResponseWriter, _ *http.Request, ws *webSession) {
	iss := u.s.eng.TLSIssuer()
	if iss == nil {
		u.fail(w, ws.page("Certificates", "certs"), apiErr(http.StatusNotFound, "internal CA", "no internal CA is configured", "a server started with its CA (amtrcs serve)", "configure the ca block, or use amtrcs pki bundle"))
		return
	}
	var pemBytes []byte
	if b, ok := iss.(interface{ Bundle() []byte }); ok {
		pemBytes = b.Bundle()
	} else {
		var b bytes.Buffer
		for _, c := range iss.Roots() {
			_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
		pemBytes = b.Bytes()
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="amtrcs-ca.pem"`)
	_, _ = w.Write(pemBytes)
}

// domainsView is the domains page's data: the list and the form.
type domainsView struct {
	Domains  []Domain
	Certs    []certView
	Profiles []string
	// Form is the domain being edited; Original is its stored name ("" for
	// a new one).
	Form     domainForm
	Original string
	Editing  bool
}

// domainForm is a domain as the form shows it: lists as text.
type domainForm struct {
	Name, Suffixes, CertID, Profile, AllowedProfiles, MEBxSuffix string
}

func formOf(d Domain) domainForm {
	return domainForm{Name: d.Name, Suffixes: strings.Join(d.Suffixes, ", "), CertID: d.CertID, Profile: d.Profile,
		AllowedProfiles: strings.Join(d.AllowedProfiles, ", "), MEBxSuffix: d.MEBxSuffix}
}

// words splits a list typed as text (commas or spaces).
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
}

func (u *webUI) domainsView(r *http.Request, ws *webSession) (domainsView, error) {
	var v domainsView
	p := ws.principal()
	if err := u.call(r, p, u.s.listDomains, http.MethodGet, "/api/v1/domains", nil, nil, &v.Domains); err != nil {
		return v, err
	}
	if err := u.call(r, p, u.s.listCerts, http.MethodGet, "/api/v1/certs", nil, nil, &v.Certs); err != nil {
		return v, err
	}
	ps, err := provisioning.ListProfiles(u.s.st)
	for _, p := range ps {
		v.Profiles = append(v.Profiles, p.Name)
	}
	return v, err
}

func (u *webUI) domainsPage(w http.ResponseWriter, r *http.Request, ws *webSession) {
	pg := ws.page("Domains", "domains")
	v, err := u.domainsView(r, ws)
	if err != nil {
		u.fail(w, pg, err)
		return
	}
	if name := r.FormValue("edit"); name != "" {
		for _, d := range v.Domains {
			if d.Name == name {
				v.Form, v.Original, v.Editing = formOf(d), d.Name, true
			}
		}
	}
	v.Editing = v.Editing || r.FormValue("new") != ""
	pg.Data = v
	u.render(w, http.StatusOK, "domains", pg)
}

// saveDomain creates or replaces a domain through the API's handler; a
// refusal is shown with the form as it was sent.
func (u *webUI) saveDomain(w http.ResponseWriter, r *http.Request, ws *webSession) {
	f := domainForm{Name: strings.TrimSpace(r.PostFormValue("name")), Suffixes: r.PostFormValue("suffixes"), CertID: r.PostFormValue("cert_id"),
		Profile: r.PostFormValue("profile"), AllowedProfiles: r.PostFormValue("allowed_profiles"), MEBxSuffix: strings.TrimSpace(r.PostFormValue("mebx_suffix"))}
	d := Domain{Name: f.Name, Suffixes: words(f.Suffixes), CertID: f.CertID, Profile: f.Profile, AllowedProfiles: words(f.AllowedProfiles), MEBxSuffix: f.MEBxSuffix}
	if d.Suffixes == nil {
		d.Suffixes = []string{}
	}
	original := r.PostFormValue("original")
	err := u.put(r, ws, u.s.putDomain, "domains", original, d)
	if err == nil {
		http.Redirect(w, r, webPath+"domains", http.StatusSeeOther)
		return
	}
	pg := ws.page("Domains", "domains")
	v, verr := u.domainsView(r, ws)
	if verr != nil {
		u.fail(w, pg, verr)
		return
	}
	v.Form, v.Original, v.Editing = f, original, true
	pg.Refusal, pg.Data = toAPIError(err), v
	u.render(w, pg.Refusal.Status, "domains", pg)
}

// profilesView is the profiles page's data. A profile is edited as the
// JSON the API takes; passwords go in write-only fields.
type profilesView struct {
	Profiles []provisioning.Profile
	Original string
	JSON     string
	Editing  bool
}

func (u *webUI) profilesPage(w http.ResponseWriter, r *http.Request, ws *webSession) {
	pg := ws.page("Profiles", "profiles")
	var v profilesView
	if err := u.call(r, ws.principal(), u.s.listProfiles, http.MethodGet, "/api/v1/profiles", nil, nil, &v.Profiles); err != nil {
		u.fail(w, pg, err)
		return
	}
	if name := r.FormValue("edit"); name != "" {
		var p provisioning.Profile
		if err := u.call(r, ws.principal(), u.s.getProfile, http.MethodGet, "/api/v1/profiles/"+name, map[string]string{"name": name}, nil, &p); err != nil {
			u.fail(w, pg, err)
			return
		}
		b, _ := json.MarshalIndent(p, "", "  ")
		v.Original, v.JSON, v.Editing = name, string(b), true
	} else if r.FormValue("new") != "" {
		b, _ := json.MarshalIndent(provisioning.DefaultProfile("new-profile"), "", "  ")
		v.JSON, v.Editing = string(b), true
	}
	pg.Data = v
	u.render(w, http.StatusOK, "profiles", pg)
}

// saveProfile sends the edited JSON, with the password fields added, to
// the API's handler.
func (u *webUI) saveProfile(w http.ResponseWriter, r *http.Request, ws *webSession) {
	original, text := r.PostFormValue("original"), r.PostFormValue("profile")
	body := []byte(text)
	// Only a valid object gets the passwords added; anything else goes
	// as it is, for the API's reader to refuse with its reason.
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) == nil && obj != nil {
		for _, field := range []string{"admin_password_value", "mebx_password_value"} {
			if pw := r.PostFormValue(field); pw != "" {
				obj[field], _ = json.Marshal(pw)
			}
		}
		body, _ = json.Marshal(obj)
	}
	err := u.put(r, ws, u.s.putProfile, "profiles", original, body)
	if err == nil {
		http.Redirect(w, r, webPath+"profiles", http.StatusSeeOther)
		return
	}
	pg := ws.page("Profiles", "profiles")
	v := profilesView{Original: original, JSON: text, Editing: true}
	if lerr := u.call(r, ws.principal(), u.s.listProfiles, http.MethodGet, "/api/v1/profiles", nil, nil, &v.Profiles); lerr != nil {
		u.fail(w, pg, lerr)
		return
	}
	pg.Refusal, pg.Data = toAPIError(err), v
	u.render(w, pg.Refusal.Status, "profiles", pg)
}

// jobsView is the jobs page's data.
type jobsView struct {
	Device, Status, Kind string
	Jobs                 []Job
	More                 bool
}

func (u *webUI) jobsPage(w http.ResponseWriter, r *http.Request, ws *webSession) {
	pg := ws.page("Jobs", "jobs")
	v := jobsView{Device: strings.TrimSpace(r.FormValue("device")), Status: r.FormValue("status"), Kind: strings.TrimSpace(r.FormValue("kind"))}
	all, err := u.s.jobList()
	if err != nil {
		u.fail(w, pg, err)
		return
	}
	for _, j := range all {
		if (v.Device == "" || j.Device == v.Device) && (v.Status == "" || j.Status == v.Status) && (v.Kind == "" || strings.Contains(j.Kind, v.Kind)) {
			v.Jobs = append(v.Jobs, j)
		}
	}
	slices.SortFunc(v.Jobs, func(a, b Job) int { return cmp.Or(b.Created.Compare(a.Created), cmp.Compare(a.ID, b.ID)) })
	if len(v.Jobs) > webList {
		v.Jobs, v.More = v.Jobs[:webList], true
	}
	pg.Data = v
	u.render(w, http.StatusOK, "jobs", pg)
}

// auditView is the audit page's data.
type auditView struct {
	Subject, Actor, Action, Since string
	Events                        []store.Event
	More                          bool
}

func (u *webUI) auditPage(w http.ResponseWriter, r *http.Request, ws *webSession) {
	pg := ws.page("Audit", "audit")
	v := auditView{Subject: strings.TrimSpace(r.FormValue("subject")), Actor: strings.TrimSpace(r.FormValue("actor")),
		Action: strings.TrimSpace(r.FormValue("action")), Since: strings.TrimSpace(r.FormValue("since"))}
	q := url.Values{"limit": {fmt.Sprint(webList + 1)}}
	for k, val := range map[string]string{"subject": v.Subject, "actor": v.Actor, "action": v.Action, "since": v.Since} {
		if val != "" {
			q.Set(k, val)
		}
	}
	var ev []store.Event
	if err := u.call(r, ws.principal(), u.s.audit, http.MethodGet, "/api/v1/audit?"+q.Encode(), nil, nil, &ev); err != nil {
		pg.Refusal, pg.Data = toAPIError(err), v
		u.render(w, pg.Refusal.Status, "audit", pg)
		return
	}
	if len(ev) > webList {
		ev, v.More = ev[:webList], true
	}
	v.Events, pg.Data = ev, v
	u.render(w, http.StatusOK, "audit", pg)
}

// fail shows a refusal, or an error as the API would map it, as a page.
func (u *webUI) fail(w http.ResponseWriter, pg webPage, err error) {
	ae := toAPIError(err)
	if ae.Status >= 500 {
		u.s.log.Error("dashboard", "err", err)
	}
	pg.Refusal = ae
	if pg.Title == "" {
		pg.Title = "Refused"
	}
	u.render(w, ae.Status, "error", pg)
}

// put creates (original empty) or replaces (original, the name the form
// was opened with) a domain or profile through the API's own handler.
func (u *webUI) put(r *http.Request, ws *webSession, handler func(create bool) func(http.ResponseWriter, *http.Request, *principal), collection, original string, body any) error {
	if original == "" {
		return u.call(r, ws.principal(), handler(true), http.MethodPost, "/api/v1/"+collection, nil, body, nil)
	}
	return u.call(r, ws.principal(), handler(false), http.MethodPut, "/api/v1/"+collection+"/"+original, map[string]string{"name": original}, body, nil)
}
