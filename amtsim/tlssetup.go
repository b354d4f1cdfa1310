package amtsim

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
)

// TLS-based ACM setup (AMT 19, reference §6 and §13): the host announces the
// provisioning leaf's hash and the DNS suffixes; the device then serves TLS
// on 16993 with its identity certificate and takes only a client chain that
// passes the AddNextCertInChain rules, the announced hash and the suffix
// rule. Inside that session SetAdminAclEntryEx, SetMEBxPassword and
// CommitChanges complete ACM.

// StartConfigurationHBased implements hostif.Firmware.
func (d *Device) StartConfigurationHBased(s hostif.StartConfig) (hostif.StartConfigResult, amt.HostStatus) {
	const call = "StartConfigurationHBased"
	d.mu.Lock()
	if d.st.AMTDisabled {
		d.refuseLocked(call, refusal(RuleState, "AMT disabled", "AMT operational", "enable AMT first (SetAmtOperationalState)"))
		d.mu.Unlock()
		return hostif.StartConfigResult{}, amt.HostInvalidAMTMode
	}
	if !d.profile.TLSSetup {
		d.refuseLocked(call, refusal(RuleTLSSetupVersion, "AMT "+d.version.String(), "AMT 19 or newer", "use host-based setup with AdminSetup on this version"))
		d.mu.Unlock()
		return hostif.StartConfigResult{}, amt.HostInvalidAMTMode
	}
	if d.st.ProvState == amt.PostProvisioning || (d.setup != nil && d.setup.kind != setupTLS) {
		d.refuseLocked(call, refusal(RuleState, d.st.ProvState.String(), "pre-provisioning", "unprovision the device first"))
		d.mu.Unlock()
		return hostif.StartConfigResult{}, amt.HostInvalidAMTMode
	}
	if (s.Algorithm != amt.HashSHA256 && s.Algorithm != amt.HashSHA384) || len(s.LeafHash) != s.Algorithm.Size() || len(s.Suffixes) > amt.MaxStartConfigSuffixes {
		d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("%v hash of %d bytes, %d suffixes", s.Algorithm, len(s.LeafHash), len(s.Suffixes)), "a SHA-256 or SHA-384 leaf hash and at most 5 suffixes", "hash the provisioning leaf's DER with SHA-256"))
		d.mu.Unlock()
		return hostif.StartConfigResult{}, amt.HostInternalError
	}
	prev := d.setup
	d.mu.Unlock()

	sess := &session{kind: setupTLS, leafAlg: s.Algorithm, leafHash: bytes.Clone(s.LeafHash), suffixes: append([]string(nil), s.Suffixes...)}
	if prev != nil && prev.cert != nil {
		sess.cert = prev.cert // a retried start keeps the certificate it announced
	} else {
		d.mu.Lock()
		c, err := d.identityCertLocked()
		d.mu.Unlock()
		if err != nil {
			return hostif.StartConfigResult{}, amt.HostInternalError
		}
		sess.cert = c
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.setup = sess
	d.st.ProvState = amt.InProvisioning
	d.eventLocked("setup", fmt.Sprintf("TLS-based setup started for %d suffixes", len(s.Suffixes)))
	return hostif.StartConfigResult{Algorithm: amt.HashSHA256, CertHash: CertHash(sess.cert.Certificate[0])}, amt.HostSuccess
}

// errSetupChain is what the TLS layer sees; the rule is in the event log.
var errSetupChain = errors.New("amtsim: provisioning chain refused")

// verifySetupChain checks the client's chain of a setup session: the
// AddNextCertInChain rules, and for TLS-based setup the announced leaf hash
// and suffixes. A refusal fails the handshake with a bad_certificate alert.
func (d *Device) verifySetupChain(kind setupKind, raw [][]byte) error {
	call := map[setupKind]string{setupTLS: "TLS-based setup", setupHello: "legacy network setup"}[kind]
	certs := make([]*x509.Certificate, 0, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			d.mu.Lock()
			d.refuseLocked(call, refusal(RuleChainParse, fmt.Sprintf("client certificate %d: %v", i+1, err), "DER certificates", "present the provisioning chain as parsed certificates"))
			d.mu.Unlock()
			return errSetupChain
		}
		certs = append(certs, c)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.setup == nil || d.setup.kind != kind {
		d.refuseLocked(call, refusal(RuleState, "no setup in progress", "a device in setup", "start the setup again"))
		return errSetupChain
	}
	suffixes := d.deviceSuffixesLocked()
	if kind == setupTLS && len(d.setup.suffixes) > 0 {
		suffixes = d.setup.suffixes
	}
	if len(certs) > 0 && kind == setupTLS {
		if got := d.setup.leafAlg.Sum(certs[0].Raw); !bytes.Equal(got, d.setup.leafHash) {
			d.refuseLocked(call, refusal(RuleLeafHash, fmt.Sprintf("leaf %s with %v %s", certName(certs[0]), d.setup.leafAlg, amt.FormatHash(got)), "the leaf whose hash StartConfigurationHBased announced, "+amt.FormatHash(d.setup.leafHash), "present the same provisioning certificate that was announced"))
			return errSetupChain
		}
	}
	if re := d.chainCheckLocked(suffixes).chain(certs); re != nil {
		d.refuseLocked(call, re)
		return errSetupChain
	}
	if kind == setupHello {
		d.helloAnsweredLocked()
	}
	d.eventLocked("setup", fmt.Sprintf("%s: client chain of %d accepted, leaf %s", call, len(certs), certName(certs[0])))
	return nil
}
