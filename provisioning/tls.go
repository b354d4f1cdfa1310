package provisioning

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/pki"
	"github.com/amtrcs/amtrcs/store"
)

// TLS on the device after activation (issue 7, item 2): the firmware
// generates the key, signs the CSR, and serves the certificate the
// internal CA issued for its FQDN; from then on the RCS reaches the device
// on port 16993 and verifies it against the CA root pinned in the device's
// state, not against any system root.

// TLSMode is how the device's TLS listener authenticates clients.
type TLSMode string

const (
	TLSServerAuth TLSMode = "server" // AMT proves its identity
	TLSMutual     TLSMode = "mutual" // consoles present a certificate too (network side only)
)

// ProfileTLS is a profile's TLS choice.
type ProfileTLS struct {
	Enabled bool    `json:"enabled"`
	Mode    TLSMode `json:"mode,omitempty"`
}

// TLSIssuer signs the CSRs device firmware makes. *pki.CA is one.
type TLSIssuer interface {
	SignAMTTLS(ctx context.Context, csr *x509.CertificateRequest, fqdn string, opts ...pki.SignOption) (*x509.Certificate, []*x509.Certificate, error)
	Roots() []*x509.Certificate
}

var _ TLSIssuer = (*pki.CA)(nil)

// TLSOptions configure device TLS.
type TLSOptions struct {
	// Issuer is the internal CA (nil: TLS cannot be configured, and says so).
	Issuer TLSIssuer
	// ClientCertificate is what the RCS presents to a device in mutual
	// mode: a client certificate from the same CA.
	ClientCertificate *tls.Certificate
	// RenewBefore: a certificate with less time left is re-issued
	// (default DefaultTLSRenewBefore).
	RenewBefore time.Duration
}

// DefaultTLSRenewBefore is the reference's lead time for re-issuing AMT TLS
// certificates (§10).
const DefaultTLSRenewBefore = 30 * 24 * time.Hour

// TLSKeyBits is the firmware key size: AMT generates RSA-2048 only.
const TLSKeyBits = 2048

// Rules of TLS refusals.
const (
	RuleAMTFQDN           = "AMT FQDN"
	RuleTLSIssuer         = "internal CA"
	RuleDeviceTLSIdentity = "device TLS identity"
	RuleFirmwareCSR       = "firmware CSR"
)

// TLSState is the device's TLS as the RCS configured it. Root is the
// pinned CA root; Chain the leaf and the intermediates the device's
// certificate chains through (the firmware serves the leaf alone).
type TLSState struct {
	FQDN         string    `json:"fqdn"`
	Mode         TLSMode   `json:"mode"`
	Serial       string    `json:"serial"`
	NotBefore    time.Time `json:"not_before"`
	NotAfter     time.Time `json:"not_after"`
	CertInstance string    `json:"cert_instance"`
	KeyInstance  string    `json:"key_instance"`
	Chain        [][]byte  `json:"chain"`
	Root         []byte    `json:"root"`
	Issued       time.Time `json:"issued"`
	Reissues     int       `json:"reissues,omitempty"`
}

// DaysLeft is the certificate's remaining validity at now, in whole days
// (negative once expired).
func (s *TLSState) DaysLeft(now time.Time) int {
	return int(math.Floor(s.NotAfter.Sub(now).Hours() / 24))
}

func (e *Engine) renewBefore() time.Duration {
	if e.opts.TLS.RenewBefore > 0 {
		return e.opts.TLS.RenewBefore
	}
	return DefaultTLSRenewBefore
}

// ConfigureTLS gives a provisioned device its TLS certificate and turns
// TLS on in the profile's mode (server-auth when the profile says
// nothing), replacing any certificate it had.
func (e *Engine) ConfigureTLS(ctx context.Context, dev *Device) (*MaintenanceResult, error) {
	return e.maintenance(ctx, dev, TaskTLS, func(ctx context.Context, r *run, res *MaintenanceResult) error {
		return r.issueTLS(ctx, res, "")
	})
}

