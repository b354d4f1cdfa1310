package wsman

import (
	"context"
	"encoding/xml"
)

// EthernetPortSettings is AMT_EthernetPortSettings: the wired (instance 0) or
// wireless (instance 1) interface. Fields that only one of them reports are
// pointers or omitted when empty, so that a Put sends back what was read.
type EthernetPortSettings struct {
	XMLName                      xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_EthernetPortSettings AMT_EthernetPortSettings"`
	ConsoleTcpMaxRetransmissions *int     `xml:"ConsoleTcpMaxRetransmissions,omitempty"` //nolint:revive // the class's own spelling
	DHCPEnabled                  bool     `xml:"DHCPEnabled"`
	DefaultGateway               string   `xml:"DefaultGateway,omitempty"`
	ElementName                  string   `xml:"ElementName"`
	IPAddress                    string   `xml:"IPAddress,omitempty"`
	InstanceID                   string   `xml:"InstanceID"`
	IpSyncEnabled                *bool    `xml:"IpSyncEnabled,omitempty"` //nolint:revive // the class's own spelling
	LinkControl                  *int     `xml:"LinkControl,omitempty"`
	LinkIsUp                     bool     `xml:"LinkIsUp"`
	LinkPolicy                   []int    `xml:"LinkPolicy,omitempty"`
	LinkPreference               *int     `xml:"LinkPreference,omitempty"`
	MACAddress                   string   `xml:"MACAddress"`
	PhysicalConnectionType       int      `xml:"PhysicalConnectionType"`
	PrimaryDNS                   string   `xml:"PrimaryDNS,omitempty"`
	SecondaryDNS                 string   `xml:"SecondaryDNS,omitempty"`
	SharedDynamicIP              *bool    `xml:"SharedDynamicIP,omitempty"`
	SharedMAC                    bool     `xml:"SharedMAC"`
	SharedStaticIp               *bool    `xml:"SharedStaticIp,omitempty"` //nolint:revive // the class's own spelling
	SubnetMask                   string   `xml:"SubnetMask,omitempty"`
	WLANLinkProtectionLevel      *int     `xml:"WLANLinkProtectionLevel,omitempty"`
}

// ethernetPortSettingsPutOrder is the element order of an
// AMT_EthernetPortSettings Put: the class's schema order, as the Device
// Management Toolkit sends it, where the firmware answers alphabetically. What the
// firmware reported goes back, read-only elements included, at their
// schema places.
var ethernetPortSettingsPutOrder = []string{
	"ElementName", "InstanceID", "SharedMAC", "MACAddress", "LinkIsUp",
	"LinkPolicy", "LinkPreference", "LinkControl", "SharedStaticIp",
	"SharedDynamicIP", "IpSyncEnabled", "DHCPEnabled", "IPAddress",
	"SubnetMask", "DefaultGateway", "PrimaryDNS", "SecondaryDNS",
	"ConsoleTcpMaxRetransmissions", "WLANLinkProtectionLevel",
	"PhysicalConnectionType",
}

// InstanceID of the wired interface's settings.
const EthernetPortWired = "Intel(r) AMT Ethernet Port Settings 0"

// GetEthernetPortSettings reads one interface's settings.
func (c *Client) GetEthernetPortSettings(ctx context.Context, instanceID string) (*EthernetPortSettings, error) {
	return Get[EthernetPortSettings](ctx, c, ResourceEthernetPortSettings, Selector{Name: "InstanceID", Value: instanceID})
}

// PutEthernetPortSettings replaces the settings of s.InstanceID with s,
// sent in the class's schema order.
func (c *Client) PutEthernetPortSettings(ctx context.Context, s *EthernetPortSettings) (*EthernetPortSettings, error) {
	return Put[EthernetPortSettings](ctx, c, ResourceEthernetPortSettings, inOrder(s, ethernetPortSettingsPutOrder), Selector{Name: "InstanceID", Value: s.InstanceID})
}

// EthernetPorts lists the settings of every interface.
func (c *Client) EthernetPorts(ctx context.Context) ([]EthernetPortSettings, error) {
	return EnumerateAll[EthernetPortSettings](ctx, c, ResourceEthernetPortSettings)
}
