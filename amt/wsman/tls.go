package wsman

import (
	"context"
	"encoding/xml"
)

// TLSProtocolEndpointCollectionName is the ElementName of the one
// AMT_TLSProtocolEndpointCollection instance, which a TLS credential context
// points at. (The Device Management Toolkit sends it without the space
// before "Instances"; the firmware reports it with one, and this is the
// firmware's spelling.)
const TLSProtocolEndpointCollectionName = "TLSProtocolEndpoint Instances Collection"

// TLSCredentialContext is AMT_TLSCredentialContext: it binds a certificate
// (ElementInContext) to the TLS endpoints (ElementProvidingContext).
type TLSCredentialContext struct {
	XMLName                 xml.Name          `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSCredentialContext AMT_TLSCredentialContext"`
	ElementInContext        EndpointReference `xml:"ElementInContext"`
	ElementProvidingContext EndpointReference `xml:"ElementProvidingContext"`
}

// NewTLSCredentialContext binds the certificate certInstanceID to AMT's TLS
// endpoints.
func NewTLSCredentialContext(certInstanceID string) *TLSCredentialContext {
	return &TLSCredentialContext{
		ElementInContext:        NewEPR(ResourcePublicKeyCertificate, Selector{Name: "InstanceID", Value: certInstanceID}),
		ElementProvidingContext: NewEPR(ResourceTLSProtocolEndpointCollection, Selector{Name: "ElementName", Value: TLSProtocolEndpointCollectionName}),
	}
}

// ResourceCreated is the body of a Create response: the reference to the new
// instance.
type ResourceCreated struct {
	XMLName             xml.Name            `xml:"http://schemas.xmlsoap.org/ws/2004/09/transfer ResourceCreated"`
	Address             string              `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Address"`
	ReferenceParameters ReferenceParameters `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing ReferenceParameters"`
}

// TLSProtocolEndpointCollection is AMT_TLSProtocolEndpointCollection.
type TLSProtocolEndpointCollection struct {
	XMLName     xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSProtocolEndpointCollection AMT_TLSProtocolEndpointCollection"`
	ElementName string   `xml:"ElementName"`
}

// TLSSettingData is AMT_TLSSettingData: TLS on the network interface ("802.3")
// or on the local interface ("LMS").
type TLSSettingData struct {
	XMLName                       xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSSettingData AMT_TLSSettingData"`
	AcceptNonSecureConnections    bool     `xml:"AcceptNonSecureConnections"`
	ElementName                   string   `xml:"ElementName"`
	Enabled                       bool     `xml:"Enabled"`
	InstanceID                    string   `xml:"InstanceID"`
	MutualAuthentication          bool     `xml:"MutualAuthentication"`
	NonSecureConnectionsSupported *bool    `xml:"NonSecureConnectionsSupported,omitempty"`
	TrustedCN                     []string `xml:"TrustedCN,omitempty"`
}

// tlsSettingDataPutOrder is the element order of an AMT_TLSSettingData
// Put: the class's schema order, as the Device Management Toolkit sends it
// and hardware accepts it. The firmware's answer is alphabetical.
var tlsSettingDataPutOrder = []string{
	"ElementName", "InstanceID", "MutualAuthentication", "Enabled",
	"TrustedCN", "AcceptNonSecureConnections",
	"NonSecureConnectionsSupported",
}

// InstanceIDs of the two AMT_TLSSettingData instances.
const (
	TLSSettingRemote = "Intel(r) AMT 802.3 TLS Settings"
	TLSSettingLocal  = "Intel(r) AMT LMS TLS Settings"
)

// CreateTLSCredentialContext makes the certificate certInstanceID AMT's TLS
// server certificate and returns the reference to the new context.
func (c *Client) CreateTLSCredentialContext(ctx context.Context, certInstanceID string) (*ResourceCreated, error) {
	var out ResourceCreated
	if _, err := c.Do(ctx, &Message{Action: ActionCreate, ResourceURI: ResourceTLSCredentialContext, Body: NewTLSCredentialContext(certInstanceID)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// TLSCredentialContexts lists the TLS credential contexts.
func (c *Client) TLSCredentialContexts(ctx context.Context) ([]TLSCredentialContext, error) {
	return EnumerateAll[TLSCredentialContext](ctx, c, ResourceTLSCredentialContext)
}

// GetTLSSettingData reads one TLS setting (TLSSettingRemote or TLSSettingLocal).
func (c *Client) GetTLSSettingData(ctx context.Context, instanceID string) (*TLSSettingData, error) {
	return Get[TLSSettingData](ctx, c, ResourceTLSSettingData, Selector{Name: "InstanceID", Value: instanceID})
}

// PutTLSSettingData replaces the TLS setting s.InstanceID with s, sent in
// the class's schema order.
func (c *Client) PutTLSSettingData(ctx context.Context, s *TLSSettingData) (*TLSSettingData, error) {
	return Put[TLSSettingData](ctx, c, ResourceTLSSettingData, inOrder(s, tlsSettingDataPutOrder), Selector{Name: "InstanceID", Value: s.InstanceID})
}

// TLSSettings lists both TLS settings.
func (c *Client) TLSSettings(ctx context.Context) ([]TLSSettingData, error) {
	return EnumerateAll[TLSSettingData](ctx, c, ResourceTLSSettingData)
}
