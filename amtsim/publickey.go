package amtsim

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // GeneratePKCS10RequestEx SigningAlgorithm 0 is SHA-1, refused from AMT 16 only
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
)

// AMT_PublicKeyManagementService and the certificates and keys it holds.

const (
	certElementName = "Intel(r) AMT Certificate"
	keyElementName  = "Intel(r) AMT Key"
	pkmsName        = "Intel(r) AMT Public Key Management Service"
	// maxStoredCerts bounds the firmware's certificate store.
	maxStoredCerts = 32
)

type storedCert struct {
	InstanceID  string `json:"instance_id"`
	DER         []byte `json:"der"`
	TrustedRoot bool   `json:"trusted_root"`
	KeyID       string `json:"key_id,omitempty"` // the key pair it belongs to
}

// storedKey is a key pair the firmware generated. Its private key is a test
// secret of the simulator, saved with the device.
type storedKey struct {
	InstanceID string `json:"instance_id"`
	PKCS8      []byte `json:"pkcs8"`
}

func (d *Device) nextHandleLocked(prefix string) string {
	id := fmt.Sprintf("%s: Handle: %d", prefix, d.st.NextHandle)
	d.st.NextHandle++
	return id
}

func (d *Device) keyLocked(id string) (*rsa.PrivateKey, bool) {
	if k, ok := d.keyCache[id]; ok {
		return k, true
	}
	for _, sk := range d.st.Keys {
		if sk.InstanceID != id {
			continue
		}
		k, err := x509.ParsePKCS8PrivateKey(sk.PKCS8)
		rk, ok := k.(*rsa.PrivateKey)
		if err != nil || !ok {
			return nil, false
		}
		if d.keyCache == nil {
			d.keyCache = map[string]*rsa.PrivateKey{}
		}
		d.keyCache[id] = rk
		return rk, true
	}
	return nil, false
}

func (d *Device) certLocked(id string) *storedCert {
	for _, c := range d.st.Certs {
		if c.InstanceID == id {
			return c
		}
	}
	return nil
}

func certInstance(c *storedCert) *wsman.PublicKeyCertificate {
	p := &wsman.PublicKeyCertificate{
		ElementName: certElementName, InstanceID: c.InstanceID,
		TrustedRootCertficate: c.TrustedRoot, X509Certificate: base64.StdEncoding.EncodeToString(c.DER),
	}
	if x, err := x509.ParseCertificate(c.DER); err == nil {
		p.Issuer, p.Subject = amtName(x.Issuer), amtName(x.Subject)
	}
	return p
}

// amtName prints a name as AMT does: "C=..,O=..,CN=..".
func amtName(n pkix.Name) string {
	var parts []string
	add := func(k string, vs []string) {
		for _, v := range vs {
			parts = append(parts, k+"="+v)
		}
	}
	add("C", n.Country)
	add("ST", n.Province)
	add("L", n.Locality)
	add("O", n.Organization)
	add("OU", n.OrganizationalUnit)
	if n.CommonName != "" {
		parts = append(parts, "CN="+n.CommonName)
	}
	return strings.Join(parts, ",")
}

func (d *Device) keyInstanceLocked(sk *storedKey) *wsman.PublicPrivateKeyPair {
	p := &wsman.PublicPrivateKeyPair{ElementName: keyElementName, InstanceID: sk.InstanceID}
	if k, ok := d.keyLocked(sk.InstanceID); ok {
		p.DERKey = base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&k.PublicKey))
	}
	return p
}

func selectorID(r *wsman.Request) (string, error) {
	id, ok := r.Header.Selector("InstanceID")
	if !ok {
		return "", wsman.NewFault(wsman.SubcodeInvalidSelectors, wsman.DetailInsufficientSelectors)
	}
	return id, nil
}

