package amtsim_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/amtsim/simtest"
)

// activated is a device in ACM after host-based setup, with its admin
// client on port 16992.
func activated(t *testing.T) (*amtsim.Device, *wsman.Client, *simtest.Vendor) {
	t.Helper()
	v := simtest.NewVendor(t, simtest.Options{})
	d := newDevice(t, "16.1.27", v, nil)
	c := localClient(t, d)
	if codes := sendChain(t, c, v.Chain); fmtCodes(codes) != "[0 0 0]" {
		t.Fatalf("AddNextCertInChain codes %v (%s)", codes, d.LastError())
	}
	if rc := code(t, adminSetup(t, c, v, d.Realm(), "P@ssw0rd-new")); rc != amt.SetupSuccess {
		t.Fatalf("AdminSetup %d: %s", rc, d.LastError())
	}
	return d, client(t, d, "admin", "P@ssw0rd-new"), v
}

// firmwareCert runs the firmware half of a TLS certificate: key pair, CSR
// signed by it, certificate from the vendor root, AddCertificate.
func firmwareCert(t *testing.T, d *amtsim.Device, c *wsman.Client, v *simtest.Vendor, serial int64) (certID, keyID string, der []byte) {
	t.Helper()
	keyID, err := c.GenerateKeyPair(ctx(t), 2048)
	if err != nil {
		t.Fatalf("GenerateKeyPair: %v (%s)", err, d.LastError())
	}
	kp, err := c.GetPublicPrivateKeyPair(ctx(t), keyID)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1, _ := base64.StdEncoding.DecodeString(kp.DERKey)
	pub, err := x509.ParsePKCS1PublicKey(pkcs1)
	if err != nil {
		t.Fatalf("DERKey: %v", err)
	}
	signed, err := c.GeneratePKCS10RequestEx(ctx(t), keyID, nullSignedCSR(t, "pc01."+testSuffix, pub), wsman.PKCS10SHA256RSA)
	if err != nil {
		t.Fatalf("GeneratePKCS10RequestEx: %v (%s)", err, d.LastError())
	}
	// The firmware signs with the key it generated, over the subject asked for.
	csr, err := x509.ParseCertificateRequest(signed)
	if err != nil {
		t.Fatalf("signed CSR: %v", err)
	}
	if err := csr.CheckSignature(); err != nil || csr.Subject.CommonName != "pc01."+testSuffix {
		t.Fatalf("signed CSR for %q: signature %v", csr.Subject.CommonName, err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: csr.Subject, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSNames: []string{"pc01." + testSuffix}}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, v.Root, csr.PublicKey, v.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	certID, err = c.AddCertificate(ctx(t), der)
	if err != nil {
		t.Fatalf("AddCertificate: %v (%s)", err, d.LastError())
	}
	return certID, keyID, der
}

// served is the certificate a new handshake on 16993 gets (nil when the
// port refuses or the handshake fails).
func served(t *testing.T, d *amtsim.Device) []byte {
	t.Helper()
	conn, err := d.DialLMS(ctx(t), amtsim.PortTLS)
	if err != nil {
		return nil // no certificate: the port takes no connection
	}
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the certificate is compared by the caller
	defer tc.Close()
	if err := tc.HandshakeContext(ctx(t)); err != nil {
		return nil
	}
	return tc.ConnectionState().PeerCertificates[0].Raw
}

func credentialSelectors(certID string) []wsman.Selector {
	cc := wsman.NewTLSCredentialContext(certID)
	return []wsman.Selector{
		{Name: "ElementInContext", EPR: &cc.ElementInContext},
		{Name: "ElementProvidingContext", EPR: &cc.ElementProvidingContext},
	}
}

func wantFault(t *testing.T, what string, err error, subcode string) {
	t.Helper()
	var f *wsman.Fault
	if !errors.As(err, &f) || f.Subcode != subcode {
		t.Fatalf("%s = %v, want a %s fault", what, err, subcode)
	}
}

func contextCerts(t *testing.T, c *wsman.Client) []string {
	t.Helper()
	ctxs, err := c.TLSCredentialContexts(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, cc := range ctxs {
		ids = append(ids, cc.ElementInContext.InstanceID())
	}
	return ids
}

// TestTLSCertificateReplace is the re-issue an RCS runs on a device that
// serves TLS: Put the credential context at a new certificate, drop the
// old certificate and key; or Delete the context and create a new one.
func TestTLSCertificateReplace(t *testing.T) {
	d, c, v := activated(t)
	certA, keyA, derA := firmwareCert(t, d, c, v, 1)
	if _, err := c.CreateTLSCredentialContext(ctx(t), certA); err != nil {
		t.Fatalf("Create: %v (%s)", err, d.LastError())
	}
	if _, err := c.PutTLSSettingData(ctx(t), &wsman.TLSSettingData{ElementName: wsman.TLSSettingRemote, InstanceID: wsman.TLSSettingRemote, Enabled: true}); err != nil {
		t.Fatalf("PutTLSSettingData: %v (%s)", err, d.LastError())
	}
	if !bytes.Equal(served(t, d), derA) {
		t.Fatal("16993 does not serve the first certificate")
	}
	certB, _, derB := firmwareCert(t, d, c, v, 2)

	// What firmware refuses while A is the TLS certificate.
	_, err := c.CreateTLSCredentialContext(ctx(t), certB)
	wantFault(t, "second Create", err, wsman.SubcodeAlreadyExists)
	wantRefused(t, d, amtsim.RuleState)
	for _, tc := range []struct {
		name    string
		call    func() error
		subcode string
		rule    string
	}{
		{"Delete of the certificate in use", func() error {
			return c.Delete(ctx(t), wsman.ResourcePublicKeyCertificate, wsman.Selector{Name: "InstanceID", Value: certA})
		}, wsman.SubcodeAccessDenied, amtsim.RuleState},
		{"Delete of the key in use", func() error {
			return c.Delete(ctx(t), wsman.ResourcePublicPrivateKeyPair, wsman.Selector{Name: "InstanceID", Value: keyA})
		}, wsman.SubcodeAccessDenied, amtsim.RuleState},
		{"Delete of the context without selectors", func() error { return c.Delete(ctx(t), wsman.ResourceTLSCredentialContext) }, wsman.SubcodeInvalidSelectors, amtsim.RuleParameter},
		{"Delete of the context naming another certificate", func() error {
			return c.Delete(ctx(t), wsman.ResourceTLSCredentialContext, credentialSelectors(certB)...)
		}, wsman.SubcodeInvalidSelectors, amtsim.RuleParameter},
		{"Put naming another certificate", func() error { return putContext(t, c, certB, certB) }, wsman.SubcodeInvalidSelectors, amtsim.RuleParameter},
		{"Put at a certificate not stored", func() error { return putContext(t, c, certA, "Intel(r) AMT Certificate: Handle: 99") }, wsman.SubcodeInvalidRepresentation, amtsim.RuleParameter},
	} {
		n := len(d.Events())
		wantFault(t, tc.name, tc.call(), tc.subcode)
		if evs := d.Events(); len(evs) <= n || evs[len(evs)-1].Kind != "refused" {
			t.Fatalf("%s: no refusal in the event log", tc.name)
		}
		wantRefused(t, d, tc.rule)
	}
	if !bytes.Equal(served(t, d), derA) {
		t.Fatal("a refused call changed the served certificate")
	}

	// Put: B from the next handshake on; A and its key can go.
	if err := putContext(t, c, certA, certB); err != nil {
		t.Fatalf("Put: %v (%s)", err, d.LastError())
	}
	if got := contextCerts(t, c); len(got) != 1 || got[0] != certB {
		t.Fatalf("contexts after Put: %v, want [%s]", got, certB)
	}
	if !bytes.Equal(served(t, d), derB) {
		t.Fatal("16993 does not serve the certificate Put installed")
	}
	if err := c.Delete(ctx(t), wsman.ResourcePublicKeyCertificate, wsman.Selector{Name: "InstanceID", Value: certA}); err != nil {
		t.Fatalf("Delete old certificate: %v (%s)", err, d.LastError())
	}
	if err := c.Delete(ctx(t), wsman.ResourcePublicPrivateKeyPair, wsman.Selector{Name: "InstanceID", Value: keyA}); err != nil {
		t.Fatalf("Delete old key: %v (%s)", err, d.LastError())
	}
	if _, err := c.GetPublicKeyCertificate(ctx(t), certA); err == nil {
		t.Fatal("the deleted certificate is still stored")
	}

	// Delete: no certificate until a new context exists.
	if err := c.Delete(ctx(t), wsman.ResourceTLSCredentialContext, credentialSelectors(certB)...); err != nil {
		t.Fatalf("Delete context: %v (%s)", err, d.LastError())
	}
	if got := contextCerts(t, c); len(got) != 0 {
		t.Fatalf("contexts after Delete: %v", got)
	}
	if served(t, d) != nil {
		t.Fatal("16993 completes a handshake with no credential context")
	}
	certC, _, derC := firmwareCert(t, d, c, v, 3)
	if _, err := c.CreateTLSCredentialContext(ctx(t), certC); err != nil {
		t.Fatalf("Create after Delete: %v (%s)", err, d.LastError())
	}
	if !bytes.Equal(served(t, d), derC) {
		t.Fatal("16993 does not serve the certificate of the new context")
	}
}

// putContext points the context that holds certificate old at certificate
// next, as an RCS does: the selectors are the references it enumerated.
func putContext(t *testing.T, c *wsman.Client, old, next string) error {
	t.Helper()
	_, err := wsman.Put[wsman.TLSCredentialContext](ctx(t), c, wsman.ResourceTLSCredentialContext, wsman.NewTLSCredentialContext(next), credentialSelectors(old)...)
	return err
}

// TestSetOSHostname: the OS rename shows in HostOSFQDN; AMT's own name
// stays until it is written.
func TestSetOSHostname(t *testing.T) {
	d, c, _ := activated(t)
	d.SetOSHostname("pc02")
	gs, err := c.GetGeneralSettings(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if gs.HostOSFQDN != "pc02."+testSuffix || gs.HostName != "pc01" {
		t.Fatalf("after the rename: HostOSFQDN %q, HostName %q; want pc02.%s and pc01", gs.HostOSFQDN, gs.HostName, testSuffix)
	}
}
