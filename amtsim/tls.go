package amtsim

import (
	"fmt"

	"github.com/amtrcs/amtrcs/amt/wsman"
)

// AMT_TLSCredentialContext and AMT_TLSSettingData: the TLS certificate and
// the TLS switches of the network (802.3) and local (LMS) interfaces.

func (rt *routes) tls() {
	ctxRes := wsman.ResourceTLSCredentialContext
	rt.handle(ctxRes, wsman.ActionCreate, (*Device).createTLSCredentialContext)
	rt.handle(ctxRes, wsman.ActionPut, (*Device).putTLSCredentialContext)
	rt.handle(ctxRes, wsman.ActionDelete, (*Device).deleteTLSCredentialContext)
	rt.enumeration(ctxRes, func(d *Device, _ *caller) []any {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.st.TLSCredential == "" {
			return []any{}
		}
		return []any{wsman.NewTLSCredentialContext(d.st.TLSCredential)}
	})

	set := wsman.ResourceTLSSettingData
	rt.getByID(set, func(d *Device, id string) (any, bool) {
		s, ok := d.tlsSettingLocked(id)
		if !ok {
			return nil, false
		}
		return tlsSettingInstance(id, *s), true
	})
	rt.handle(set, wsman.ActionPut, (*Device).putTLSSetting)
	rt.enumeration(set, func(d *Device, _ *caller) []any {
		d.mu.Lock()
		defer d.mu.Unlock()
		return []any{tlsSettingInstance(wsman.TLSSettingRemote, d.st.TLSRemote), tlsSettingInstance(wsman.TLSSettingLocal, d.st.TLSLocal)}
	})
}

func (d *Device) tlsSettingLocked(id string) (*tlsSetting, bool) {
	switch id {
	case wsman.TLSSettingRemote:
		return &d.st.TLSRemote, true
	case wsman.TLSSettingLocal:
		return &d.st.TLSLocal, true
	}
	return nil, false
}

func tlsSettingInstance(id string, s tlsSetting) *wsman.TLSSettingData {
	return &wsman.TLSSettingData{
		AcceptNonSecureConnections: s.AcceptNonSecure, ElementName: id, Enabled: s.Enabled,
		InstanceID: id, MutualAuthentication: s.MutualAuthentication, TrustedCN: s.TrustedCN,
	}
}

func (d *Device) createTLSCredentialContext(c *caller, r *wsman.Request) (any, error) {
	const call = "Create AMT_TLSCredentialContext"
	in, err := configInput[wsman.TLSCredentialContext](d, c, r, call)
	if err != nil {
		return nil, err
	}
	if err := d.lockConfigurable(c, call); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	id := in.ElementInContext.InstanceID()
	if !d.tlsCertUsableLocked(call, id) {
		return nil, wsman.NewFault(wsman.SubcodeInvalidRepresentation, wsman.DetailInvalidValue)
	}
	if d.st.TLSCredential != "" {
		d.refuseLocked(call, refusal(RuleState, "a context for certificate "+d.st.TLSCredential, "no context (AMT has one TLS certificate)", "Put the existing AMT_TLSCredentialContext, or Delete it first"))
		return nil, wsman.NewFault(wsman.SubcodeAlreadyExists, "")
	}
	if !d.flashWriteLocked(call) {
		return nil, wsman.NewFault(wsman.SubcodeInternalError, "")
	}
	d.st.TLSCredential = id
	d.eventLocked("config", "TLS certificate "+id)
	ctx := wsman.NewTLSCredentialContext(id)
	return &wsman.ResourceCreated{
		Address: wsman.AnonymousAddress,
		ReferenceParameters: wsman.ReferenceParameters{
			ResourceURI: wsman.ResourceTLSCredentialContext,
			SelectorSet: wsman.SelectorSet{Selectors: []wsman.Selector{
				{Name: "ElementInContext", EPR: &ctx.ElementInContext},
				{Name: "ElementProvidingContext", EPR: &ctx.ElementProvidingContext},
			}},
		},
	}, nil
}

// credentialSelectorLocked checks the selectors that name the one
// credential context: ElementInContext must reference the certificate the
// context holds. A wrong or missing reference is a fault, as in firmware,
// so that an RCS cannot replace a context it did not read.
func (d *Device) credentialSelectorLocked(call string, r *wsman.Request) error {
	var eic *wsman.EndpointReference
	for _, s := range r.Header.SelectorSet {
		if s.Name == "ElementInContext" && s.EPR != nil {
			eic = s.EPR
		}
	}
	if eic == nil {
		d.refuseLocked(call, refusal(RuleParameter, "no ElementInContext selector", "the ElementInContext and ElementProvidingContext references of the context", "enumerate AMT_TLSCredentialContext and pass its references as selectors"))
		return wsman.NewFault(wsman.SubcodeInvalidSelectors, wsman.DetailInsufficientSelectors)
	}
	if d.st.TLSCredential == "" || eic.InstanceID() != d.st.TLSCredential {
		d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("ElementInContext %q", eic.InstanceID()), fmt.Sprintf("the certificate of the existing context, %q", d.st.TLSCredential), "enumerate AMT_TLSCredentialContext and pass the references it returns"))
		return wsman.NewFault(wsman.SubcodeInvalidSelectors, wsman.DetailInvalidValue)
	}
	return nil
}

