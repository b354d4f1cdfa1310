package wsman

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
)

// PublicKeyManagementService is AMT_PublicKeyManagementService.
type PublicKeyManagementService struct {
	XMLName                 xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyManagementService AMT_PublicKeyManagementService"`
	CreationClassName       string   `xml:"CreationClassName"`
	ElementName             string   `xml:"ElementName"`
	EnabledDefault          int      `xml:"EnabledDefault"`
	EnabledState            int      `xml:"EnabledState"`
	Name                    string   `xml:"Name"`
	RequestedState          int      `xml:"RequestedState"`
	SystemCreationClassName string   `xml:"SystemCreationClassName"`
	SystemName              string   `xml:"SystemName"`
}

// PublicKeyCertificate is AMT_PublicKeyCertificate: a certificate in the
// firmware's store. TrustedRootCertficate is the class's own spelling.
type PublicKeyCertificate struct {
	XMLName               xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate AMT_PublicKeyCertificate"`
	ElementName           string   `xml:"ElementName"`
	InstanceID            string   `xml:"InstanceID"`
	Issuer                string   `xml:"Issuer"`
	Subject               string   `xml:"Subject"`
	TrustedRootCertficate bool     `xml:"TrustedRootCertficate"`
	X509Certificate       string   `xml:"X509Certificate"`
}

// DER decodes X509Certificate.
func (p *PublicKeyCertificate) DER() ([]byte, error) {
	return base64.StdEncoding.DecodeString(p.X509Certificate)
}

// PublicPrivateKeyPair is AMT_PublicPrivateKeyPair: a key the firmware
// generated or was given; DERKey is the public key only.
type PublicPrivateKeyPair struct {
	XMLName     xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicPrivateKeyPair AMT_PublicPrivateKeyPair"`
	DERKey      string   `xml:"DERKey"`
	ElementName string   `xml:"ElementName"`
	InstanceID  string   `xml:"InstanceID"`
}

// CertificateBlobInput is the input of AddTrustedRootCertificate and
// AddCertificate (element name set by the constructor).
type CertificateBlobInput struct {
	XMLName         xml.Name
	CertificateBlob string `xml:"CertificateBlob"`
}

// NewCertificateBlobInput is the input of method (AddTrustedRootCertificate
// or AddCertificate) carrying der.
func NewCertificateBlobInput(method string, der []byte) *CertificateBlobInput {
	return &CertificateBlobInput{
		XMLName:         xml.Name{Space: ResourcePublicKeyManagementService, Local: method + "_INPUT"},
		CertificateBlob: base64.StdEncoding.EncodeToString(der),
	}
}

// GenerateKeyPairInput asks the firmware for a key pair.
type GenerateKeyPairInput struct {
	XMLName      xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyManagementService GenerateKeyPair_INPUT"`
	KeyAlgorithm int      `xml:"KeyAlgorithm"`
	KeyLength    int      `xml:"KeyLength"`
}

// KeyAlgorithmRSA is the only KeyAlgorithm AMT supports.
const KeyAlgorithmRSA = 0

// GeneratePKCS10RequestExInput asks the firmware to sign a CSR whose
// signature is empty (the "null-signed" request) with the key pair.
type GeneratePKCS10RequestExInput struct {
	XMLName                      xml.Name          `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyManagementService GeneratePKCS10RequestEx_INPUT"`
	KeyPair                      EndpointReference `xml:"KeyPair"`
	SigningAlgorithm             int               `xml:"SigningAlgorithm"`
	NullSignedCertificateRequest string            `xml:"NullSignedCertificateRequest"`
}

// SigningAlgorithm values of GeneratePKCS10RequestEx.
const (
	PKCS10SHA1RSA   = 0
	PKCS10SHA256RSA = 1
)

// CreatedCertificateOutput is the output of AddTrustedRootCertificate and
// AddCertificate: a reference to the new AMT_PublicKeyCertificate.
type CreatedCertificateOutput struct {
	XMLName            xml.Name
	CreatedCertificate EndpointReference `xml:"CreatedCertificate"`
	Returned
}

// NewCreatedCertificateOutput is the output of method for responders.
func NewCreatedCertificateOutput(method, instanceID string) *CreatedCertificateOutput {
	return &CreatedCertificateOutput{
		XMLName:            xml.Name{Space: ResourcePublicKeyManagementService, Local: method + "_OUTPUT"},
		CreatedCertificate: NewEPR(ResourcePublicKeyCertificate, Selector{Name: "InstanceID", Value: instanceID}),
	}
}

// AddKeyOutput references the AMT_PublicPrivateKeyPair that AddKey created.
type AddKeyOutput struct {
	XMLName    xml.Name          `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyManagementService AddKey_OUTPUT"`
	CreatedKey EndpointReference `xml:"CreatedKey"`
	Returned
}

