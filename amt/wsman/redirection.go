package wsman

import (
	"context"
	"encoding/xml"
)

// RedirectionService is AMT_RedirectionService: serial-over-LAN and IDE-R.
type RedirectionService struct {
	XMLName                 xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RedirectionService AMT_RedirectionService"`
	CreationClassName       string   `xml:"CreationClassName"`
	ElementName             string   `xml:"ElementName"`
	EnabledState            int      `xml:"EnabledState"`
	ListenerEnabled         bool     `xml:"ListenerEnabled"`
	Name                    string   `xml:"Name"`
	SystemCreationClassName string   `xml:"SystemCreationClassName"`
	SystemName              string   `xml:"SystemName"`
}

// RedirectionService EnabledState and RequestStateChange values: 32768 none,
// 32769 IDE-R, 32770 SOL, 32771 both.
const (
	RedirectionDisabled   = 32768
	RedirectionIDER       = 32769
	RedirectionSOL        = 32770
	RedirectionIDERAndSOL = 32771
)

// IPS_OptInService is the user-consent policy.
type OptInService struct {
	XMLName                 xml.Name `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService IPS_OptInService"`
	CanModifyOptInPolicy    int      `xml:"CanModifyOptInPolicy"`
	CreationClassName       string   `xml:"CreationClassName"`
	ElementName             string   `xml:"ElementName"`
	Name                    string   `xml:"Name"`
	OptInCodeTimeout        int      `xml:"OptInCodeTimeout"`
	OptInDisplayTimeout     int      `xml:"OptInDisplayTimeout"`
	OptInRequired           int      `xml:"OptInRequired"`
	OptInState              int      `xml:"OptInState"`
	SystemCreationClassName string   `xml:"SystemCreationClassName"`
	SystemName              string   `xml:"SystemName"`
}

// optInServicePutOrder is the element order of an IPS_OptInService Put as
// the Device Management Toolkit sends it, where the firmware answers
// alphabetically: the same but for SystemName before
// SystemCreationClassName.
var optInServicePutOrder = []string{
	"CanModifyOptInPolicy", "CreationClassName", "ElementName", "Name",
	"OptInCodeTimeout", "OptInDisplayTimeout", "OptInRequired", "OptInState",
	"SystemName", "SystemCreationClassName",
}

// OptInRequired values.
const (
	OptInNone = 0
	OptInKVM  = 1
	OptInAll  = 4294967295
)

// KVMRedirectionSAP is CIM_KVMRedirectionSAP: the KVM access point.
type KVMRedirectionSAP struct {
	XMLName                 xml.Name `xml:"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_KVMRedirectionSAP CIM_KVMRedirectionSAP"`
	CreationClassName       string   `xml:"CreationClassName"`
	ElementName             string   `xml:"ElementName"`
	EnabledState            int      `xml:"EnabledState"`
	KVMProtocol             int      `xml:"KVMProtocol"`
	Name                    string   `xml:"Name"`
	RequestedState          int      `xml:"RequestedState"`
	SystemCreationClassName string   `xml:"SystemCreationClassName"`
	SystemName              string   `xml:"SystemName"`
}

// KVM RequestStateChange values: 2 enabled, 3 disabled, 6 enabled but
// offline (what AMT reports when KVM is allowed but no session is open).
const (
	KVMEnabled  = 2
	KVMDisabled = 3
)

// GetRedirectionService reads AMT_RedirectionService.
func (c *Client) GetRedirectionService(ctx context.Context) (*RedirectionService, error) {
	return Get[RedirectionService](ctx, c, ResourceRedirectionService)
}

// PutRedirectionService replaces AMT_RedirectionService (ListenerEnabled).
// Its schema order is alphabetical, so the answer's type serves as the body.
func (c *Client) PutRedirectionService(ctx context.Context, s *RedirectionService) (*RedirectionService, error) {
	return Put[RedirectionService](ctx, c, ResourceRedirectionService, s)
}

// RedirectionRequestStateChange enables or disables IDE-R and SOL.
func (c *Client) RedirectionRequestStateChange(ctx context.Context, state int) error {
	return c.invokeReturn(ctx, ResourceRedirectionService, "RequestStateChange", NewRequestStateChangeInput(ResourceRedirectionService, state))
}

// GetOptInService reads IPS_OptInService.
func (c *Client) GetOptInService(ctx context.Context) (*OptInService, error) {
	return Get[OptInService](ctx, c, ResourceOptInService)
}

// PutOptInService replaces IPS_OptInService (OptInRequired, timeouts).
func (c *Client) PutOptInService(ctx context.Context, s *OptInService) (*OptInService, error) {
	return Put[OptInService](ctx, c, ResourceOptInService, inOrder(s, optInServicePutOrder))
}

// GetKVMRedirectionSAP reads CIM_KVMRedirectionSAP.
func (c *Client) GetKVMRedirectionSAP(ctx context.Context) (*KVMRedirectionSAP, error) {
	return Get[KVMRedirectionSAP](ctx, c, ResourceKVMRedirectionSAP)
}

// KVMRequestStateChange enables or disables KVM.
func (c *Client) KVMRequestStateChange(ctx context.Context, state int) error {
	return c.invokeReturn(ctx, ResourceKVMRedirectionSAP, "RequestStateChange", NewRequestStateChangeInput(ResourceKVMRedirectionSAP, state))
}
