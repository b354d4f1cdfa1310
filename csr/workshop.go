package csr

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/dnssuffix"
	"github.com/amtrcs/amtrcs/store"
	"software.sslmate.com/src/go-pkcs12"
)

// Workshop keeps the provisioning certificates of an RCS in its store: it
// makes keys and CSRs, imports deliveries, and hands the RCS a chain and a
// signer for provisioning.
type Workshop struct {
	st    Store
	now   func() time.Time
	actor string
	roots RootSource
}

// WorkshopOptions configure NewWorkshop; the zero value is usable.
type WorkshopOptions struct {
	Now   func() time.Time // nil means time.Now
	Actor string           // recorded in audit events; default "cli"
	Roots RootSource       // completes missing roots; nil means MozillaRoots
}

// Store is what the workshop needs of the store: transactions (the CSR
// records, the sealed keys and their audit events commit together),
// reads, and a sealed key opened on its own. *store.Store is one.
type Store interface {
	Update(fn func(tx *store.Tx) error) error
	View(fn func(tx *store.Tx) error) error
	Get(b store.Bucket, id string, v any) error
	Secret(name string) ([]byte, error)
}

var _ Store = (*store.Store)(nil)

// NewWorkshop works on st.
func NewWorkshop(st Store, opts WorkshopOptions) *Workshop {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Actor == "" {
		opts.Actor = "cli"
	}
	return &Workshop{st: st, now: opts.Now, actor: opts.Actor, roots: opts.Roots}
}

func newID() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// CSRRequest is what NewCSR needs.
type CSRRequest struct {
	Subject Subject `json:"subject"`
	KeyType KeyType `json:"key_type,omitempty"` // empty means RSA2048
	// Suffixes are the devices' DNS suffixes the name must cover.
	Suffixes []string `json:"device_suffixes,omitempty"`
	// Renews is the certificate the new one will supersede.
	Renews string `json:"renews,omitempty"`
}

// CoverageError refuses a name that does not cover every requested device
// suffix. It is a verdict, not bad input: the CLI exits 1 on it.
type CoverageError struct{ Reasons []amt.RuleError }