// RenewTLS is the TLS task: it configures TLS on a device whose profile
// wants it and has none, and re-issues the certificate when fewer than
// RenewBefore remain, when its name is not the AMT FQDN, or when force.
func (e *Engine) RenewTLS(ctx context.Context, dev *Device, force bool) (*MaintenanceResult, error) {
	return e.maintenance(ctx, dev, TaskTLS, func(ctx context.Context, r *run, res *MaintenanceResult) error {
		st, err := e.State(r.sess.Device)
		if err != nil {
			return err
		}
		if st.TLS == nil {
			if !r.prof.TLS.Enabled && !force {
				res.Notes = append(res.Notes, fmt.Sprintf("profile %q has TLS off: nothing to do (turn it on in the profile, or run the task on demand)", r.prof.Name))
				return nil
			}
			return r.issueTLS(ctx, res, "")
		}
		fqdn, err := r.amtFQDN(ctx)
		if err != nil {
			return err
		}
		now := e.opts.Clock()
		left := st.TLS.NotAfter.Sub(now)
		switch {
		case force:
			res.Notes = append(res.Notes, "re-issued on demand")
		case !strings.EqualFold(fqdn, st.TLS.FQDN):
			res.Notes = append(res.Notes, fmt.Sprintf("certificate names %s, AMT is %s: re-issued", st.TLS.FQDN, fqdn))
		case left < e.renewBefore():
			res.Notes = append(res.Notes, fmt.Sprintf("%d days left, fewer than %d: re-issued", st.TLS.DaysLeft(now), int(e.renewBefore().Hours()/24)))
		default:
			res.Notes = append(res.Notes, fmt.Sprintf("certificate for %s has %d days left: not due", st.TLS.FQDN, st.TLS.DaysLeft(now)))
			return nil
		}
		return r.issueTLS(ctx, res, fqdn)
	})
}

// amtFQDN reads the name AMT calls itself: the name its certificate must
// carry, since consoles connect by it.
func (r *run) amtFQDN(ctx context.Context) (string, error) {
	c, err := r.adminConn()
	if err != nil {
		return "", err
	}
	gs, err := c.GetGeneralSettings(ctx)
	if err != nil {
		return "", fmt.Errorf("read AMT_GeneralSettings: %w", err)
	}
	if gs.HostName == "" || gs.DomainName == "" {
		return "", Reason{Rule: RuleAMTFQDN, Seen: fmt.Sprintf("host name %q, domain %q", gs.HostName, gs.DomainName),
			Want: "both, so that the certificate can name host.domain",
			Fix:  "run the network-sync task (it copies the OS FQDN into AMT), or set sync_hostname in the profile"}
	}
	return strings.ToLower(gs.HostName + "." + gs.DomainName), nil
}

