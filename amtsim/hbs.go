package amtsim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
)

// IPS_HostBasedSetupService: host-based setup (reference §5).

const hbsName = "Intel(r) AMT Host Based Setup Service"

func (rt *routes) hostBasedSetup() {
	res := wsman.ResourceHostBasedSetupService
	rt.handle(res, wsman.ActionGet, func(d *Device, _ *caller, _ *wsman.Request) (any, error) { return d.hbsInstance(), nil })
	rt.enumeration(res, func(d *Device, _ *caller) []any { return []any{d.hbsInstance()} })
	rt.method(res, "AddNextCertInChain", (*Device).addNextCertInChain)
	rt.method(res, "AdminSetup", (*Device).adminSetup)
	rt.method(res, "Setup", (*Device).setupCCM)
	rt.method(res, "UpgradeClientToAdmin", (*Device).upgradeClientToAdmin)
}

// hbsInstance is the service with a fresh ConfigurationNonce: every read
// replaces the nonce, and AdminSetup spends it.
func (d *Device) hbsInstance() *wsman.HostBasedSetupService {
	nonce := make([]byte, 20)
	_, _ = rand.Read(nonce)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nonce = nonce
	allowed := []int{int(amt.ControlACM), int(amt.ControlCCM)}
	if d.st.Mode == amt.ControlCCM {
		allowed = []int{int(amt.ControlACM)}
	}
	return &wsman.HostBasedSetupService{
		AllowedControlModes:     allowed,
		CertChainStatus:         int(d.chainStatus),
		ConfigurationNonce:      base64.StdEncoding.EncodeToString(nonce),
		CreationClassName:       "IPS_HostBasedSetupService",
		CurrentControlMode:      int(d.st.Mode),
		ElementName:             hbsName,
		Name:                    hbsName,
		SystemCreationClassName: "CIM_ComputerSystem",
		SystemName:              "Intel(r) AMT",
	}
}

func (d *Device) chainCheckLocked(suffixes []string) chainCheck {
	maxLen := d.st.Rules.MaxChainLength
	if maxLen <= 0 {
		maxLen = d.profile.MaxChainLength
	}
	return chainCheck{
		version: d.version, profile: d.profile, hashes: d.hashesLocked(),
		now: d.fwNowLocked(), suffixes: suffixes, maxLen: maxLen, rules: d.st.Rules,
	}
}

func (d *Device) deviceSuffixesLocked() []string {
	if s := d.suffixLocked(); s != "" {
		return []string{s}
	}
	return nil
}