// tlsCertUsableLocked says whether id is a certificate TLS can serve: one
// added with AddCertificate for a key the firmware generated.
func (d *Device) tlsCertUsableLocked(call, id string) bool {
	if sc := d.certLocked(id); sc != nil && sc.KeyID != "" {
		if _, ok := d.keyLocked(sc.KeyID); ok {
			return true
		}
	}
	d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("certificate %q", id), "a certificate added with AddCertificate for a firmware key", "add the TLS certificate with AddCertificate first"))
	return false
}

// putTLSCredentialContext points the TLS endpoints at another certificate:
// how an RCS re-issues the TLS certificate without a window in which the
// device has none. The listener serves the new certificate from the next
// handshake on; open connections keep theirs.
func (d *Device) putTLSCredentialContext(c *caller, r *wsman.Request) (any, error) {
	const call = "Put AMT_TLSCredentialContext"
	in, err := configInput[wsman.TLSCredentialContext](d, c, r, call)
	if err != nil {
		return nil, err
	}
	if err := d.lockConfigurable(c, call); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	if err := d.credentialSelectorLocked(call, r); err != nil {
		return nil, err
	}
	id := in.ElementInContext.InstanceID()
	if !d.tlsCertUsableLocked(call, id) {
		return nil, wsman.NewFault(wsman.SubcodeInvalidRepresentation, wsman.DetailInvalidValue)
	}
	if id == d.st.TLSCredential {
		return wsman.NewTLSCredentialContext(id), nil
	}
	if !d.flashWriteLocked(call) {
		return nil, wsman.NewFault(wsman.SubcodeInternalError, "")
	}
	old := d.st.TLSCredential
	d.st.TLSCredential = id
	d.eventLocked("config", fmt.Sprintf("TLS certificate %s replaces %s", id, old))
	return wsman.NewTLSCredentialContext(id), nil
}

// deleteTLSCredentialContext unbinds the TLS certificate. TLS stays
// enabled in AMT_TLSSettingData, so handshakes fail until a new context is
// created: the other way an RCS replaces the certificate.
func (d *Device) deleteTLSCredentialContext(c *caller, r *wsman.Request) (any, error) {
	const call = "Delete AMT_TLSCredentialContext"
	if err := c.denyLSA(call); err != nil {
		return nil, err
	}
	if err := d.lockConfigurable(c, call); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	if err := d.credentialSelectorLocked(call, r); err != nil {
		return nil, err
	}
	if !d.flashWriteLocked(call) {
		return nil, wsman.NewFault(wsman.SubcodeInternalError, "")
	}
	d.eventLocked("config", "TLS certificate "+d.st.TLSCredential+" unbound")
	d.st.TLSCredential = ""
	return nil, nil
}

func (d *Device) putTLSSetting(c *caller, r *wsman.Request) (any, error) {
	const call = "Put AMT_TLSSettingData"
	in, err := configInput[wsman.TLSSettingData](d, c, r, call)
	if err != nil {
		return nil, err
	}
	id, err := selectorID(r)
	if err != nil {
		return nil, err
	}
	if err := d.lockConfigurable(c, call); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	s, ok := d.tlsSettingLocked(id)
	if !ok {
		return nil, wsman.NewFault(wsman.SubcodeInvalidSelectors, wsman.DetailInvalidValue)
	}
	if in.Enabled && d.st.TLSCredential == "" {
		d.refuseLocked(call, refusal(RuleState, "TLS enabled without a certificate", "an AMT_TLSCredentialContext first", "GenerateKeyPair, GeneratePKCS10RequestEx, AddCertificate, create the credential context, then enable TLS"))
		return nil, wsman.NewFault(wsman.SubcodeInvalidRepresentation, wsman.DetailInvalidValue)
	}
	if !d.flashWriteLocked(call) {
		return nil, wsman.NewFault(wsman.SubcodeInternalError, "")
	}
	*s = tlsSetting{Enabled: in.Enabled, AcceptNonSecure: in.AcceptNonSecureConnections, MutualAuthentication: in.MutualAuthentication, TrustedCN: in.TrustedCN}
	d.eventLocked("config", fmt.Sprintf("%s: enabled %t", id, in.Enabled))
	return tlsSettingInstance(id, *s), nil
}