// issueTLS runs the TLS sequence: firmware key, firmware CSR, certificate
// from the CA, AddCertificate, credential context, settings, commit; then
// records the state and proves the new TLS endpoint answers. fqdn may be
// empty (read from AMT).
func (r *run) issueTLS(ctx context.Context, res *MaintenanceResult, fqdn string) error {
	e := r.e
	issuer := e.opts.TLS.Issuer
	if issuer == nil || len(issuer.Roots()) == 0 {
		return Reason{Rule: RuleTLSIssuer, Seen: "no CA configured for device TLS", Want: "the internal CA (pki)",
			Fix: "configure the ca block (embedded or external step-ca) so that the server can issue AMT TLS certificates"}
	}
	mode := r.prof.TLS.Mode
	if mode == "" {
		mode = TLSServerAuth
	}
	if mode == TLSMutual && e.opts.TLS.ClientCertificate == nil {
		return Reason{Rule: RuleTLSIssuer, Seen: "mutual TLS without an RCS client certificate", Want: "a client certificate from the internal CA",
			Fix: "give the server a client certificate, or use tls mode \"server\""}
	}
	var err error
	if fqdn == "" {
		if fqdn, err = r.amtFQDN(ctx); err != nil {
			return err
		}
	}
	prev, err := e.State(r.sess.Device)
	if err != nil {
		return err
	}
	c, err := r.adminConn()
	if err != nil {
		return err
	}
	keyID, err := c.GenerateKeyPair(ctx, TLSKeyBits)
	if err != nil {
		return fmt.Errorf("GenerateKeyPair RSA-%d: %w", TLSKeyBits, err)
	}
	res.Steps = append(res.Steps, "generate-key-pair")
	kp, err := c.GetPublicPrivateKeyPair(ctx, keyID)
	if err != nil {
		return fmt.Errorf("read key pair %q: %w", keyID, err)
	}
	pub, err := parseDERKey(kp.DERKey)
	if err != nil {
		return fmt.Errorf("key pair %q: %w", keyID, err)
	}
	null, err := nullSignedCSR(pub, fqdn)
	if err != nil {
		return err
	}
	der, err := c.GeneratePKCS10RequestEx(ctx, keyID, null, wsman.PKCS10SHA256RSA)
	if err != nil {
		return fmt.Errorf("GeneratePKCS10RequestEx: %w", err)
	}
	csr, err := checkFirmwareCSR(der, pub)
	if err != nil {
		return err
	}
	res.Steps = append(res.Steps, "firmware-csr")
	leaf, inters, err := issuer.SignAMTTLS(ctx, csr, fqdn)
	if err != nil {
		return fmt.Errorf("issue the TLS certificate for %s: %w", fqdn, err)
	}
	res.Steps = append(res.Steps, "issue")
	certID, err := c.AddCertificate(ctx, leaf.Raw)
	if err != nil {
		return fmt.Errorf("AddCertificate: %w", err)
	}
	res.Steps = append(res.Steps, "add-certificate")
	root := issuer.Roots()[0]
	if mode == TLSMutual {
		// The firmware checks console certificates against its trusted roots.
		if _, err := c.AddTrustedRootCertificate(ctx, root.Raw); err != nil && !isAlreadyExists(err) {
			return fmt.Errorf("AddTrustedRootCertificate %q: %w", root.Subject.CommonName, err)
		}
		res.Steps = append(res.Steps, "add-trusted-root")
	}
	if err := setCredential(ctx, c, certID); err != nil {
		return err
	}
	res.Steps = append(res.Steps, "tls-credential-context")
	if err := setTLSSettings(ctx, c, mode); err != nil {
		return err
	}
	res.Steps = append(res.Steps, "tls-settings", "commit")
	res.Changed = true

	now := e.opts.Clock()
	ts := &TLSState{FQDN: fqdn, Mode: mode, Serial: leaf.SerialNumber.Text(16), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
		CertInstance: certID, KeyInstance: keyID, Root: root.Raw, Issued: now}
	ts.Chain = append(ts.Chain, leaf.Raw)
	for _, ic := range inters {
		ts.Chain = append(ts.Chain, ic.Raw)
	}
	if prev.TLS != nil {
		ts.Reissues = prev.TLS.Reissues + 1
	}
	err = e.st.Update(func(tx *store.Tx) error {
		if err := updateState(tx, r.sess.Device, now, func(s *DeviceState) { s.TLS = ts }); err != nil {
			return err
		}
		return tx.Audit(store.Event{Time: now, Actor: e.opts.Actor, Action: "maintain.tls.issued", Subject: r.sess.Device, Outcome: store.OutcomeSuccess,
			Detail: map[string]string{"fqdn": fqdn, "mode": string(mode), "serial": ts.Serial, "not_after": leaf.NotAfter.UTC().Format(time.RFC3339)}})
	})
	if err != nil {
		return fmt.Errorf("record the device's TLS certificate: %w", err)
	}
	// From here on the device is reached over TLS: prove it.
	r.admin.close()
	r.admin = nil
	tc, err := r.adminConn()
	if err != nil {
		return err
	}
	if _, err := tc.GetGeneralSettings(ctx); err != nil {
		return fmt.Errorf("WS-MAN over TLS on port %d after configuring it: %w", PortTLS, err)
	}
	res.Steps = append(res.Steps, "verify-tls")
	if prev.TLS != nil && prev.TLS.CertInstance != certID {
		// The firmware's store is small (a few dozen entries): drop what
		// the new certificate replaced. Best effort.
		if err := tc.Delete(ctx, wsman.ResourcePublicKeyCertificate, wsman.Selector{Name: "InstanceID", Value: prev.TLS.CertInstance}); err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("old certificate %s left in the firmware: %v", prev.TLS.CertInstance, err))
		}
		if err := tc.Delete(ctx, wsman.ResourcePublicPrivateKeyPair, wsman.Selector{Name: "InstanceID", Value: prev.TLS.KeyInstance}); err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("old key pair %s left in the firmware: %v", prev.TLS.KeyInstance, err))
		}
	}
	res.Notes = append(res.Notes, fmt.Sprintf("TLS %s for %s until %s", mode, fqdn, leaf.NotAfter.UTC().Format("2006-01-02")))
	return nil
}

