package rcs_test

import (
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/csr/csrtest"
	"github.com/amtrcs/amtrcs/rcs"
)

// TestCSRToActivationOnRunningServer walks the certificate's whole life on
// a server that never stops: a CSR made through the API, the vendor's
// delivery (no key) imported through the API and matched to the pending
// key, the domain pointed at it, and a device that trusts only that
// vendor's root activated with it.
func TestCSRToActivationOnRunningServer(t *testing.T) {
	e := newEnv(t, nil)
	// A second vendor: the device below trusts its root alone, so only the
	// certificate made from the API's CSR can activate it.
	vendor := csrtest.NewVendor(csrtest.VendorOptions{Name: "API Vendor"})
	rootHash := amt.HashSHA256.Sum(vendor.Root.Raw)

	var bad rcs.APIError
	code := e.call("POST", "/api/v1/csrs", e.token, csr.CSRRequest{Subject: csr.Subject{CommonName: "rcs.branch.example.net"}, Suffixes: []string{testSuffix}}, &bad)
	if code != http.StatusUnprocessableEntity || bad.Rule == "" || bad.Fix == "" {
		t.Fatalf("a name that does not cover the suffix: %d %+v, want 422 with rule and fix", code, bad)
	}
	var csrs []csr.CSRRecord
	if code := e.call("GET", "/api/v1/csrs", e.token, nil, &csrs); code != http.StatusOK || len(csrs) != 0 {
		t.Fatalf("after a refusal: %d %+v, want no CSR stored", code, csrs)
	}

	var rec csr.CSRRecord
	code = e.call("POST", "/api/v1/csrs", e.token, csr.CSRRequest{Subject: csr.Subject{CommonName: "rcs2." + testSuffix, Organization: "Example"}, Suffixes: []string{testSuffix}}, &rec)
	if code != http.StatusCreated || rec.ID == "" || rec.Status != csr.CSRPending || rec.PEM == "" {
		t.Fatalf("new CSR: %d %+v", code, rec)
	}
	if code := e.call("GET", "/api/v1/csrs", e.token, nil, &csrs); code != http.StatusOK || len(csrs) != 1 || csrs[0].ID != rec.ID {
		t.Fatalf("list: %d %+v", code, csrs)
	}
	if code := e.call("GET", "/api/v1/csrs/"+rec.ID, "", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("a CSR without a token: %d, want 401", code)
	}

	now := time.Now()
	leaf, err := vendor.IssueCSR([]byte(rec.PEM), csrtest.LeafOptions{NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var imp struct {
		Cert  *csr.ProvisioningCert `json:"certificate"`
		CSRID string                `json:"csr_id"`
	}
	code = e.call("POST", "/api/v1/certs", e.token, rcs.CertImportRequest{
		Files:          []csr.DeliveryFile{{Name: "rcs2.cer", Data: csrtest.PEM(leaf)}, {Name: "chain.p7b.pem", Data: csrtest.PEM(vendor.Intermediate, vendor.Root)}},
		DeviceSuffixes: []string{testSuffix},
		TrustHashes:    []string{hex.EncodeToString(rootHash)},
	}, &imp)
	if code != http.StatusCreated || imp.Cert == nil || imp.CSRID != rec.ID {
		t.Fatalf("import the delivery: %d %+v, want it matched to CSR %s", code, imp, rec.ID)
	}
	var after csr.CSRRecord
	if code := e.call("GET", "/api/v1/csrs/"+rec.ID, e.token, nil, &after); code != http.StatusOK || after.Status != csr.CSRIssued || after.IssuedAs != imp.Cert.ID {
		t.Fatalf("the CSR after import: %d %+v, want issued as %s", code, after, imp.Cert.ID)
	}

	var refused rcs.APIError
	if code := e.call("DELETE", "/api/v1/csrs/"+rec.ID, e.token, nil, &refused); code != http.StatusUnprocessableEntity || refused.Rule != csr.RuleCSRPending {
		t.Fatalf("delete an issued CSR: %d %+v, want 422 with rule %q", code, refused, csr.RuleCSRPending)
	}
	var typo csr.CSRRecord
	if code := e.call("POST", "/api/v1/csrs", e.token, csr.CSRRequest{Subject: csr.Subject{CommonName: "rcs-typo." + testSuffix}}, &typo); code != http.StatusCreated {
		t.Fatalf("new CSR: %d", code)
	}
	if code := e.call("DELETE", "/api/v1/csrs/"+typo.ID, e.token, nil, nil); code != http.StatusOK {
		t.Fatalf("delete a pending CSR: %d", code)
	}
	if code := e.call("GET", "/api/v1/csrs/"+typo.ID, e.token, nil, nil); code != http.StatusNotFound {
		t.Fatalf("a deleted CSR: %d, want 404", code)
	}
	if code := e.call("PUT", "/api/v1/domains/corp", e.token, rcs.Domain{Name: "corp", Suffixes: []string{testSuffix}, CertID: imp.Cert.ID}, nil); code != http.StatusOK {
		t.Fatalf("point the domain at the new certificate: %d", code)
	}
	sd := e.device("16.1.27", func(c *amtsim.Config) {
		c.CustomHashes = []amtsim.CustomHash{{Name: "API Vendor Root", Algorithm: amt.HashSHA256, Hash: rootHash}}
	})
	if _, err := e.runOnce(sd, ""); err != nil {
		t.Fatalf("agent: %v (device: %s)", err, sd.LastError())
	}
	if st, mode := sd.State(); st != amt.PostProvisioning || mode != amt.ControlACM {
		t.Fatalf("device %s %s, want post-provisioning ACM with the imported certificate", st, mode)
	}
}