func (d *Device) addNextCertInChain(_ *caller, r *wsman.Request) (any, error) {
	const call = "AddNextCertInChain"
	var in wsman.AddNextCertInChainInput
	if err := r.Decode(&in); err != nil {
		return nil, d.badInput(call, err)
	}
	out := func(rc amt.ReturnCode) (any, error) {
		return returned(wsman.ResourceHostBasedSetupService, call, rc), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.setup != nil || (d.st.ProvState != amt.PreProvisioning && d.st.Mode != amt.ControlCCM) {
		d.refuseLocked(call, refusal(RuleState, fmt.Sprintf("%s, control mode %s", d.st.ProvState, d.st.Mode), "pre-provisioning, or CCM before UpgradeClientToAdmin", "unprovision the device first, or use the setup that is in progress"))
		return out(amt.CertChainInvalidState)
	}
	if d.chainStatus == amt.CertChainStatusComplete && !in.IsLeafCertificate {
		d.refuseLocked(call, refusal(RuleChainOrder, "a certificate after the root", "a new chain starting with the leaf", "send the root last and nothing after it"))
		return out(amt.CertChainInvalidState)
	}
	der, err := base64.StdEncoding.DecodeString(in.NextCertificate)
	var cert *x509.Certificate
	if err == nil {
		cert, err = x509.ParseCertificate(der)
	}
	if err != nil {
		d.chain, d.chainStatus = nil, amt.CertChainStatusNotStarted
		d.refuseLocked(call, refusal(RuleChainParse, fmt.Sprintf("NextCertificate of %d characters: %v", len(in.NextCertificate), err), "base64 of one DER certificate", "send each certificate as base64 DER, without PEM headers"))
		return out(amt.CertChainInvalidParam)
	}
	if in.IsLeafCertificate {
		d.chain = nil // a leaf starts a new chain
	}
	var prev *x509.Certificate
	if n := len(d.chain); n > 0 {
		prev = d.chain[n-1]
	}
	k := d.chainCheckLocked(d.deviceSuffixesLocked())
	if rc, re := k.cert(len(d.chain), cert, prev, in.IsLeafCertificate, in.IsRootCertificate); re != nil {
		d.chain, d.chainStatus = nil, amt.CertChainStatusNotStarted
		d.refuseLocked(call, re)
		return out(rc)
	}
	d.chain = append(d.chain, cert)
	d.chainStatus = amt.CertChainStatusInProgress
	if in.IsRootCertificate {
		d.chainStatus = amt.CertChainStatusComplete
		d.eventLocked("setup", fmt.Sprintf("provisioning chain of %d certificates accepted, leaf %s", len(d.chain), certName(d.chain[0])))
	}
	return out(amt.CertChainSuccess)
}

// validNetworkAdminPassword is the HTTPDigestMD5A1 form: 32 lowercase hex
// digits. The firmware cannot check the password itself, only the form.
func validNetworkAdminPassword(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// checkPreProvisioningLocked applies the rule AdminSetup and Setup share:
// only an unprovisioned device with no TLS-based setup open may be activated.
func (d *Device) checkPreProvisioningLocked(call string) bool {
	if d.setup != nil || d.st.ProvState != amt.PreProvisioning {
		d.refuseLocked(call, refusal(RuleState, d.st.ProvState.String(), "pre-provisioning", "unprovision the device before activating it again"))
		return false
	}
	return true
}

// checkChainCompleteLocked applies the rule AdminSetup and
// UpgradeClientToAdmin share: the signature is checked against the leaf of a
// chain that reached its root, never a partial one.
func (d *Device) checkChainCompleteLocked(call string) bool {
	if d.chainStatus != amt.CertChainStatusComplete {
		d.refuseLocked(call, refusal(RuleState, "certificate chain "+d.chainStatus.String(), "a complete chain (AddNextCertInChain up to the root)", "send the whole provisioning chain before "+call))
		return false
	}
	return true
}

// spendChainLocked records the move to ACM and forgets the chain, so the
// next activation has to send (and be checked against) a chain of its own.
func (d *Device) spendChainLocked(call string) {
	d.eventLocked("setup", call+": admin control mode with leaf "+certName(d.chain[0]))
	d.chain, d.chainStatus = nil, amt.CertChainStatusNotStarted
}

// checkNetworkAdminPasswordLocked applies the rules AdminSetup and Setup
// share: the password arrives as the digest A1 and never in the clear.
func (d *Device) checkNetworkAdminPasswordLocked(call string, encType int, pw string) bool {
	if encType != int(amt.PassEncryptionHTTPDigestMD5A1) {
		d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("NetAdminPassEncryptionType %d", encType), "2 (HTTPDigestMD5A1)", "send the password as the digest A1 with type 2"))
		return false
	}
	if !validNetworkAdminPassword(pw) {
		d.refuseLocked(call, refusal(RulePasswordFormat, fmt.Sprintf("%d characters, not 32 lowercase hex digits", len(pw)), "lowercase hex MD5 of admin:<realm>:<password>", "send amt.NetworkAdminPassword(realm, password), never the password itself"))
		return false
	}
	return true
}

// checkSignature verifies DigitalSignature over ConfigurationNonce followed
// by McNonce with the provisioning leaf's key; the nonce is spent whatever
// the outcome, so a signature can be used once.
func (d *Device) checkSignatureLocked(call, mcNonceB64, sigB64 string, alg int) (amt.ReturnCode, bool) {
	if alg != int(amt.SigningRSASHA256) {
		d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("SigningAlgorithm %d", alg), "2 (RSASHA2256)", "sign with RSA PKCS#1 v1.5 SHA-256 and send SigningAlgorithm 2"))
		return amt.SetupInvalidParam, false
	}
	mc, err := base64.StdEncoding.DecodeString(mcNonceB64)
	if err != nil || len(mc) != 20 {
		d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("McNonce %q", mcNonceB64), "base64 of 20 random bytes", "generate 20 random bytes per call and base64 them"))
		return amt.SetupInvalidParam, false
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || len(sig) == 0 {
		d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("DigitalSignature of %d characters", len(sigB64)), "base64 of the RSA signature", "base64 the raw signature bytes"))
		return amt.SetupInvalidParam, false
	}
	nonce := d.nonce
	d.nonce = nil
	if nonce == nil {
		d.refuseLocked(call, refusal(RuleNonce, "no unused ConfigurationNonce", "a nonce read with IPS_HostBasedSetupService Get since the last setup call", "read IPS_HostBasedSetupService again and sign its new ConfigurationNonce"))
		return amt.SetupAuthFailed, false
	}
	pub, ok := d.chain[0].PublicKey.(*rsa.PublicKey)
	h := sha256.Sum256(append(append([]byte(nil), nonce...), mc...))
	if !ok || rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) != nil {
		d.refuseLocked(call, refusal(RuleSignature, "a signature that does not verify with the leaf "+certName(d.chain[0]), "RSA PKCS#1 v1.5 SHA-256 over ConfigurationNonce then McNonce by the leaf's key", "sign the nonce of the latest Get with the provisioning certificate's own key"))
		return amt.SetupAuthFailed, false
	}
	return amt.SetupSuccess, true
}