func (rt *routes) publicKey() {
	res := wsman.ResourcePublicKeyManagementService
	inst := func(*Device) any {
		return &wsman.PublicKeyManagementService{
			CreationClassName: "AMT_PublicKeyManagementService", ElementName: pkmsName, EnabledDefault: 5,
			EnabledState: 5, Name: pkmsName, RequestedState: 12,
			SystemCreationClassName: "CIM_ComputerSystem", SystemName: "Intel(r) AMT",
		}
	}
	rt.get(res, inst)
	rt.enumeration(res, func(d *Device, _ *caller) []any { return []any{inst(d)} })
	rt.method(res, "AddTrustedRootCertificate", func(d *Device, c *caller, r *wsman.Request) (any, error) {
		return d.addCertificate(c, r, "AddTrustedRootCertificate", true)
	})
	rt.method(res, "AddCertificate", func(d *Device, c *caller, r *wsman.Request) (any, error) {
		return d.addCertificate(c, r, "AddCertificate", false)
	})
	rt.method(res, "GenerateKeyPair", (*Device).generateKeyPair)
	rt.method(res, "GeneratePKCS10RequestEx", (*Device).generatePKCS10RequestEx)

	certs := wsman.ResourcePublicKeyCertificate
	rt.getByID(certs, func(d *Device, id string) (any, bool) {
		if c := d.certLocked(id); c != nil {
			return certInstance(c), true
		}
		return nil, false
	})
	rt.enumeration(certs, func(d *Device, _ *caller) []any {
		d.mu.Lock()
		defer d.mu.Unlock()
		out := make([]any, 0, len(d.st.Certs))
		for _, c := range d.st.Certs {
			out = append(out, certInstance(c))
		}
		return out
	})
	rt.handle(certs, wsman.ActionDelete, func(d *Device, c *caller, r *wsman.Request) (any, error) {
		if err := c.denyLSA("Delete AMT_PublicKeyCertificate"); err != nil {
			return nil, err
		}
		id, err := selectorID(r)
		if err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		for i, sc := range d.st.Certs {
			if sc.InstanceID == id {
				if d.st.TLSCredential == id {
					d.refuseLocked("Delete AMT_PublicKeyCertificate", refusal(RuleState, "certificate "+id+" is the TLS certificate", "a certificate no AMT_TLSCredentialContext uses", "point the credential context at the new certificate (Put) or delete the context first"))
					return nil, wsman.NewFault(wsman.SubcodeAccessDenied, "")
				}
				d.st.Certs = append(d.st.Certs[:i], d.st.Certs[i+1:]...)
				return nil, nil
			}
		}
		return nil, wsman.NewFault(wsman.SubcodeInvalidSelectors, wsman.DetailInvalidValue)
	})

	keys := wsman.ResourcePublicPrivateKeyPair
	rt.getByID(keys, func(d *Device, id string) (any, bool) {
		for _, sk := range d.st.Keys {
			if sk.InstanceID == id {
				return d.keyInstanceLocked(sk), true
			}
		}
		return nil, false
	})
	rt.enumeration(keys, func(d *Device, _ *caller) []any {
		d.mu.Lock()
		defer d.mu.Unlock()
		out := make([]any, 0, len(d.st.Keys))
		for _, sk := range d.st.Keys {
			out = append(out, d.keyInstanceLocked(sk))
		}
		return out
	})
	rt.handle(keys, wsman.ActionDelete, func(d *Device, c *caller, r *wsman.Request) (any, error) {
		if err := c.denyLSA("Delete AMT_PublicPrivateKeyPair"); err != nil {
			return nil, err
		}
		id, err := selectorID(r)
		if err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if sc := d.certLocked(d.st.TLSCredential); sc != nil && sc.KeyID == id {
			d.refuseLocked("Delete AMT_PublicPrivateKeyPair", refusal(RuleState, "key pair "+id+" signs for the TLS certificate "+sc.InstanceID, "a key pair the TLS certificate does not use", "replace the TLS certificate first"))
			return nil, wsman.NewFault(wsman.SubcodeAccessDenied, "")
		}
		for i, sk := range d.st.Keys {
			if sk.InstanceID == id {
				d.st.Keys = append(d.st.Keys[:i], d.st.Keys[i+1:]...)
				delete(d.keyCache, id)
				return nil, nil
			}
		}
		return nil, wsman.NewFault(wsman.SubcodeInvalidSelectors, wsman.DetailInvalidValue)
	})
}