// GenerateKeyPairOutput references the new AMT_PublicPrivateKeyPair.
type GenerateKeyPairOutput struct {
	XMLName xml.Name          `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyManagementService GenerateKeyPair_OUTPUT"`
	KeyPair EndpointReference `xml:"KeyPair"`
	Returned
}

// GeneratePKCS10RequestExOutput is the signed CSR, base64 DER.
type GeneratePKCS10RequestExOutput struct {
	XMLName                  xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyManagementService GeneratePKCS10RequestEx_OUTPUT"`
	SignedCertificateRequest string   `xml:"SignedCertificateRequest"`
	Returned
}

func (c *Client) addCertificate(ctx context.Context, method string, der []byte) (string, error) {
	var out CreatedCertificateOutput
	if err := c.Invoke(ctx, ResourcePublicKeyManagementService, method, NewCertificateBlobInput(method, der), &out); err != nil {
		return "", err
	}
	if want := (xml.Name{Space: ResourcePublicKeyManagementService, Local: method + "_OUTPUT"}); out.XMLName != want {
		return "", fmt.Errorf("wsman: %s: response element is {%s}%s, want {%s}%s", method, out.XMLName.Space, out.XMLName.Local, want.Space, want.Local)
	}
	return out.CreatedCertificate.InstanceID(), nil
}

// AddTrustedRootCertificate stores a trusted root and returns its InstanceID.
func (c *Client) AddTrustedRootCertificate(ctx context.Context, der []byte) (string, error) {
	return c.addCertificate(ctx, "AddTrustedRootCertificate", der)
}

// AddCertificate stores a certificate for a key pair the firmware holds and
// returns its InstanceID.
func (c *Client) AddCertificate(ctx context.Context, der []byte) (string, error) {
	return c.addCertificate(ctx, "AddCertificate", der)
}

// GenerateKeyPair makes the firmware generate an RSA key of keyLength bits
// and returns the key pair's InstanceID.
func (c *Client) GenerateKeyPair(ctx context.Context, keyLength int) (string, error) {
	var out GenerateKeyPairOutput
	if err := c.Invoke(ctx, ResourcePublicKeyManagementService, "GenerateKeyPair", &GenerateKeyPairInput{KeyAlgorithm: KeyAlgorithmRSA, KeyLength: keyLength}, &out); err != nil {
		return "", err
	}
	return out.KeyPair.InstanceID(), nil
}

// GeneratePKCS10RequestEx has the firmware sign nullSigned (a DER CSR with an
// empty signature) with the key pair keyInstanceID; it returns the signed DER.
func (c *Client) GeneratePKCS10RequestEx(ctx context.Context, keyInstanceID string, nullSigned []byte, signingAlgorithm int) ([]byte, error) {
	var out GeneratePKCS10RequestExOutput
	in := &GeneratePKCS10RequestExInput{
		KeyPair:                      NewEPR(ResourcePublicPrivateKeyPair, Selector{Name: "InstanceID", Value: keyInstanceID}),
		SigningAlgorithm:             signingAlgorithm,
		NullSignedCertificateRequest: base64.StdEncoding.EncodeToString(nullSigned),
	}
	if err := c.Invoke(ctx, ResourcePublicKeyManagementService, "GeneratePKCS10RequestEx", in, &out); err != nil {
		return nil, err
	}
	der, err := base64.StdEncoding.DecodeString(out.SignedCertificateRequest)
	if err != nil {
		return nil, fmt.Errorf("wsman: GeneratePKCS10RequestEx returned a request that is not base64: %w", err)
	}
	return der, nil
}

// GetPublicKeyCertificate reads one certificate by InstanceID.
func (c *Client) GetPublicKeyCertificate(ctx context.Context, instanceID string) (*PublicKeyCertificate, error) {
	return Get[PublicKeyCertificate](ctx, c, ResourcePublicKeyCertificate, Selector{Name: "InstanceID", Value: instanceID})
}

// PublicKeyCertificates lists the certificates in the firmware's store.
func (c *Client) PublicKeyCertificates(ctx context.Context) ([]PublicKeyCertificate, error) {
	return EnumerateAll[PublicKeyCertificate](ctx, c, ResourcePublicKeyCertificate)
}

// GetPublicPrivateKeyPair reads one key pair by InstanceID.
func (c *Client) GetPublicPrivateKeyPair(ctx context.Context, instanceID string) (*PublicPrivateKeyPair, error) {
	return Get[PublicPrivateKeyPair](ctx, c, ResourcePublicPrivateKeyPair, Selector{Name: "InstanceID", Value: instanceID})
}

// PublicPrivateKeyPairs lists the key pairs the firmware holds.
func (c *Client) PublicPrivateKeyPairs(ctx context.Context) ([]PublicPrivateKeyPair, error) {
	return EnumerateAll[PublicPrivateKeyPair](ctx, c, ResourcePublicPrivateKeyPair)
}
