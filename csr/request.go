package csr

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/dnssuffix"
)

// Subject is what a CSR asks the vendor to certify.
type Subject struct {
	CommonName   string `json:"common_name"`
	Organization string `json:"organization,omitempty"`
	Locality     string `json:"locality,omitempty"`
	State        string `json:"state,omitempty"`
	Country      string `json:"country,omitempty"`
	// OUMarking adds OU=Intel(R) Client Setup Certificate, the marking that
	// vendors which cannot add the AMT EKU put in the subject.
	OUMarking bool `json:"ou_marking,omitempty"`
}

// Validate checks the subject before any key is made.
func (s Subject) Validate() error {
	if s.CommonName == "" {
		return amt.RuleError{Rule: "common name", Seen: "none", Want: "the DNS name of the certificate",
			Fix: "give --cn NAME, or --host LABEL with --device-suffix to have it planned"}
	}
	if _, err := dnssuffix.ValidateCertName(s.CommonName); err != nil {
		return amt.RuleError{Rule: "common name", Seen: err.Error(), Want: "a DNS name such as rcs.corp.example.com",
			Fix: "give --cn a fully qualified DNS name"}
	}
	if s.Country != "" && !isCountryCode(s.Country) {
		return amt.RuleError{Rule: "country", Seen: fmt.Sprintf("%q", s.Country),
			Want: "a two-letter ISO 3166 code such as US or DE", Fix: "give --country with two letters"}
	}
	return nil
}

func isCountryCode(s string) bool {
	if len(s) != 2 {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return false
		}
	}
	return true
}

// Name is the subject as an X.509 name.
func (s Subject) Name() pkix.Name {
	n := pkix.Name{CommonName: s.CommonName}
	add := func(dst *[]string, v string) {
		if v != "" {
			*dst = append(*dst, v)
		}
	}
	add(&n.Organization, s.Organization)
	add(&n.Locality, s.Locality)
	add(&n.Province, s.State)
	add(&n.Country, strings.ToUpper(s.Country))
	if s.OUMarking {
		n.OrganizationalUnit = []string{amt.ClientSetupOU}
	}
	return n
}

// SubjectOf reads a Subject back from a certificate, for renewal.
func SubjectOf(n pkix.Name) Subject {
	first := func(v []string) string {
		if len(v) == 0 {
			return ""
		}
		return v[0]
	}
	s := Subject{CommonName: n.CommonName, Organization: first(n.Organization), Locality: first(n.Locality),
		State: first(n.Province), Country: first(n.Country)}
	for _, ou := range n.OrganizationalUnit {
		if ou == amt.ClientSetupOU {
			s.OUMarking = true
		}
	}
	return s
}

var (
	oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidServerAuth  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}
)

// CreateRequest makes a PEM CSR for s signed by key. It asks for the DNS
// name in the SAN (public CAs require it) and for the server-auth and AMT
// provisioning EKUs; vendors that sell AMT certificates add the latter
// themselves, others may copy them.
func CreateRequest(s Subject, key crypto.Signer) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidServerAuth, amt.ProvisioningOID()})
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	tmpl := &x509.CertificateRequest{
		Subject:         s.Name(),
		DNSNames:        []string{s.CommonName},
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Value: eku}},
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}
