package provisioning

import (
	"context"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/csr"
)

// TestWorkshopCerts activates a device with a certificate imported into the
// csr workshop of the engine's own store.
func TestWorkshopCerts(t *testing.T) {
	f := newFixture(t, Options{Domains: func(context.Context, string) (Domain, bool, error) { return Domain{}, false, nil }})
	w := csr.NewWorkshop(f.st, csr.WorkshopOptions{Actor: "test"})
	res, err := w.Import(&csr.Delivery{Certificates: f.cert.Chain, Key: f.cert.Signer, Sources: []string{"test.pfx"}},
		csr.ImportOptions{Force: true, Check: csr.CheckOptions{Suffixes: []string{testSuffix}}})
	if err != nil {
		t.Fatal(err)
	}
	_ = res
	e, err := New(f.st, WorkshopCerts{W: w}, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := WorkshopCerts{W: w}.ProvisioningCertIDs(context.Background())
	if err != nil || len(ids) != 1 {
		t.Fatalf("ids %v, %v", ids, err)
	}
	sd, dev := f.device("16.1.27", nil)
	out, err := e.Activate(context.Background(), dev, DefaultProfile("default"))
	if err != nil {
		t.Fatalf("Activate: %v (%s)", err, sd.LastError())
	}
	if st, mode := sd.State(); out.CertID != ids[0] || st != amt.PostProvisioning || mode != amt.ControlACM {
		t.Fatalf("cert %q, device %s %s", out.CertID, st, mode)
	}
}
