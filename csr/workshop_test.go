package csr_test

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/csr/csrtest"
	"github.com/amtrcs/amtrcs/store"
)

type bench struct {
	st     *store.Store
	w      *csr.Workshop
	vendor *csrtest.Vendor
	now    time.Time
	opts   csr.ImportOptions
}

func newBench(t *testing.T) *bench {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "amtrcs.db"), store.Options{
		KEK: store.KEKSource{Key: bytes.Repeat([]byte{7}, 32)}, NoSync: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &bench{st: st, vendor: csrtest.NewVendor(csrtest.VendorOptions{}), now: csrtest.Epoch}
	b.w = csr.NewWorkshop(st, csr.WorkshopOptions{Now: func() time.Time { return b.now }, Actor: "test",
		Roots: csr.RootList{Label: "test roots", Certs: []*x509.Certificate{b.vendor.Root}}})
	b.opts = csr.ImportOptions{Check: csr.CheckOptions{CustomHashes: trustRoot(b.vendor.Root)}}
	return b
}

var subject = csr.Subject{CommonName: "rcs.corp.example.com", Organization: "Example Corp", Country: "US"}

// order makes a CSR and has the vendor issue it.
func (b *bench) order(t *testing.T, o csrtest.LeafOptions) (*csr.CSRRecord, *x509.Certificate) {
	t.Helper()
	rec, err := b.w.NewCSR(csr.CSRRequest{Subject: subject, Suffixes: []string{"corp.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	o.NotBefore = b.now.AddDate(0, 0, -1)
	leaf, err := b.vendor.IssueCSR([]byte(rec.PEM), o)
	if err != nil {
		t.Fatal(err)
	}
	return rec, leaf
}

func (b *bench) deliver(t *testing.T, certs ...*x509.Certificate) *csr.Delivery {
	t.Helper()
	d, err := csr.Decode("delivery.pem", csrtest.PEM(certs...), csr.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestWorkshopCSRImportSign(t *testing.T) {
	t.Parallel()
	b := newBench(t)
	rec, leaf := b.order(t, csrtest.LeafOptions{})
	if rec.Status != csr.CSRPending || !strings.HasPrefix(rec.PEM, "-----BEGIN CERTIFICATE REQUEST-----") {
		t.Fatalf("CSR record %+v", rec)
	}
	// The delivery lacks the root: it is completed from the root source.
	res, err := b.w.Import(b.deliver(t, b.vendor.Intermediate, leaf), b.opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cert.ID != rec.ID || res.Chain.RootFrom != "test roots" || res.Cert.RootName != "Test Vendor Root CA (custom hash)" || res.CSR == nil {
		t.Fatalf("import result %+v, chain root from %q", res.Cert, res.Chain.RootFrom)
	}
	pc, err := b.w.Load(rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.Chain) != 3 || !bytes.Equal(pc.Leaf().Raw, leaf.Raw) || !bytes.Equal(pc.Root().Raw, b.vendor.Root.Raw) {
		t.Fatalf("stored chain %q", subjects(pc.Chain))
	}
	// The RCS signs the AdminSetup nonces with the unsealed key.
	signer, err := b.w.Signer(rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("nonce"))
	sig, err := signer.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(pc.Leaf().PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("signature does not verify with the leaf: %v", err)
	}
	got, err := b.w.CSR(rec.ID)
	if err != nil || got.Status != csr.CSRIssued || got.IssuedAs != rec.ID {
		t.Fatalf("CSR after import: %+v, %v", got, err)
	}
	// Importing the same delivery again is refused.
	if _, err := b.w.Import(b.deliver(t, leaf, b.vendor.Intermediate), b.opts); err == nil ||
		err.Error() != "private key: the certificate's key belongs to CSR "+rec.ID+", already issued as "+rec.ID+"; want a certificate for a pending CSR; fix: use `amtrcs cert list`: it is already imported" {
		t.Fatalf("second import: %v", err)
	}
	events, err := b.st.AuditLog(store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action+"/"+e.Outcome)
	}
	want := "cert.import/failure csr.issued/success cert.import/success csr.new/success"
	if strings.Join(actions, " ") != want {
		t.Fatalf("audit %q, want %q", actions, want)
	}
	raw, _ := json.Marshal(events)
	key := signer.(*rsa.PrivateKey)
	if bytes.Contains(raw, []byte(key.D.Text(16))) || bytes.Contains(raw, []byte("PRIVATE")) {
		t.Fatal("audit log holds key material")
	}
}

func TestWorkshopImportRefusals(t *testing.T) {
	t.Parallel()
	b := newBench(t)
	stranger, _ := b.vendor.Issue(csrtest.LeafOptions{CN: "other.corp.example.com"})
	_, err := b.w.Import(b.deliver(t, stranger, b.vendor.Intermediate), b.opts)
	want := `private key: the public key of "other.corp.example.com" matches no pending CSR of this store; want a certificate issued for a CSR made by ` +
		"`amtrcs csr new`, or a PFX that holds its key; fix: import the PFX exported with the key, or run the import against the data directory where the CSR was made"
	if err == nil || err.Error() != want {
		t.Fatalf("stranger:\n got %v\nwant %s", err, want)
	}

	// A chain no version can use is refused with Check's reasons, and
	// stored only with Force.
	_, leaf := b.order(t, csrtest.LeafOptions{NoAMTEKU: true, OU: []string{}})
	_, err = b.w.Import(b.deliver(t, leaf, b.vendor.Intermediate, b.vendor.Root), b.opts)
	var re *csr.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("unusable chain: %v", err)
	}
	wantMsg := "import refused: no AMT version can use this chain (--force stores it anyway):\n  AMT marking: the leaf has neither the AMT provisioning EKU nor the AMT OU; want EKU 2.16.840.1.113741.1.2.3, or OU exactly \"Intel(R) Client Setup Certificate\" (case-sensitive, no trailing period); fix: buy an Intel AMT provisioning certificate, or make the CSR with `amtrcs csr new --ou-marking`"
	if err.Error() != wantMsg {
		t.Fatalf("refusal:\n got %s\nwant %s", err, wantMsg)
	}
	if l, _ := b.w.List(); len(l) != 1 || l[0].Status != csr.StatusPendingCSR {
		t.Fatalf("list after refusal %+v", l)
	}
	forced := b.opts
	forced.Force = true
	res, err := b.w.Import(b.deliver(t, leaf, b.vendor.Intermediate, b.vendor.Root), forced)
	if err != nil || !res.Cert.Forced {
		t.Fatalf("forced import: %+v, %v", res, err)
	}
	denied, _ := b.st.AuditLog(store.AuditFilter{Action: "cert.import"})
	outcomes := []string{}
	for _, e := range denied {
		outcomes = append(outcomes, e.Outcome)
	}
	if strings.Join(outcomes, " ") != "success denied failure" {
		t.Fatalf("import audit outcomes %q", outcomes)
	}
}

func TestWorkshopPFXExportRenew(t *testing.T) {
	t.Parallel()
	b := newBench(t)
	leaf, key := b.vendor.Issue(csrtest.LeafOptions{NotBefore: b.now.AddDate(0, -11, -10)})
	pfx, err := pkcs12.Modern.Encode(key, leaf, []*x509.Certificate{b.vendor.Intermediate, b.vendor.Root}, "pfx-pass-1")
	if err != nil {
		t.Fatal(err)
	}
	d, err := csr.Decode("vendor.pfx", pfx, csr.DecodeOptions{Password: "pfx-pass-1"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.w.Import(d, b.opts)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Cert.ID
	signer, err := b.w.Signer(id)
	if err != nil || !signer.Public().(*rsa.PublicKey).Equal(&key.PublicKey) {
		t.Fatalf("sealed PFX key: %v", err)
	}

	out, err := b.w.Export(id, csr.ExportPFX, "export-pass-2")
	if err != nil {
		t.Fatal(err)
	}
	k2, l2, cas, err := pkcs12.DecodeChain(out, "export-pass-2")
	if err != nil || !bytes.Equal(l2.Raw, leaf.Raw) || len(cas) != 2 || !k2.(*rsa.PrivateKey).Equal(key) {
		t.Fatalf("exported PFX: %v", err)
	}
	if _, err := b.w.Export(id, csr.ExportPFX, ""); err == nil || err.Error() != "PFX password: none given; want a password to encrypt the key with; fix: give --password-file with the password for the PFX" {
		t.Fatalf("PFX without password: %v", err)
	}
	for f, want := range map[csr.ExportFormat][]string{
		csr.ExportPEM:        {"rcs.corp.example.com", "Test Vendor AMT Issuing CA", "Test Vendor Root CA"},
		csr.ExportConsolePEM: {"Test Vendor Root CA", "Test Vendor AMT Issuing CA"},
	} {
		out, err := b.w.Export(id, f, "")
		if err != nil {
			t.Fatal(err)
		}
		certs, err := csr.ParsePEMOrDER(out)
		if err != nil || !equalStrings(subjects(certs), want) || bytes.Contains(out, []byte("PRIVATE")) {
			t.Fatalf("%s: %q, %v", f, subjects(certs), err)
		}
	}

	// Twenty-one days before expiry the certificate shows as expiring.
	list, _ := b.w.List()
	if len(list) != 1 || list[0].Status != csr.StatusExpiring || *list[0].DaysLeft != 21 {
		t.Fatalf("list %+v days %d", list[0], *list[0].DaysLeft)
	}
	rec, err := b.w.Renew(id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Renews != id || rec.Subject.CommonName != "rcs.corp.example.com" || rec.Subject.Organization != "Example Corp" {
		t.Fatalf("renewal CSR %+v", rec)
	}
	if _, err := b.w.Renew(id); err == nil || !strings.Contains(err.Error(), "already renews") {
		t.Fatalf("second renewal: %v", err)
	}
	old, _ := b.w.Load(id)
	if old.Status != csr.StatusActive {
		t.Fatalf("old certificate %s before the successor is imported", old.Status)
	}
	next, err := b.vendor.IssueCSR([]byte(rec.PEM), csrtest.LeafOptions{NotBefore: b.now.AddDate(0, 0, -1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.w.Import(b.deliver(t, next, b.vendor.Intermediate), b.opts); err != nil {
		t.Fatal(err)
	}
	old, _ = b.w.Load(id)
	if old.Status != csr.StatusSuperseded || old.SupersededBy != rec.ID {
		t.Fatalf("old certificate after renewal: %s by %s", old.Status, old.SupersededBy)
	}
	b.now = b.now.AddDate(0, 1, 0)
	list, _ = b.w.List()
	got := []string{}
	for _, e := range list {
		got = append(got, e.ID+" "+e.Status)
	}
	if strings.Join(got, ",") != id+" superseded,"+rec.ID+" active" {
		t.Fatalf("list %q", got)
	}
}

func TestNewCSR(t *testing.T) {
	t.Parallel()
	b := newBench(t)
	rec, err := b.w.NewCSR(csr.CSRRequest{Subject: csr.Subject{CommonName: "rcs.corp.example.com", Country: "de", OUMarking: true}, KeyType: csr.RSA3072})
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(rec.PEM))
	req, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil || req.CheckSignature() != nil {
		t.Fatalf("CSR: %v", err)
	}
	if req.Subject.String() != "CN=rcs.corp.example.com,OU=Intel(R) Client Setup Certificate,C=DE" ||
		req.PublicKey.(*rsa.PublicKey).N.BitLen() != 3072 || len(req.DNSNames) != 1 {
		t.Fatalf("CSR subject %s, key %d bits, SAN %q", req.Subject, req.PublicKey.(*rsa.PublicKey).N.BitLen(), req.DNSNames)
	}
	cases := map[string]struct {
		req  csr.CSRRequest
		want string
	}{
		"country":  {csr.CSRRequest{Subject: csr.Subject{CommonName: "rcs.corp.example.com", Country: "USA"}}, `country: "USA"; want a two-letter ISO 3166 code such as US or DE; fix: give --country with two letters`},
		"no name":  {csr.CSRRequest{Subject: csr.Subject{}}, "common name: none; want the DNS name of the certificate; fix: give --cn NAME, or --host LABEL with --device-suffix to have it planned"},
		"bad name": {csr.CSRRequest{Subject: csr.Subject{CommonName: "rcs corp"}}, "common name: "},
		"suffix not covered": {csr.CSRRequest{Subject: subject, Suffixes: []string{"corp.example.com", "branch.example.net"}},
			"domain suffix: CN rcs.corp.example.com cannot configure devices in branch.example.net: AMT 7.0 cuts it to example.com (.com keeps 2 labels), and branch.example.net is not under example.com; want a certificate name that covers the device suffix branch.example.net; fix: buy a certificate for a name under example.net, or set the MEBx PKI DNS suffix to corp.example.com"},
	}
	for name, tc := range cases {
		_, err := b.w.NewCSR(tc.req)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", name, err, tc.want)
		}
	}
	if _, err := csr.ParseKeyType("ecdsa-p256"); err == nil || err.Error() != "key type: ecdsa-p256 (elliptic curve); want rsa2048, rsa3072 or rsa4096; fix: AMT firmware accepts only RSA provisioning certificates: use --key rsa2048" {
		t.Errorf("ECDSA key type: %v", err)
	}
}

// A PFX built elsewhere around the key of a pending CSR completes that CSR.
func TestWorkshopPFXCompletesCSR(t *testing.T) {
	t.Parallel()
	b := newBench(t)
	rec, leaf := b.order(t, csrtest.LeafOptions{})
	key, err := b.w.Signer(rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := pkcs12.Modern.Encode(key, leaf, []*x509.Certificate{b.vendor.Intermediate}, "pfx-pass-3")
	if err != nil {
		t.Fatal(err)
	}
	d, err := csr.Decode("back.pfx", pfx, csr.DecodeOptions{Password: "pfx-pass-3"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.w.Import(d, b.opts)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := b.w.CSR(rec.ID)
	if res.Cert.ID != rec.ID || res.CSR == nil || got.Status != csr.CSRIssued {
		t.Fatalf("PFX import: id %s, CSR %s %s", res.Cert.ID, rec.ID, got.Status)
	}
}