func (e *CoverageError) Error() string {
	lines := make([]string, len(e.Reasons))
	for i, r := range e.Reasons {
		lines[i] = r.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives every reason to errors.As and amt.AsRefusal.
func (e *CoverageError) Unwrap() []error {
	errs := make([]error, len(e.Reasons))
	for i, r := range e.Reasons {
		errs[i] = r
	}
	return errs
}

// CheckCoverage refuses a certificate name that does not cover each device
// suffix under every AMT profile, with dnssuffix's reason and fix.
func CheckCoverage(name string, suffixes []string) error {
	var reasons []amt.RuleError
	for _, s := range suffixes {
		for _, p := range amt.Profiles() {
			if re := dnssuffix.Match(name, s, p.Version).Refusal(); re != nil {
				reasons = append(reasons, *re)
				break
			}
		}
	}
	if len(reasons) > 0 {
		return &CoverageError{Reasons: reasons}
	}
	return nil
}

// NewCSR makes a key, seals it in the store and records the CSR as pending.
func (w *Workshop) NewCSR(req CSRRequest) (*CSRRecord, error) {
	if req.KeyType == "" {
		req.KeyType = RSA2048
	}
	if err := req.Subject.Validate(); err != nil {
		return nil, err
	}
	if err := CheckCoverage(req.Subject.CommonName, req.Suffixes); err != nil {
		return nil, err
	}
	key, err := GenerateKey(req.KeyType)
	if err != nil {
		return nil, err
	}
	csrPEM, err := CreateRequest(req.Subject, key)
	if err != nil {
		return nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("new CSR: %w", err)
	}
	defer clear(pkcs8)
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("new CSR: %w", err)
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	rec := &CSRRecord{ID: id, Subject: req.Subject, KeyType: req.KeyType, PEM: string(csrPEM), KeyID: keyID(spki),
		Suffixes: req.Suffixes, Status: CSRPending, CreatedAt: w.now().UTC(), Renews: req.Renews}
	err = w.st.Update(func(tx *store.Tx) error {
		if err := tx.PutSecret(keySecretName(id), pkcs8); err != nil {
			return err
		}
		if err := tx.Create(store.CSRs, id, rec); err != nil {
			return err
		}
		detail := map[string]string{"common_name": req.Subject.CommonName, "key_type": string(req.KeyType), "key_secret_name": keySecretName(id)}
		if req.Renews != "" {
			detail["renews"] = req.Renews
		}
		return tx.Audit(store.Event{Actor: w.actor, Action: "csr.new", Subject: id, Outcome: store.OutcomeSuccess, Detail: detail})
	})
	if err != nil {
		return nil, fmt.Errorf("new CSR: %w", err)
	}
	return rec, nil
}

// CSR returns one request.
func (w *Workshop) CSR(id string) (*CSRRecord, error) {
	var rec CSRRecord
	if err := w.st.Get(store.CSRs, id, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// CSRs lists every request, oldest first.
func (w *Workshop) CSRs() ([]CSRRecord, error) {
	recs, err := store.List[CSRRecord](w.st, store.CSRs)
	slices.SortFunc(recs, func(a, b CSRRecord) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return recs, err
}

// ImportOptions steer Import.
type ImportOptions struct {
	// Force stores a chain that no AMT version can use (for a test lab, or
	// a custom hash not yet known to amtrcs).
	Force bool
	// Check is what the chain is judged against.
	Check CheckOptions
}

// ImportResult is what Import stored and why it was allowed.
type ImportResult struct {
	Cert   *ProvisioningCert
	Chain  *Chain
	Report Report
	// CSR is the pending request the certificate completed; nil for a PFX.
	CSR *CSRRecord
}

// RefusedError is an import refused because no requested AMT version can
// use the chain; Report holds every reason.
type RefusedError struct{ Report Report }

func (e *RefusedError) Error() string {
	var lines []string
	seen := map[string]bool{}
	for _, v := range e.Report.Verdicts {
		for _, r := range v.Reasons {
			if l := r.Error(); !seen[l] {
				seen[l] = true
				lines = append(lines, l)
			}
		}
	}
	return "import refused: no AMT version can use this chain (--force stores it anyway):\n  " + strings.Join(lines, "\n  ")
}

// Import stores a delivery as a provisioning certificate. The private key is
// the one of the pending CSR whose public key the leaf holds, or the PFX's
// (sealed here). A chain that no requested AMT version can use is refused
// with the reasons of Check unless opts.Force.
func (w *Workshop) Import(d *Delivery, opts ImportOptions) (res *ImportResult, err error) {
	defer func() {
		if err != nil {
			w.auditFailure("cert.import", "", err)
		}
	}()
	if opts.Check.Now.IsZero() {
		opts.Check.Now = w.now()
	}
	csrs, err := w.CSRs()
	if err != nil {
		return nil, err
	}
	var leafKey crypto.PublicKey
	var match *CSRRecord
	if d.Key != nil {
		leafKey = d.Key.Public()
		// A PFX made elsewhere from one of our CSRs (the key exported and
		// brought back) still completes that CSR.
		if spki, err := x509.MarshalPKIXPublicKey(leafKey); err == nil {
			for i := range csrs {
				if csrs[i].KeyID == keyID(spki) && csrs[i].Status == CSRPending {
					match = &csrs[i]
				}
			}
		}
	} else {
		match, leafKey, err = matchCSR(d.Certificates, csrs)
		if err != nil {
			return nil, err
		}
	}
	chain, err := BuildChain(d.Certificates, ChainOptions{Leaf: leafKey, Roots: w.roots})
	if err != nil {
		return nil, err
	}
	leaf := chain.Leaf()
	certs, err := store.List[ProvisioningCert](w.st, store.ProvCerts)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		if len(c.ChainDER) > 0 && bytes.Equal(c.ChainDER[0], leaf.Raw) {
			return nil, amt.RuleError{Rule: "already imported", Seen: fmt.Sprintf("this certificate is stored as %s", c.ID),
				Want: "a certificate not yet imported", Fix: "use `amtrcs cert list` to see it"}
		}
	}
	report := Check(chain.Certs, opts.Check)
	usable := false
	for _, v := range report.Verdicts {
		usable = usable || v.Usable
	}
	if !usable && !opts.Force {
		return nil, &RefusedError{Report: report}
	}

	id := ""
	if match != nil {
		id = match.ID
	} else if id, err = newID(); err != nil {
		return nil, err
	}
	pc := &ProvisioningCert{ID: id, CommonName: describeName(leaf), NotAfter: leaf.NotAfter.UTC(),
		ImportedAt: w.now().UTC(), Status: StatusActive, KeyID: certKeyID(leaf), Forced: !usable, Sources: d.Sources}
	for _, c := range chain.Certs {
		pc.ChainDER = append(pc.ChainDER, c.Raw)
	}
	pc.Chain = chain.Certs
	if report.Root != nil {
		pc.RootSHA256 = report.Root.SHA256
		pc.RootName = rootName(report.Root, chain.Certs[len(chain.Certs)-1])
	}
	if match != nil {
		pc.CSRID = match.ID
		pc.Renews = match.Renews
	}
	var pkcs8 []byte
	if d.Key != nil {
		if pkcs8, err = x509.MarshalPKCS8PrivateKey(d.Key); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		defer clear(pkcs8)
	}
	err = w.st.Update(func(tx *store.Tx) error {
		if pkcs8 != nil {
			if err := tx.PutSecret(keySecretName(id), pkcs8); err != nil {
				return err
			}
			if err := tx.Audit(store.Event{Actor: w.actor, Action: "cert.key.sealed", Subject: id, Outcome: store.OutcomeSuccess,
				Detail: map[string]string{"key_secret_name": keySecretName(id), "from": "PFX"}}); err != nil {
				return err
			}
		}
		if err := tx.Create(store.ProvCerts, id, pc); err != nil {
			return err
		}
		detail := map[string]string{"common_name": pc.CommonName, "root": pc.RootName, "leaf_sha256": leafSHA256(leaf),
			"not_after": pc.NotAfter.Format(time.RFC3339), "certificates": fmt.Sprint(len(chain.Certs))}
		if chain.RootFrom != "" {
			detail["root_from"] = chain.RootFrom
		}
		if pc.Forced {
			detail["forced"] = "true"
		}
		if err := tx.Audit(store.Event{Actor: w.actor, Action: "cert.import", Subject: id, Outcome: store.OutcomeSuccess, Detail: detail}); err != nil {
			return err
		}
		if match != nil {
			rec := *match
			rec.Status, rec.IssuedAs = CSRIssued, id
			if err := tx.Put(store.CSRs, rec.ID, &rec); err != nil {
				return err
			}
			if err := tx.Audit(store.Event{Actor: w.actor, Action: "csr.issued", Subject: rec.ID, Outcome: store.OutcomeSuccess,
				Detail: map[string]string{"certificate_id": id}}); err != nil {
				return err
			}
		}
		if pc.Renews != "" {
			var old ProvisioningCert
			if err := tx.Get(store.ProvCerts, pc.Renews, &old); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return nil
				}
				return err
			}
			old.Status, old.SupersededBy = StatusSuperseded, id
			if err := tx.Put(store.ProvCerts, old.ID, &old); err != nil {
				return err
			}
			return tx.Audit(store.Event{Actor: w.actor, Action: "cert.superseded", Subject: old.ID, Outcome: store.OutcomeSuccess,
				Detail: map[string]string{"superseded_by": id}})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return &ImportResult{Cert: pc, Chain: chain, Report: report, CSR: match}, nil
}

func leafSHA256(c *x509.Certificate) string {
	_, s256, _ := Thumbprints(c)
	return s256
}

func rootName(r *RootSummary, root *x509.Certificate) string {
	switch {
	case r.CatalogName != "":
		return r.CatalogName
	case r.CustomName != "":
		return describeName(root) + " (custom hash)"
	}
	return "not trusted by AMT firmware"
}

// matchCSR finds the pending request whose public key a delivered
// certificate holds.
func matchCSR(certs []*x509.Certificate, csrs []CSRRecord) (*CSRRecord, crypto.PublicKey, error) {
	for _, c := range certs {
		if c.IsCA {
			continue
		}
		id := certKeyID(c)
		for i := range csrs {
			if csrs[i].KeyID != id {
				continue
			}
			if csrs[i].Status != CSRPending {
				return nil, nil, amt.RuleError{Rule: "private key", Seen: fmt.Sprintf("the certificate's key belongs to CSR %s, already issued as %s", csrs[i].ID, csrs[i].IssuedAs),
					Want: "a certificate for a pending CSR", Fix: "use `amtrcs cert list`: it is already imported"}
			}
			return &csrs[i], c.PublicKey, nil
		}
	}
	names := make([]string, 0, len(certs))
	for _, c := range certs {
		if !c.IsCA {
			names = append(names, fmt.Sprintf("%q", describeName(c)))
		}
	}
	return nil, nil, amt.RuleError{Rule: "private key",
		Seen: fmt.Sprintf("the public key of %s matches no pending CSR of this store", strings.Join(names, ", ")),
		Want: "a certificate issued for a CSR made by `amtrcs csr new`, or a PFX that holds its key",
		Fix:  "import the PFX exported with the key, or run the import against the data directory where the CSR was made"}
}

// Load returns a stored provisioning certificate with its chain parsed.
func (w *Workshop) Load(id string) (*ProvisioningCert, error) {
	var pc ProvisioningCert
	if err := w.st.Get(store.ProvCerts, id, &pc); err != nil {
		return nil, err
	}
	for i, der := range pc.ChainDER {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("provisioning certificate %s: certificate %d of the stored chain: %w", id, i, err)
		}
		pc.Chain = append(pc.Chain, c)
	}
	if len(pc.Chain) == 0 {
		return nil, fmt.Errorf("provisioning certificate %s: the stored chain is empty", id)
	}
	return &pc, nil
}

// Signer unseals the private key of a provisioning certificate or CSR. The
// caller signs with it and drops it; it is never written anywhere else.
func (w *Workshop) Signer(id string) (crypto.Signer, error) {
	pt, err := w.st.Secret(keySecretName(id))
	if err != nil {
		return nil, fmt.Errorf("key of %s: %w", id, err)
	}
	defer clear(pt)
	k, err := x509.ParsePKCS8PrivateKey(pt)
	if err != nil {
		return nil, fmt.Errorf("key of %s: the sealed key does not parse", id)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of %s: a %T cannot sign", id, k)
	}
	return s, nil
}

// Entry is one row of List: a provisioning certificate or a pending CSR.
type Entry struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"` // "certificate" or "csr"
	CommonName string     `json:"common_name"`
	RootName   string     `json:"root_name,omitempty"`
	NotAfter   *time.Time `json:"not_after,omitempty"`
	DaysLeft   *int       `json:"days_left,omitempty"`
	Status     string     `json:"status"`
	Renews     string     `json:"renews,omitempty"`
}

// List returns the provisioning certificates, newest expiry last, then the
// pending CSRs.
func (w *Workshop) List() ([]Entry, error) {
	now := w.now()
	certs, err := store.List[ProvisioningCert](w.st, store.ProvCerts)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(certs, func(a, b ProvisioningCert) int { return a.NotAfter.Compare(b.NotAfter) })
	out := []Entry{}
	for _, c := range certs {
		na := c.NotAfter
		days := int(na.Sub(now).Hours() / 24)
		if na.Before(now) {
			days = -int(now.Sub(na).Hours()/24) - 1
		}
		out = append(out, Entry{ID: c.ID, Kind: "certificate", CommonName: c.CommonName, RootName: c.RootName,
			NotAfter: &na, DaysLeft: &days, Status: c.status(now), Renews: c.Renews})
	}
	csrs, err := w.CSRs()
	if err != nil {
		return nil, err
	}
	for _, r := range csrs {
		if r.Status == CSRPending {
			out = append(out, Entry{ID: r.ID, Kind: "csr", CommonName: r.Subject.CommonName, Status: StatusPendingCSR, Renews: r.Renews})
		}
	}
	return out, nil
}

// ExportFormat is a file format Export writes.
type ExportFormat string

// Export formats.
const (
	// ExportPFX is PKCS#12 with the key and the chain, encrypted with
	// AES-256 and PBKDF2 (go-pkcs12's Modern encoder).
	ExportPFX ExportFormat = "pfx"
	// ExportPEM is the whole chain, leaf first, without the key.
	ExportPEM ExportFormat = "pem"
	// ExportConsolePEM is what consoles that talk TLS to AMT load: the
	// root first, then the intermediates top-down; no leaf, no key.
	ExportConsolePEM ExportFormat = "console-pem"
)

// ParseExportFormat reads a --format value.
func ParseExportFormat(s string) (ExportFormat, error) {
	switch f := ExportFormat(strings.ToLower(s)); f {
	case ExportPFX, ExportPEM, ExportConsolePEM:
		return f, nil
	}
	return "", amt.RuleError{Rule: "export format", Seen: fmt.Sprintf("%q", s), Want: "pfx, pem or console-pem",
		Fix: "give --format pfx (key and chain), pem (chain, leaf first) or console-pem (root and intermediates)"}
}

// Export writes a provisioning certificate in format f. A PFX needs a
// password; it is used for the encryption only.
func (w *Workshop) Export(id string, f ExportFormat, password string) (out []byte, err error) {
	defer func() {
		outcome := store.OutcomeSuccess
		detail := map[string]string{"format": string(f)}
		if err != nil {
			outcome = store.OutcomeFailure
			detail["error"] = err.Error()
		}
		// The password is neither in err nor in detail.
		_ = w.st.Update(func(tx *store.Tx) error {
			return tx.Audit(store.Event{Actor: w.actor, Action: "cert.export", Subject: id, Outcome: outcome, Detail: detail})
		})
	}()
	pc, err := w.Load(id)
	if err != nil {
		return nil, err
	}
	switch f {
	case ExportPEM:
		var b bytes.Buffer
		for _, c := range pc.Chain {
			_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
		return b.Bytes(), nil
	case ExportConsolePEM:
		var b bytes.Buffer
		for i := len(pc.Chain) - 1; i >= 1; i-- {
			_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: pc.Chain[i].Raw})
		}
		if b.Len() == 0 {
			return nil, amt.RuleError{Rule: "console PEM", Seen: "the chain holds only the leaf", Want: "a root and intermediates to write",
				Fix: "import the vendor's chain files again so that the chain is complete"}
		}
		return b.Bytes(), nil
	case ExportPFX:
		if password == "" {
			return nil, amt.RuleError{Rule: "PFX password", Seen: "none given", Want: "a password to encrypt the key with",
				Fix: "give --password-file with the password for the PFX"}
		}
		key, err := w.Signer(id)
		if err != nil {
			return nil, err
		}
		return pkcs12.Modern.Encode(key, pc.Leaf(), pc.Chain[1:], password)
	}
	return nil, fmt.Errorf("export: unknown format %q", f)
}

// Renew makes the CSR for the successor of certificate id: a new key and the
// same subject. The certificate stays active until the successor is
// imported, and is then marked superseded.
func (w *Workshop) Renew(id string) (*CSRRecord, error) {
	pc, err := w.Load(id)
	if err != nil {
		return nil, err
	}
	if pc.Status == StatusSuperseded {
		return nil, amt.RuleError{Rule: "renew", Seen: fmt.Sprintf("%s is already superseded by %s", id, pc.SupersededBy),
			Want: "an active certificate", Fix: "renew " + pc.SupersededBy + " instead"}
	}
	csrs, err := w.CSRs()
	if err != nil {
		return nil, err
	}
	kt := RSA2048
	var suffixes []string
	for _, r := range csrs {
		if r.Renews == id && r.Status == CSRPending {
			return nil, amt.RuleError{Rule: "renew", Seen: fmt.Sprintf("CSR %s already renews %s and waits for its certificate", r.ID, id),
				Want: "one pending renewal per certificate", Fix: fmt.Sprintf("send CSR %s to the vendor (`amtrcs csr show %s`) and import the result", r.ID, r.ID)}
		}
		if r.ID == pc.CSRID {
			kt, suffixes = r.KeyType, r.Suffixes
		}
	}
	if pc.CSRID == "" {
		if _, bits := amt.DescribeKey(pc.Leaf().PublicKey); bits > 2048 {
			kt = RSA3072
			if bits > 3072 {
				kt = RSA4096
			}
		}
	}
	subj := SubjectOf(pc.Leaf().Subject)
	rec, err := w.NewCSR(CSRRequest{Subject: subj, KeyType: kt, Suffixes: suffixes, Renews: id})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// auditFailure records a refused step; the error text carries no secret.
func (w *Workshop) auditFailure(action, subject string, cause error) {
	_ = w.st.Update(func(tx *store.Tx) error {
		outcome := store.OutcomeFailure
		var re *RefusedError
		if errors.As(cause, &re) {
			outcome = store.OutcomeDenied
		}
		return tx.Audit(store.Event{Actor: w.actor, Action: action, Subject: subject, Outcome: outcome,
			Detail: map[string]string{"error": firstLine(cause.Error())}})
	})
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
