package rcs

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/store"
)

// maxCertBody bounds an uploaded delivery: one file of csr.MaxFileSize in
// base64, in JSON, with room for the other fields.
const maxCertBody = csr.MaxFileSize*4/3 + 64<<10

// certView is a row of GET /api/v1/certs: the workshop's entry and the
// domains whose devices the certificate provisions. It holds no key.
type certView struct {
	csr.Entry
	Domains  []string `json:"domains,omitempty"`
	Suffixes []string `json:"suffixes,omitempty"`
}

func (s *Server) listCerts(w http.ResponseWriter, _ *http.Request, _ *principal) {
	es, err := s.workshop.List()
	if err != nil {
		writeError(w, err)
		return
	}
	ds, err := store.List[Domain](s.st, store.Domains)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]certView, 0, len(es))
	for _, e := range es {
		v := certView{Entry: e}
		for _, d := range ds {
			if d.CertID == e.ID {
				v.Domains = append(v.Domains, d.Name)
				v.Suffixes = append(v.Suffixes, d.Suffixes...)
			}
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

// CertImportRequest is the JSON body of POST /api/v1/certs. Data of each
// file is base64 (JSON's form of bytes). Password opens a PFX; it is never
// logged, audited or sent back.
type CertImportRequest struct {
	Files          []csr.DeliveryFile `json:"files"`
	Password       string             `json:"password,omitempty"`
	Force          bool               `json:"force,omitempty"`
	DeviceSuffixes []string           `json:"device_suffixes,omitempty"`
	AMTVersions    []string           `json:"amt_versions,omitempty"`
	TrustHashes    []string           `json:"trust_hashes,omitempty"`
}

// certImportResponse is what was stored, with the report that allowed it.
type certImportResponse struct {
	Cert     *csr.ProvisioningCert `json:"certificate"`
	Report   csr.Report            `json:"report"`
	CSRID    string                `json:"csr_id,omitempty"`
	RootFrom string                `json:"root_from,omitempty"`
}

// readCertImport reads the body as JSON, or as multipart/form-data with
// the fields file (repeatable), password, force, device_suffix,
// amt_version and trust_hash (repeatable).
func readCertImport(w http.ResponseWriter, r *http.Request) (CertImportRequest, error) {
	var req CertImportRequest
	r.Body = http.MaxBytesReader(w, r.Body, maxCertBody)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return req, apiErr(http.StatusRequestEntityTooLarge, "request body size", err.Error(), fmt.Sprintf("at most %d bytes", maxCertBody), "send the certificate files the vendor sent, not a larger archive")
		}
		return req, decodeJSON(data, &req)
	}
	if err := r.ParseMultipartForm(maxCertBody); err != nil {
		return req, apiErr(http.StatusBadRequest, "multipart body", err.Error(), fmt.Sprintf("a multipart/form-data body of at most %d bytes", maxCertBody), "send the files as file fields, the PFX password as the password field")
	}
	f := r.MultipartForm
	for _, fh := range f.File["file"] {
		rd, err := fh.Open()
		if err != nil {
			return req, err
		}
		data, err := io.ReadAll(rd)
		rd.Close()
		if err != nil {
			return req, err
		}
		req.Files = append(req.Files, csr.DeliveryFile{Name: fh.Filename, Data: data})
	}
	first := func(k string) string {
		if v := f.Value[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	req.Password = first("password")
	req.Force, _ = strconv.ParseBool(first("force"))
	req.DeviceSuffixes, req.AMTVersions, req.TrustHashes = f.Value["device_suffix"], f.Value["amt_version"], f.Value["trust_hash"]
	return req, nil
}

func (s *Server) importCert(w http.ResponseWriter, r *http.Request, p *principal) {
	req, err := readCertImport(w, r)
	if err == nil && len(req.Files) == 0 {
		err = apiErr(http.StatusBadRequest, "delivery files", "none", "at least one file", "send the vendor's files in files (JSON) or file fields (multipart)")
	}
	var res *csr.ImportResult
	if err == nil {
		res, err = s.importDelivery(req)
	}
	if err != nil {
		// The password is in neither err nor the event.
		_ = s.st.Audit(store.Event{Actor: p.Actor, Action: "api.cert.import", Outcome: store.OutcomeFailure, Detail: map[string]string{"error": firstLine(toAPIError(err).Message)}})
		writeError(w, err)
		return
	}
	_ = s.st.Audit(store.Event{Actor: p.Actor, Action: "api.cert.import", Subject: res.Cert.ID, Outcome: store.OutcomeSuccess, Detail: map[string]string{"common_name": res.Cert.CommonName}})
	out := certImportResponse{Cert: res.Cert, Report: res.Report, RootFrom: res.Chain.RootFrom}
	if res.CSR != nil {
		out.CSRID = res.CSR.ID
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) importDelivery(req CertImportRequest) (*csr.ImportResult, error) {
	opts, err := csr.ParseCheckOptions(s.now(), req.DeviceSuffixes, req.AMTVersions, req.TrustHashes)
	if err != nil {
		return nil, certError(err)
	}
	d, err := csr.DecodeFiles(req.Files, csr.DecodeOptions{Password: req.Password})
	if err != nil {
		return nil, certError(err)
	}
	res, err := s.workshop.Import(d, csr.ImportOptions{Force: req.Force, Check: opts})
	return res, certError(err)
}

// certError gives the workshop's refusals a status: a chain no AMT version
// can use is 422 with its reasons; bad input is 400.
func certError(err error) error {
	var re *csr.RefusedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return apiErr(http.StatusUnprocessableEntity, "usable chain", strings.TrimPrefix(re.Error(), "import refused: "),
			"a chain that at least one AMT version checked can use", "fix the chain as the reasons say, or send force: true to store it anyway")
	case errors.Is(err, csr.ErrUnreadable):
		ae := toAPIError(err)
		ae.Status = http.StatusBadRequest
		return ae
	}
	return err
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func (s *Server) checkCert(w http.ResponseWriter, r *http.Request, _ *principal) {
	id := r.PathValue("id")
	pc, err := s.workshop.Load(id)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	suffixes := q["device-suffix"]
	if len(suffixes) == 0 {
		// By default the certificate is judged for the devices it serves.
		ds, err := store.List[Domain](s.st, store.Domains)
		if err != nil {
			writeError(w, err)
			return
		}
		for _, d := range ds {
			if d.CertID == id {
				suffixes = append(suffixes, d.Suffixes...)
			}
		}
	}
	opts, err := csr.ParseCheckOptions(s.now(), suffixes, q["amt-version"], q["trust-hash"])
	if err != nil {
		writeError(w, certError(err))
		return
	}
	writeJSON(w, http.StatusOK, csr.Check(pc.Chain, opts))
}

func (s *Server) renewCert(w http.ResponseWriter, r *http.Request, p *principal) {
	id := r.PathValue("id")
	rec, err := s.workshop.Renew(id)
	if err != nil {
		writeError(w, certError(err))
		return
	}
	_ = s.st.Audit(store.Event{Actor: p.Actor, Action: "api.cert.renew", Subject: id, Outcome: store.OutcomeSuccess, Detail: map[string]string{"csr_id": rec.ID}})
	writeJSON(w, http.StatusCreated, rec)
}