// tlsSettings are the AMT_TLSSettingData instances for mode: AMT does
// mutual TLS on the network side only; local tools on the host keep plain
// LMS so that the OS side is not locked out.
func tlsSettings(mode TLSMode) []wsman.TLSSettingData {
	return []wsman.TLSSettingData{
		{ElementName: wsman.TLSSettingRemote, InstanceID: wsman.TLSSettingRemote, Enabled: true, MutualAuthentication: mode == TLSMutual},
		{ElementName: wsman.TLSSettingLocal, InstanceID: wsman.TLSSettingLocal, Enabled: true, AcceptNonSecureConnections: true},
	}
}

// setTLSSettings puts the TLS settings of mode and commits them: the TLS
// task and the enforce task call it.
func setTLSSettings(ctx context.Context, c *conn, mode TLSMode) error {
	for _, s := range tlsSettings(mode) {
		if _, err := c.PutTLSSettingData(ctx, &s); err != nil {
			return fmt.Errorf("put AMT_TLSSettingData %q: %w", s.InstanceID, err)
		}
	}
	if err := c.CommitChanges(ctx); err != nil {
		return fmt.Errorf("CommitChanges after the TLS settings: %w", err)
	}
	return nil
}

// setCredential makes certID the TLS certificate: a new credential
// context, or the existing one pointed at the new certificate.
func setCredential(ctx context.Context, c *conn, certID string) error {
	ctxs, err := c.TLSCredentialContexts(ctx)
	if err != nil {
		return fmt.Errorf("list AMT_TLSCredentialContext: %w", err)
	}
	if len(ctxs) == 0 {
		if _, err := c.CreateTLSCredentialContext(ctx, certID); err != nil {
			return fmt.Errorf("create AMT_TLSCredentialContext: %w", err)
		}
		return nil
	}
	old := ctxs[0]
	if old.ElementInContext.InstanceID() == certID {
		return nil
	}
	_, err = wsman.Put[wsman.TLSCredentialContext](ctx, c.Client, wsman.ResourceTLSCredentialContext, wsman.NewTLSCredentialContext(certID),
		wsman.Selector{Name: "ElementInContext", EPR: &old.ElementInContext},
		wsman.Selector{Name: "ElementProvidingContext", EPR: &old.ElementProvidingContext})
	if err != nil {
		return fmt.Errorf("put AMT_TLSCredentialContext (replace certificate %s with %s): %w", old.ElementInContext.InstanceID(), certID, err)
	}
	return nil
}

func isAlreadyExists(err error) bool {
	var f *wsman.Fault
	return errors.As(err, &f) && f.Subcode == wsman.SubcodeAlreadyExists
}

// parseDERKey reads AMT_PublicPrivateKeyPair.DERKey: base64 of a PKCS#1
// RSA public key (some firmware sends SubjectPublicKeyInfo).
func parseDERKey(b64key string) (*rsa.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64key))
	if err != nil {
		return nil, fmt.Errorf("DERKey is not base64: %w", err)
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("DERKey is neither PKCS#1 nor SubjectPublicKeyInfo: %w", err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("DERKey is a %T, want RSA", k)
	}
	return rk, nil
}

// ASN.1 of the PKCS#10 request (RFC 2986) the firmware signs: Go's
// x509 builds only requests it signs itself, and the key is in the
// firmware.
type csrAttribute struct {
	Type   asn1.ObjectIdentifier
	Values [][]pkix.Extension `asn1:"set"`
}

type csrInfo struct {
	Version    int
	Subject    asn1.RawValue
	PublicKey  asn1.RawValue
	Attributes []csrAttribute `asn1:"tag:0"`
}

type csrOuter struct {
	Info      asn1.RawValue
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
}

var (
	oidExtensionRequest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}
	oidSubjectAltName   = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidSHA256WithRSA    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
)

