package rcs_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/csr/csrtest"
)

// TestServerOffersRenewedCertOnly: once a renewal is imported, the server's
// certificate source offers the successor, whose key was made by `csr new`
// and is sealed under its CSR's id, and no longer the superseded one.
func TestServerOffersRenewedCertOnly(t *testing.T) {
	e := newEnv(t, nil)
	w := csr.NewWorkshop(e.st, csr.WorkshopOptions{Actor: "test"})
	rec, err := w.Renew(e.certID)
	if err != nil {
		t.Fatal(err)
	}
	next, err := e.vendor.IssueCSR([]byte(rec.PEM), csrtest.LeafOptions{NotBefore: time.Now().AddDate(0, 0, -1), NotAfter: time.Now().AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.Import(&csr.Delivery{Certificates: []*x509.Certificate{next, e.vendor.Intermediate, e.vendor.Root}},
		csr.ImportOptions{Check: csr.CheckOptions{CustomHashes: []amt.RootHash{e.rootHash()}, Suffixes: []string{testSuffix}}})
	if err != nil {
		t.Fatal(err)
	}
	if old, _ := w.Load(e.certID); old.Status != csr.StatusSuperseded {
		t.Fatalf("old certificate %s after the renewal, want superseded", old.Status)
	}
	xs, err := e.srv.Engine().CheckProvisioningCerts(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(xs) != 1 || xs[0].ID != res.Cert.ID {
		t.Fatalf("offered certificates %+v, want only the renewal %s (the superseded %s must not be offered)", xs, res.Cert.ID, e.certID)
	}
}