func (d *Device) addCertificate(c *caller, r *wsman.Request, method string, trustedRoot bool) (any, error) {
	in, err := configInput[wsman.CertificateBlobInput](d, c, r, method)
	if err != nil {
		return nil, err
	}
	fail := func(rc amt.ReturnCode) (any, error) {
		o := wsman.NewCreatedCertificateOutput(method, "")
		o.ReturnValue = rc
		return o, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.configurableLocked(c, method) {
		return fail(amt.PTNotPermitted)
	}
	der, err := base64.StdEncoding.DecodeString(in.CertificateBlob)
	var cert *x509.Certificate
	if err == nil {
		cert, err = x509.ParseCertificate(der)
	}
	if err != nil {
		d.refuseLocked(method, refusal(RuleChainParse, err.Error(), "base64 of one DER certificate", "send the certificate as base64 DER"))
		return fail(amt.PTInvalidParameter)
	}
	for _, sc := range d.st.Certs {
		if bytes.Equal(sc.DER, der) {
			return nil, wsman.NewFault(wsman.SubcodeAlreadyExists, "")
		}
	}
	if len(d.st.Certs) >= maxStoredCerts {
		d.refuseLocked(method, refusal(RuleParameter, fmt.Sprintf("%d certificates stored", len(d.st.Certs)), fmt.Sprintf("at most %d", maxStoredCerts), "delete unused certificates first"))
		return fail(amt.PTInvalidParameter)
	}
	sc := &storedCert{DER: der, TrustedRoot: trustedRoot}
	if trustedRoot {
		if !cert.IsCA {
			d.refuseLocked(method, refusal(RuleParameter, certName(cert)+" is not a CA", "a CA certificate", "add the root or intermediate, not a leaf"))
			return fail(amt.PTInvalidParameter)
		}
	} else {
		for _, sk := range d.st.Keys {
			k, ok := d.keyLocked(sk.InstanceID)
			if ok && k.PublicKey.Equal(cert.PublicKey) {
				sc.KeyID = sk.InstanceID
			}
		}
		if sc.KeyID == "" {
			d.refuseLocked(method, refusal(RuleParameter, certName(cert)+" for a key the firmware does not hold", "a certificate for a key from GenerateKeyPair", "issue the certificate for the CSR from GeneratePKCS10RequestEx"))
			return fail(amt.PTInvalidParameter)
		}
	}
	if !d.flashWriteLocked(method) {
		return fail(amt.PTFlashWriteLimitExceed)
	}
	sc.InstanceID = d.nextHandleLocked(certElementName)
	d.st.Certs = append(d.st.Certs, sc)
	d.eventLocked("config", fmt.Sprintf("%s: %s as %s", method, certName(cert), sc.InstanceID))
	return wsman.NewCreatedCertificateOutput(method, sc.InstanceID), nil
}

func (d *Device) generateKeyPair(c *caller, r *wsman.Request) (any, error) {
	const call = "GenerateKeyPair"
	in, err := configInput[wsman.GenerateKeyPairInput](d, c, r, call)
	if err != nil {
		return nil, err
	}
	out := func(rc amt.ReturnCode, id string) (any, error) {
		o := &wsman.GenerateKeyPairOutput{KeyPair: wsman.NewEPR(wsman.ResourcePublicPrivateKeyPair, wsman.Selector{Name: "InstanceID", Value: id})}
		o.ReturnValue = rc
		return o, nil
	}
	d.mu.Lock()
	ok := d.configurableLocked(c, call)
	if ok && (in.KeyAlgorithm != wsman.KeyAlgorithmRSA || in.KeyLength != 2048) {
		d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("KeyAlgorithm %d, KeyLength %d", in.KeyAlgorithm, in.KeyLength), "KeyAlgorithm 0 (RSA), KeyLength 2048", "ask for an RSA-2048 key"))
		d.mu.Unlock()
		return out(amt.PTInvalidParameter, "")
	}
	d.mu.Unlock()
	if !ok {
		return out(amt.PTNotPermitted, "")
	}
	key, err := pool.get() // outside the lock: the first keys take a while
	if err != nil {
		return out(amt.PTInternalError, "")
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return out(amt.PTInternalError, "")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.flashWriteLocked(call) {
		return out(amt.PTFlashWriteLimitExceed, "")
	}
	id := d.nextHandleLocked(keyElementName)
	d.st.Keys = append(d.st.Keys, &storedKey{InstanceID: id, PKCS8: p8})
	d.eventLocked("config", "GenerateKeyPair: RSA-2048 as "+id)
	return out(amt.PTSuccess, id)
}

// certificationRequest is the outer structure of a PKCS#10 request: the
// firmware keeps the client's CertificationRequestInfo byte for byte and
// only adds its signature.
type certificationRequest struct {
	Info      asn1.RawValue
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
}