func (d *Device) adminSetup(_ *caller, r *wsman.Request) (any, error) {
	const call = "AdminSetup"
	var in wsman.AdminSetupInput
	if err := r.Decode(&in); err != nil {
		return nil, d.badInput(call, err)
	}
	out := func(rc amt.ReturnCode) (any, error) {
		return returned(wsman.ResourceHostBasedSetupService, call, rc), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.profile.AdminSetup {
		d.refuseLocked(call, refusal(RuleAdminSetupRemoved, "AdminSetup on AMT "+d.version.String(), "AMT 7 to 18", "use TLS-based setup: StartConfigurationHBased, then SetAdminAclEntryEx, SetMEBxPassword and CommitChanges over TLS on port 16993"))
		return out(amt.SetupInvalidState)
	}
	if !d.checkPreProvisioningLocked(call) {
		return out(amt.SetupInvalidState)
	}
	if !d.checkChainCompleteLocked(call) {
		return out(amt.SetupInvalidState)
	}
	if !d.checkNetworkAdminPasswordLocked(call, in.NetAdminPassEncryptionType, in.NetworkAdminPassword) {
		return out(amt.SetupInvalidParam)
	}
	if rc, ok := d.checkSignatureLocked(call, in.McNonce, in.DigitalSignature, in.SigningAlgorithm); !ok {
		return out(rc)
	}
	if !d.flashWriteLocked(call) {
		return out(amt.SetupFlashWriteExceeded)
	}
	d.st.AdminUser, d.st.AdminHA1 = amt.AdminUser, in.NetworkAdminPassword
	d.st.ProvState, d.st.Mode = amt.PostProvisioning, amt.ControlACM
	d.spendChainLocked(call)
	return out(amt.SetupSuccess)
}

func (d *Device) setupCCM(_ *caller, r *wsman.Request) (any, error) {
	const call = "Setup"
	var in wsman.SetupInput
	if err := r.Decode(&in); err != nil {
		return nil, d.badInput(call, err)
	}
	out := func(rc amt.ReturnCode) (any, error) {
		return returned(wsman.ResourceHostBasedSetupService, call, rc), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.checkPreProvisioningLocked(call) {
		return out(amt.SetupInvalidState)
	}
	if !d.checkNetworkAdminPasswordLocked(call, in.NetAdminPassEncryptionType, in.NetworkAdminPassword) {
		return out(amt.SetupInvalidParam)
	}
	if !d.flashWriteLocked(call) {
		return out(amt.SetupFlashWriteExceeded)
	}
	d.st.AdminUser, d.st.AdminHA1 = amt.AdminUser, in.NetworkAdminPassword
	d.st.ProvState, d.st.Mode = amt.PostProvisioning, amt.ControlCCM
	d.st.CCMUncommitted = d.ccmNeedsCommitLocked()
	d.eventLocked("setup", "Setup: client control mode")
	return out(amt.SetupSuccess)
}

func (d *Device) upgradeClientToAdmin(_ *caller, r *wsman.Request) (any, error) {
	const call = "UpgradeClientToAdmin"
	var in wsman.UpgradeClientToAdminInput
	if err := r.Decode(&in); err != nil {
		return nil, d.badInput(call, err)
	}
	out := func(rc amt.ReturnCode) (any, error) {
		return returned(wsman.ResourceHostBasedSetupService, call, rc), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st.Mode != amt.ControlCCM {
		d.refuseLocked(call, refusal(RuleState, "control mode "+d.st.Mode.String(), "CCM", "activate CCM with Setup first, or use AdminSetup on a device in pre-provisioning"))
		return out(amt.SetupInvalidState)
	}
	if !d.checkChainCompleteLocked(call) {
		return out(amt.SetupInvalidState)
	}
	if rc, ok := d.checkSignatureLocked(call, in.McNonce, in.DigitalSignature, in.SigningAlgorithm); !ok {
		return out(rc)
	}
	if !d.flashWriteLocked(call) {
		return out(amt.SetupFlashWriteExceeded)
	}
	d.st.Mode = amt.ControlACM
	d.spendChainLocked(call)
	return out(amt.SetupSuccess)
}
