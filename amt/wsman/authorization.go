package wsman

import (
	"context"
	"encoding/xml"
)

// AuthorizationService is AMT_AuthorizationService.
type AuthorizationService struct {
	XMLName                 xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService AMT_AuthorizationService"`
	AllowHttpQopAuthOnly    int      `xml:"AllowHttpQopAuthOnly"` //nolint:revive // the class's own spelling
	CreationClassName       string   `xml:"CreationClassName"`
	ElementName             string   `xml:"ElementName"`
	EnabledState            int      `xml:"EnabledState"`
	Name                    string   `xml:"Name"`
	RequestedState          int      `xml:"RequestedState"`
	SystemCreationClassName string   `xml:"SystemCreationClassName"`
	SystemName              string   `xml:"SystemName"`
}

// SetAdminAclEntryExInput sets the admin user name and password.
// DigestPassword is base64 of the 16 raw bytes of MD5(user:realm:password).
type SetAdminAclEntryExInput struct {
	XMLName        xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService SetAdminAclEntryEx_INPUT"`
	Username       string   `xml:"Username"`
	DigestPassword string   `xml:"DigestPassword"`
}

// EnumerateUserAclEntriesOutput lists the handles of user ACL entries.
type EnumerateUserAclEntriesOutput struct { //nolint:revive // the class's own spelling
	XMLName      xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService EnumerateUserAclEntries_OUTPUT"`
	TotalCount   int      `xml:"TotalCount"`
	HandlesCount int      `xml:"HandlesCount"`
	Handles      []int    `xml:"Handles"`
	Returned
}

// GetAclEnabledStateOutput says whether an ACL entry is enabled.
type GetAclEnabledStateOutput struct {
	XMLName xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService GetAclEnabledState_OUTPUT"`
	Enabled bool     `xml:"Enabled"`
	Returned
}

// GetAdminAclEntryOutput is the admin user name.
type GetAdminAclEntryOutput struct {
	XMLName  xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService GetAdminAclEntry_OUTPUT"`
	Username string   `xml:"Username"`
	Returned
}

// GetAdminAclEntryStatusOutput says whether the admin password is the default.
type GetAdminAclEntryStatusOutput struct {
	XMLName   xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService GetAdminAclEntryStatus_OUTPUT"`
	IsDefault bool     `xml:"IsDefault"`
	Returned
}

// GetAdminNetAclEntryStatusOutput says whether the network admin password is
// the default.
type GetAdminNetAclEntryStatusOutput struct {
	XMLName   xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService GetAdminNetAclEntryStatus_OUTPUT"`
	IsDefault bool     `xml:"IsDefault"`
	Returned
}

// GetUserAclEntryExOutput describes one user ACL entry.
type GetUserAclEntryExOutput struct {
	XMLName          xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService GetUserAclEntryEx_OUTPUT"`
	DigestUsername   string   `xml:"DigestUsername"`
	AccessPermission int      `xml:"AccessPermission"`
	Realms           []int    `xml:"Realms"`
	Returned
}

// GetAuthorizationService reads AMT_AuthorizationService.
func (c *Client) GetAuthorizationService(ctx context.Context) (*AuthorizationService, error) {
	return Get[AuthorizationService](ctx, c, ResourceAuthorizationService)
}

// SetAdminAclEntryEx sets the admin user name and digest password (see
// SetAdminAclEntryExInput).
func (c *Client) SetAdminAclEntryEx(ctx context.Context, username, digestPassword string) error {
	return c.invokeReturn(ctx, ResourceAuthorizationService, "SetAdminAclEntryEx", &SetAdminAclEntryExInput{Username: username, DigestPassword: digestPassword})
}