var (
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
)

func (d *Device) generatePKCS10RequestEx(c *caller, r *wsman.Request) (any, error) {
	const call = "GeneratePKCS10RequestEx"
	in, err := configInput[wsman.GeneratePKCS10RequestExInput](d, c, r, call)
	if err != nil {
		return nil, err
	}
	out := func(rc amt.ReturnCode, der []byte) (any, error) {
		o := &wsman.GeneratePKCS10RequestExOutput{SignedCertificateRequest: base64.StdEncoding.EncodeToString(der)}
		o.ReturnValue = rc
		return o, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.configurableLocked(c, call) {
		return out(amt.PTNotPermitted, nil)
	}
	key, ok := d.keyLocked(in.KeyPair.InstanceID())
	if !ok {
		d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("key pair %q", in.KeyPair.InstanceID()), "a key from GenerateKeyPair", "pass the KeyPair reference GenerateKeyPair returned"))
		return out(amt.PTInvalidParameter, nil)
	}
	hash, oid := crypto.SHA256, oidSHA256WithRSA
	switch in.SigningAlgorithm {
	case wsman.PKCS10SHA256RSA:
	case wsman.PKCS10SHA1RSA:
		if d.profile.RefuseSHA1 {
			d.refuseLocked(call, refusal(RuleSHA1Chain, "SigningAlgorithm 0 (SHA-1) on AMT "+d.version.String(), "1 (SHA-256)", "ask for a SHA-256 signed request"))
			return out(amt.PTInvalidParameter, nil)
		}
		hash, oid = crypto.SHA1, oidSHA1WithRSA
	default:
		d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("SigningAlgorithm %d", in.SigningAlgorithm), "1 (SHA-256)", "send SigningAlgorithm 1"))
		return out(amt.PTInvalidParameter, nil)
	}
	raw, err := base64.StdEncoding.DecodeString(in.NullSignedCertificateRequest)
	var csr *x509.CertificateRequest
	if err == nil {
		csr, err = x509.ParseCertificateRequest(raw)
	}
	if err != nil {
		d.refuseLocked(call, refusal(RuleParameter, "NullSignedCertificateRequest: "+err.Error(), "base64 of a DER PKCS#10 request", "build the request with the key pair's public key and an empty signature"))
		return out(amt.PTInvalidParameter, nil)
	}
	if !key.PublicKey.Equal(csr.PublicKey) {
		d.refuseLocked(call, refusal(RuleParameter, "a request for another public key", "the key pair's public key", "put the DERKey of the key pair in the request"))
		return out(amt.PTInvalidParameter, nil)
	}
	var digest []byte
	if hash == crypto.SHA1 {
		s := sha1.Sum(csr.RawTBSCertificateRequest) //nolint:gosec // see import
		digest = s[:]
	} else {
		s := sha256.Sum256(csr.RawTBSCertificateRequest)
		digest = s[:]
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, hash, digest)
	if err != nil {
		return out(amt.PTInternalError, nil)
	}
	der, err := asn1.Marshal(certificationRequest{
		Info:      asn1.RawValue{FullBytes: csr.RawTBSCertificateRequest},
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: asn1.NullRawValue},
		Signature: asn1.BitString{Bytes: sig, BitLength: len(sig) * 8},
	})
	if err != nil {
		return out(amt.PTInternalError, nil)
	}
	return out(amt.PTSuccess, der)
}

// tlsCertLocked is the TLS server certificate AMT_TLSCredentialContext set,
// when TLS is enabled.
func (d *Device) tlsCertLocked() (*tls.Certificate, error) {
	if d.st.TLSCredential == "" || (!d.st.TLSRemote.Enabled && !d.st.TLSLocal.Enabled) {
		return nil, fmt.Errorf("TLS is not configured (AMT_TLSCredentialContext and AMT_TLSSettingData Enabled)")
	}
	sc := d.certLocked(d.st.TLSCredential)
	if sc == nil {
		return nil, fmt.Errorf("TLS certificate %q is gone", d.st.TLSCredential)
	}
	key, ok := d.keyLocked(sc.KeyID)
	if !ok {
		return nil, fmt.Errorf("TLS certificate %q has no key", d.st.TLSCredential)
	}
	return &tls.Certificate{Certificate: [][]byte{sc.DER}, PrivateKey: key}, nil
}
