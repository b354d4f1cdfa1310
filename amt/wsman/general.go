package wsman

import (
	"context"
	"encoding/xml"
)

// GeneralSettings is AMT_GeneralSettings: the digest realm, the host and
// domain names AMT uses, and network behaviour. Fields that only some
// firmware versions report are pointers, so that a Put sends back exactly
// what the firmware reported.
type GeneralSettings struct {
	XMLName                       xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings AMT_GeneralSettings"`
	AMTNetworkEnabled             int      `xml:"AMTNetworkEnabled"`
	DDNSPeriodicUpdateInterval    int      `xml:"DDNSPeriodicUpdateInterval"`
	DDNSTTL                       int      `xml:"DDNSTTL"`
	DDNSUpdateByDHCPServerEnabled bool     `xml:"DDNSUpdateByDHCPServerEnabled"`
	DDNSUpdateEnabled             bool     `xml:"DDNSUpdateEnabled"`
	DHCPSyncRequiresHostname      *int     `xml:"DHCPSyncRequiresHostname,omitempty"`
	DHCPv6ConfigurationTimeout    int      `xml:"DHCPv6ConfigurationTimeout"`
	DigestRealm                   string   `xml:"DigestRealm"`
	DomainName                    string   `xml:"DomainName"`
	ElementName                   string   `xml:"ElementName"`
	HostName                      string   `xml:"HostName"`
	HostOSFQDN                    string   `xml:"HostOSFQDN"`
	IdleWakeTimeout               int      `xml:"IdleWakeTimeout"`
	InstanceID                    string   `xml:"InstanceID"`
	NetworkInterfaceEnabled       bool     `xml:"NetworkInterfaceEnabled"`
	PingResponseEnabled           bool     `xml:"PingResponseEnabled"`
	PowerSource                   int      `xml:"PowerSource"`
	PreferredAddressFamily        int      `xml:"PreferredAddressFamily"`
	PresenceNotificationInterval  int      `xml:"PresenceNotificationInterval"`
	PrivacyLevel                  int      `xml:"PrivacyLevel"`
	RmcpPingResponseEnabled       bool     `xml:"RmcpPingResponseEnabled"`
	SharedFQDN                    bool     `xml:"SharedFQDN"`
	ThunderboltDockEnabled        *int     `xml:"ThunderboltDockEnabled,omitempty"`
	WsmanOnlyMode                 bool     `xml:"WsmanOnlyMode"`
}

// generalSettingsPutOrder is the element order of an AMT_GeneralSettings
// Put: the class's schema order, as the Device Management Toolkit sends it,
// where the firmware answers alphabetically. The read-only
// elements (NetworkInterfaceEnabled, DigestRealm, PrivacyLevel, PowerSource)
// go back as read, at their schema places: Put replaces the instance, and
// firmware ignores read-only values it is sent.
var generalSettingsPutOrder = []string{
	"ElementName", "InstanceID", "NetworkInterfaceEnabled", "DigestRealm",
	"IdleWakeTimeout", "HostName", "DomainName", "PingResponseEnabled",
	"WsmanOnlyMode", "PreferredAddressFamily", "DHCPv6ConfigurationTimeout",
	"DDNSUpdateEnabled", "DDNSUpdateByDHCPServerEnabled", "SharedFQDN",
	"HostOSFQDN", "DDNSTTL", "AMTNetworkEnabled", "RmcpPingResponseEnabled",
	"DDNSPeriodicUpdateInterval", "PresenceNotificationInterval",
	"PrivacyLevel", "PowerSource", "ThunderboltDockEnabled",
	"DHCPSyncRequiresHostname",
}

// GetGeneralSettings reads AMT_GeneralSettings (the digest realm first of all).
func (c *Client) GetGeneralSettings(ctx context.Context) (*GeneralSettings, error) {
	return Get[GeneralSettings](ctx, c, ResourceGeneralSettings)
}

// SetHostAndDomain writes the host and domain names AMT uses for its FQDN:
// it reads the settings and puts them back with the two names changed, as
// AMT replaces the whole instance on Put.
func (c *Client) SetHostAndDomain(ctx context.Context, hostName, domainName string) (*GeneralSettings, error) {
	gs, err := c.GetGeneralSettings(ctx)
	if err != nil {
		return nil, err
	}
	gs.HostName, gs.DomainName = hostName, domainName
	return c.PutGeneralSettings(ctx, gs)
}

// PutGeneralSettings replaces AMT_GeneralSettings with gs, sent in the
// class's schema order.
func (c *Client) PutGeneralSettings(ctx context.Context, gs *GeneralSettings) (*GeneralSettings, error) {
	return Put[GeneralSettings](ctx, c, ResourceGeneralSettings, inOrder(gs, generalSettingsPutOrder))
}
