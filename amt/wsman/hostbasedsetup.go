package wsman

import (
	"context"
	"encoding/base64"
	"encoding/xml"
)

// HostBasedSetupService is IPS_HostBasedSetupService: the nonce and state of
// host-based provisioning (reference §5).
type HostBasedSetupService struct {
	XMLName                 xml.Name `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService IPS_HostBasedSetupService"`
	AllowedControlModes     []int    `xml:"AllowedControlModes"`
	CertChainStatus         int      `xml:"CertChainStatus"`
	ConfigurationNonce      string   `xml:"ConfigurationNonce"`
	CreationClassName       string   `xml:"CreationClassName"`
	CurrentControlMode      int      `xml:"CurrentControlMode"`
	ElementName             string   `xml:"ElementName"`
	Name                    string   `xml:"Name"`
	SystemCreationClassName string   `xml:"SystemCreationClassName"`
	SystemName              string   `xml:"SystemName"`
}

// Nonce decodes ConfigurationNonce (20 bytes, base64).
func (s *HostBasedSetupService) Nonce() ([]byte, error) {
	return base64.StdEncoding.DecodeString(s.ConfigurationNonce)
}

// Enum values of IPS_HostBasedSetupService method parameters (reference §5).
const (
	PassEncryptionHTTPDigestMD5A1 = 2 // NetAdminPassEncryptionType
	SigningAlgorithmRSASHA256     = 2 // SigningAlgorithm
)

// SetupInput is IPS_HostBasedSetupService.Setup (client control mode).
type SetupInput struct {
	XMLName                    xml.Name `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService Setup_INPUT"`
	NetAdminPassEncryptionType int      `xml:"NetAdminPassEncryptionType"`
	NetworkAdminPassword       string   `xml:"NetworkAdminPassword"`
}

// AddNextCertInChainInput sends one certificate of the provisioning chain,
// leaf first, root last.
type AddNextCertInChainInput struct {
	XMLName           xml.Name `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService AddNextCertInChain_INPUT"`
	NextCertificate   string   `xml:"NextCertificate"`
	IsLeafCertificate bool     `xml:"IsLeafCertificate"`
	IsRootCertificate bool     `xml:"IsRootCertificate"`
}

// AdminSetupInput moves the device to admin control mode (AMT 7 to 18).
type AdminSetupInput struct {
	XMLName                    xml.Name `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService AdminSetup_INPUT"`
	NetAdminPassEncryptionType int      `xml:"NetAdminPassEncryptionType"`
	NetworkAdminPassword       string   `xml:"NetworkAdminPassword"`
	McNonce                    string   `xml:"McNonce"`
	SigningAlgorithm           int      `xml:"SigningAlgorithm"`
	DigitalSignature           string   `xml:"DigitalSignature"`
}

// UpgradeClientToAdminInput moves a CCM device to ACM.
type UpgradeClientToAdminInput struct {
	XMLName          xml.Name `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService UpgradeClientToAdmin_INPUT"`
	McNonce          string   `xml:"McNonce"`
	SigningAlgorithm int      `xml:"SigningAlgorithm"`
	DigitalSignature string   `xml:"DigitalSignature"`
}

// GetHostBasedSetupService reads IPS_HostBasedSetupService.
func (c *Client) GetHostBasedSetupService(ctx context.Context) (*HostBasedSetupService, error) {
	return Get[HostBasedSetupService](ctx, c, ResourceHostBasedSetupService)
}

// Setup activates client control mode; networkAdminPassword is the lowercase
// hex MD5 of "admin:" + realm + ":" + password.
func (c *Client) Setup(ctx context.Context, networkAdminPassword string) error {
	return c.invokeReturn(ctx, ResourceHostBasedSetupService, "Setup", &SetupInput{
		NetAdminPassEncryptionType: PassEncryptionHTTPDigestMD5A1,
		NetworkAdminPassword:       networkAdminPassword,
	})
}

// AddNextCertInChain sends one DER certificate of the provisioning chain.
func (c *Client) AddNextCertInChain(ctx context.Context, der []byte, isLeaf, isRoot bool) error {
	return c.invokeReturn(ctx, ResourceHostBasedSetupService, "AddNextCertInChain", &AddNextCertInChainInput{
		NextCertificate:   base64.StdEncoding.EncodeToString(der),
		IsLeafCertificate: isLeaf,
		IsRootCertificate: isRoot,
	})
}

// AdminSetup activates admin control mode with in.
func (c *Client) AdminSetup(ctx context.Context, in *AdminSetupInput) error {
	return c.invokeReturn(ctx, ResourceHostBasedSetupService, "AdminSetup", in)
}

// UpgradeClientToAdmin moves a CCM device to ACM with in.
func (c *Client) UpgradeClientToAdmin(ctx context.Context, in *UpgradeClientToAdminInput) error {
	return c.invokeReturn(ctx, ResourceHostBasedSetupService, "UpgradeClientToAdmin", in)
}