// nullSignedCSR is the request the firmware signs (its "null-signed"
// input): CN and DNS SAN fqdn, for pub, with a zero signature that
// GeneratePKCS10RequestEx replaces.
func nullSignedCSR(pub *rsa.PublicKey, fqdn string) ([]byte, error) {
	subject, err := asn1.Marshal(pkix.Name{CommonName: fqdn}.ToRDNSequence())
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	san, err := asn1.Marshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(fqdn)}})
	if err != nil {
		return nil, err
	}
	info, err := asn1.Marshal(csrInfo{
		Subject: asn1.RawValue{FullBytes: subject}, PublicKey: asn1.RawValue{FullBytes: spki},
		Attributes: []csrAttribute{{Type: oidExtensionRequest, Values: [][]pkix.Extension{{{Id: oidSubjectAltName, Value: san}}}}},
	})
	if err != nil {
		return nil, err
	}
	der, err := asn1.Marshal(csrOuter{
		Info:      asn1.RawValue{FullBytes: info},
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidSHA256WithRSA, Parameters: asn1.NullRawValue},
		Signature: asn1.BitString{Bytes: make([]byte, pub.Size()), BitLength: pub.Size() * 8},
	})
	if err != nil {
		return nil, fmt.Errorf("build the CSR for %s: %w", fqdn, err)
	}
	return der, nil
}

// checkFirmwareCSR proves the firmware signed the request with the key
// pair it generated.
func checkFirmwareCSR(der []byte, pub *rsa.PublicKey) (*x509.CertificateRequest, error) {
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, Reason{Rule: RuleFirmwareCSR, Seen: "GeneratePKCS10RequestEx returned no PKCS#10 request: " + err.Error(), Want: "a DER CSR", Fix: "update the AMT firmware"}
	}
	if !pub.Equal(csr.PublicKey) {
		return nil, Reason{Rule: RuleFirmwareCSR, Seen: "a request for another public key", Want: "the key pair GenerateKeyPair made", Fix: "run the task again"}
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, Reason{Rule: RuleFirmwareCSR, Seen: "a signature that does not verify (" + err.Error() + ")", Want: "a request signed by the firmware key", Fix: "run the task again; if it repeats, the firmware did not sign the request"}
	}
	return csr, nil
}

// deviceTLSConfig is the client configuration for a device whose TLS the
// RCS configured: the certificate must chain to the pinned root, through
// the recorded intermediates, and name the recorded FQDN, at the engine's
// clock. ok is false when the device has no TLS.
func (e *Engine) deviceTLSConfig(device string) (*tls.Config, bool) {
	st, err := e.State(device)
	if err != nil || st.TLS == nil {
		return nil, false
	}
	ts := st.TLS
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		// Verified below: against the pinned root only, with the
		// intermediates the firmware does not send, at the injected clock.
		InsecureSkipVerify: true,
		VerifyConnection:   func(cs tls.ConnectionState) error { return e.verifyDeviceTLS(cs, ts) },
	}
	if ts.Mode == TLSMutual && e.opts.TLS.ClientCertificate != nil {
		cc := e.opts.TLS.ClientCertificate
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cc, nil }
	}
	return cfg, true
}

func (e *Engine) verifyDeviceTLS(cs tls.ConnectionState, ts *TLSState) error {
	if len(cs.PeerCertificates) == 0 {
		return Reason{Rule: RuleDeviceTLSIdentity, Seen: "no certificate", Want: "the certificate the internal CA issued for " + ts.FQDN, Fix: "check that the stream reaches AMT port 16993"}
	}
	root, err := x509.ParseCertificate(ts.Root)
	if err != nil {
		return fmt.Errorf("pinned CA root of the device's TLS state: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	inter := x509.NewCertPool()
	for _, der := range ts.Chain[min(1, len(ts.Chain)):] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: ts.FQDN, Roots: roots, Intermediates: inter, CurrentTime: e.opts.Clock(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return Reason{Rule: RuleDeviceTLSIdentity,
			Seen: fmt.Sprintf("certificate %q (serial %s) does not verify for %s: %v", leaf.Subject.CommonName, leaf.SerialNumber.Text(16), ts.FQDN, err),
			Want: fmt.Sprintf("a certificate for %s from the internal CA root %q", ts.FQDN, root.Subject.CommonName),
			Fix:  "run the tls task on demand to issue a new one (amtrcs device maintain ID --task tls)"}
	}
	return nil
}
