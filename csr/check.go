package csr

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/dnssuffix"
)

// Names of the rules Check applies beyond the firmware's own (amt.RuleMarking
// and the others of amt), as they appear in amt.RuleError.Rule.
const (
	RuleChainComplete = "chain complete"
	RuleRootTrusted   = "root trusted by AMT"
)

// ExpiryWarning is how long before not-after a certificate is reported as
// expiring: the time to buy and import its successor.
const ExpiryWarning = 30 * 24 * time.Hour

// CheckOptions say what a chain is checked against.
type CheckOptions struct {
	// Versions are the AMT versions to judge for; empty means one per
	// profile of amt.Profiles.
	Versions []amt.Version
	// Suffixes are the devices' DNS suffixes the leaf must cover.
	Suffixes []string
	// CustomHashes are root hashes added in MEBx; each is added to every
	// version's default table as the firmware would (at most 3).
	CustomHashes []amt.RootHash
	// Now is the time validity is judged at; zero means time.Now().
	Now time.Time
}

// Report is the result of Check: what the chain is, each check, and a
// verdict per AMT version.
type Report struct {
	Certificates  []CertSummary `json:"certificates"`
	Complete      bool          `json:"complete"`
	MissingIssuer string        `json:"missing_issuer,omitempty"`
	Root          *RootSummary  `json:"root,omitempty"`
	Checks        []Finding     `json:"checks"`
	Verdicts      []Verdict     `json:"verdicts"`
	// Usable is true when every verdict is.
	Usable bool `json:"usable"`
}

// CertSummary describes one certificate of the chain.
type CertSummary struct {
	Role               string    `json:"role"` // leaf, intermediate or root
	Subject            string    `json:"subject"`
	Issuer             string    `json:"issuer"`
	Serial             string    `json:"serial"`
	KeyType            string    `json:"key_type"`
	KeyBits            int       `json:"key_bits"`
	SignatureAlgorithm string    `json:"signature_algorithm"`
	NotBefore          time.Time `json:"not_before"`
	NotAfter           time.Time `json:"not_after"`
}

// RootSummary identifies the root the way AMT firmware and MEBx do: by its
// thumbprints, and by name when the AMT catalog knows it.
type RootSummary struct {
	Subject string `json:"subject"`
	SHA1    string `json:"sha1"`
	SHA256  string `json:"sha256"`
	SHA384  string `json:"sha384"`
	// CatalogName is the root's name in the AMT default-hash catalog, empty
	// when no firmware version carries it.
	CatalogName string `json:"catalog_name,omitempty"`
	// CustomName is set when a custom hash given in CheckOptions matches.
	CustomName string `json:"custom_name,omitempty"`
	// DefaultIn lists the profiles whose default table holds the root.
	DefaultIn []string `json:"default_in,omitempty"`
}

// Finding is one check of the report. Status is "ok", "fail", "warn" (a
// fault only for some versions, or not yet one) or "info".
type Finding struct {
	Check  string `json:"check"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// Verdict says whether one AMT version can use the chain, and every reason
// it cannot.
type Verdict struct {
	Version amt.Version     `json:"version"`
	Profile string          `json:"profile"`
	Usable  bool            `json:"usable"`
	Reasons []amt.RuleError `json:"reasons,omitempty"`
}

// Thumbprints are the SHA-1, SHA-256 and SHA-384 of a certificate's DER in
// the uppercase hex that MEBx and Windows show.
func Thumbprints(c *x509.Certificate) (sha1Hex, sha256Hex, sha384Hex string) {
	s1 := sha1.Sum(c.Raw)
	s256 := sha256.Sum256(c.Raw)
	s384 := sha512.Sum384(c.Raw)
	return amt.FormatHash(s1[:]), amt.FormatHash(s256[:]), amt.FormatHash(s384[:])
}

func role(i, n int, complete bool) string {
	switch {
	case i == 0:
		return "leaf"
	case i == n-1 && complete:
		return "root"
	}
	return "intermediate"
}

// label names a certificate of the chain in a reason: its role and CN.
func label(chain []*x509.Certificate, i int, complete bool) string {
	return fmt.Sprintf("%s %q", role(i, len(chain), complete), describeName(chain[i]))
}

// Check judges a chain (leaf first, as BuildChain orders it) against the
// rules of each requested AMT version. It is pure: the same chain and
// options give the same report.
func Check(chain []*x509.Certificate, opts CheckOptions) Report {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	var r Report
	if len(chain) == 0 {
		r.Verdicts = []Verdict{}
		r.Checks = []Finding{{Check: RuleChainComplete, Status: "fail", Detail: "no certificate"}}
		return r
	}
	leaf := chain[0]
	last := chain[len(chain)-1]
	r.Complete = selfSigned(last)
	// Each link is checked again here, since a chain may come from
	// somewhere else than BuildChain (the store, the RCS).
	brokenAt := -1
	for i := 0; i+1 < len(chain); i++ {
		if !amt.IssuedBy(chain[i], chain[i+1]) {
			brokenAt = i
			r.Complete = false
			break
		}
	}
	for i, c := range chain {
		typ, bits := amt.DescribeKey(c.PublicKey)
		r.Certificates = append(r.Certificates, CertSummary{
			Role: role(i, len(chain), r.Complete), Subject: c.Subject.String(), Issuer: c.Issuer.String(),
			Serial: formatSerial(c), KeyType: typ, KeyBits: bits, SignatureAlgorithm: c.SignatureAlgorithm.String(),
			NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(),
		})
	}

	// Version-independent facts, each both a finding and, where it is a
	// fault for every version, a reason in every verdict.
	var common []amt.RuleError
	add := func(check, status, detail string) {
		r.Checks = append(r.Checks, Finding{Check: check, Status: status, Detail: detail})
	}

	switch {
	case brokenAt >= 0:
		rs := amt.RuleError{Rule: RuleChainComplete,
			Seen: fmt.Sprintf("%s is not signed by the next certificate, %q", label(chain, brokenAt, false), describeName(chain[brokenAt+1])),
			Want: "each certificate signed by the one after it, leaf first",
			Fix:  "import the vendor's files again so that amtrcs builds the chain itself"}
		common = append(common, rs)
		add(RuleChainComplete, "fail", rs.Seen)
	case !r.Complete:
		r.MissingIssuer = last.Issuer.String()
		rs := amt.RuleError{Rule: RuleChainComplete,
			Seen: fmt.Sprintf("the issuer of %s, %q, is missing", label(chain, len(chain)-1, false), issuerName(last)),
			Want: "every intermediate up to a root",
			Fix:  fmt.Sprintf("add the certificate of %q from the vendor's delivery or website", issuerName(last))}
		common = append(common, rs)
		add(RuleChainComplete, "fail", rs.Seen)
	default:
		add(RuleChainComplete, "ok", fmt.Sprintf("%d certificates from leaf to a self-signed root; every signature verifies", len(chain)))
	}

	var root *x509.Certificate
	if r.Complete {
		root = last
		s1, s256, s384 := Thumbprints(root)
		r.Root = &RootSummary{Subject: root.Subject.String(), SHA1: s1, SHA256: s256, SHA384: s384}
		if e, ok := amt.LookupRoot(root.Raw); ok {
			r.Root.CatalogName = e.Name
			r.Root.DefaultIn = e.Carriers()
		}
		for _, h := range opts.CustomHashes {
			if slices.Equal(h.Algorithm.Sum(root.Raw), h.Hash) {
				r.Root.CustomName = h.Name
			}
		}
		switch {
		case r.Root.CatalogName != "":
			add(RuleRootTrusted, "ok", fmt.Sprintf("%s (AMT catalog; default in %s)", r.Root.CatalogName, orNone(r.Root.DefaultIn)))
		case r.Root.CustomName != "":
			add(RuleRootTrusted, "ok", "matches "+r.Root.CustomName)
		default:
			add(RuleRootTrusted, "fail", "not trusted by AMT firmware: the root's hash is in no default table and no custom hash was given")
		}
	}

	if rs, ok := amt.CheckMarking(leaf); ok {
		add(amt.RuleMarking, "ok", rs.Seen)
	} else {
		common = append(common, rs)
		add(amt.RuleMarking, "fail", rs.Seen)
	}

	for _, check := range []func(*x509.Certificate) (amt.RuleError, bool){amt.CheckServerAuth, amt.CheckKeyType} {
		if rs, ok := check(leaf); ok {
			add(rs.Rule, "ok", rs.Seen)
		} else {
			common = append(common, rs)
			add(rs.Rule, "fail", rs.Seen)
		}
	}

	var sha1Certs []string
	for i, c := range chain {
		if amt.IsSHA1(c.SignatureAlgorithm) {
			sha1Certs = append(sha1Certs, fmt.Sprintf("%s (%s)", label(chain, i, r.Complete), c.SignatureAlgorithm))
		}
	}
	if len(sha1Certs) == 0 {
		add(amt.RuleSHA1, "ok", "no certificate of the chain is SHA-1 signed")
	} else {
		add(amt.RuleSHA1, "warn", "SHA-1 signed: "+strings.Join(sha1Certs, ", ")+"; refused from AMT 16")
	}

	for i, c := range chain {
		if rs, ok := amt.CheckValidity(c, label(chain, i, r.Complete), now); !ok {
			common = append(common, rs)
			add(amt.RuleValidity, "fail", rs.Seen)
		} else if now.Add(ExpiryWarning).After(c.NotAfter) {
			add(amt.RuleValidity, "warn", fmt.Sprintf("%s expires on %s, within 30 days", label(chain, i, r.Complete), c.NotAfter.UTC().Format(time.RFC3339)))
		}
	}
	if !slices.ContainsFunc(r.Checks, func(f Finding) bool { return f.Check == amt.RuleValidity }) {
		add(amt.RuleValidity, "ok", "every certificate is valid now and in 30 days")
	}

	versions := opts.Versions
	if len(versions) == 0 {
		for _, p := range amt.Profiles() {
			versions = append(versions, p.Version)
		}
	}
	suffixFail := map[string][]string{}
	r.Usable = true
	for _, v := range versions {
		vd := judgeVersion(chain, root, v, opts, common, suffixFail)
		r.Usable = r.Usable && vd.Usable
		r.Verdicts = append(r.Verdicts, vd)
	}
	for _, s := range opts.Suffixes {
		if bad := suffixFail[s]; len(bad) > 0 {
			add(amt.RuleSuffix, "fail", fmt.Sprintf("%s: not covered by %q for %s", s, describeName(leaf), strings.Join(bad, ", ")))
		} else {
			add(amt.RuleSuffix, "ok", fmt.Sprintf("%s: covered by %q", s, describeName(leaf)))
		}
	}
	return r
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "no profile"
	}
	return strings.Join(s, ", ")
}

func issuerName(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return c.Issuer.CommonName
	}
	return c.Issuer.String()
}

func formatSerial(c *x509.Certificate) string {
	if c.SerialNumber == nil {
		return ""
	}
	return strings.ToUpper(c.SerialNumber.Text(16))
}

func judgeVersion(chain []*x509.Certificate, root *x509.Certificate, v amt.Version, opts CheckOptions, common []amt.RuleError, suffixFail map[string][]string) Verdict {
	vd := Verdict{Version: v, Profile: "AMT " + v.String()}
	p, err := amt.LookupProfile(v)
	if err != nil {
		vd.Reasons = append(vd.Reasons, reasonFromRule(amt.RuleAMTVersion, err))
		return vd
	}
	vd.Profile = p.Name
	vd.Reasons = append(vd.Reasons, common...)
	if root != nil {
		vd.Reasons = append(vd.Reasons, rootReasons(root, v, opts.CustomHashes)...)
	}
	for i, c := range chain {
		name := label(chain, i, root != nil)
		if rs, ok := amt.CheckSHA1(c, name, p); !ok {
			vd.Reasons = append(vd.Reasons, rs)
		}
		if rs, ok := amt.CheckRSASize(c, name, p); !ok {
			vd.Reasons = append(vd.Reasons, rs)
		}
	}
	if rs, ok := amt.CheckChainLength(len(chain), p.MaxChainLength, p.Name); !ok {
		vd.Reasons = append(vd.Reasons, rs)
	}
	for _, s := range opts.Suffixes {
		if re := dnssuffix.MatchCertificate(chain[0], s, v).Refusal(); re != nil {
			suffixFail[s] = append(suffixFail[s], p.Name)
			vd.Reasons = append(vd.Reasons, *re)
		}
	}
	vd.Usable = len(vd.Reasons) == 0
	return vd
}

// rootReasons applies the hash table of version v, with the custom hashes
// added as MEBx would add them.
func rootReasons(root *x509.Certificate, v amt.Version, custom []amt.RootHash) []amt.RuleError {
	table := amt.DefaultHashTable(v)
	var refused []error
	for _, h := range custom {
		if err := table.AddCustom(h.Name, h.Algorithm, h.Hash); err != nil {
			if slices.Equal(h.Algorithm.Sum(root.Raw), h.Hash) {
				refused = append(refused, err)
			}
		}
	}
	e, ok := table.Find(root.Raw)
	switch {
	case ok && e.Active:
		return nil
	case ok:
		return []amt.RuleError{{Rule: RuleRootTrusted, Seen: fmt.Sprintf("root %q matches %q, which is deactivated", describeName(root), e.Name),
			Want: "an active entry", Fix: "activate the hash in MEBx (Manage Certificates)"}}
	case len(refused) > 0:
		return []amt.RuleError{reasonFromRule(RuleRootTrusted, refused[0])}
	}
	_, s256, _ := Thumbprints(root)
	return []amt.RuleError{{Rule: RuleRootTrusted,
		Seen: fmt.Sprintf("root %q (SHA-256 %s) is not trusted by AMT %s firmware", describeName(root), s256, v),
		Want: "a root whose hash is in the firmware's default table, or added as a custom hash",
		Fix:  "buy from a vendor whose root the firmware holds (see `amtrcs hashes`), or add this SHA-256 as a custom hash in MEBx and pass it with --trust-hash"}}
}

// reasonFromRule finds the amt.RuleError inside err, or makes one of rule
// and err's text.
func reasonFromRule(rule string, err error) amt.RuleError {
	if re, ok := amt.AsRefusal(err); ok {
		return re
	}
	return amt.RuleError{Rule: rule, Seen: err.Error(), Err: err}
}
