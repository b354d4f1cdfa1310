package wsman

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/google/uuid"
)

// SetupAndConfigurationService is AMT_SetupAndConfigurationService: the
// provisioning state and mode.
type SetupAndConfigurationService struct {
	XMLName                       xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService AMT_SetupAndConfigurationService"`
	CreationClassName             string   `xml:"CreationClassName"`
	ElementName                   string   `xml:"ElementName"`
	EnabledState                  int      `xml:"EnabledState"`
	Name                          string   `xml:"Name"`
	PasswordModel                 int      `xml:"PasswordModel"`
	ProvisioningMode              int      `xml:"ProvisioningMode"`
	ProvisioningServerOTP         string   `xml:"ProvisioningServerOTP,omitempty"`
	ProvisioningState             int      `xml:"ProvisioningState"`
	RequestedState                int      `xml:"RequestedState"`
	SystemCreationClassName       string   `xml:"SystemCreationClassName"`
	SystemName                    string   `xml:"SystemName"`
	ZeroTouchConfigurationEnabled bool     `xml:"ZeroTouchConfigurationEnabled"`
}

// SetMEBxPasswordInput sets the MEBx password.
type SetMEBxPasswordInput struct {
	XMLName  xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService SetMEBxPassword_INPUT"`
	Password string   `xml:"Password"`
}

// UnprovisionInput returns the device to pre-provisioning.
type UnprovisionInput struct {
	XMLName          xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService Unprovision_INPUT"`
	ProvisioningMode int      `xml:"ProvisioningMode"`
}

// GetUuidOutput carries the device UUID, base64 of 16 bytes. Some firmware
// sends no ReturnValue, so it is optional here.
type GetUuidOutput struct { //nolint:revive // the class's own spelling
	XMLName     xml.Name        `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService GetUuid_OUTPUT"`
	UUID        string          `xml:"UUID"`
	ReturnValue *amt.ReturnCode `xml:"ReturnValue,omitempty"`
}

func (o *GetUuidOutput) returnCode() amt.ReturnCode {
	if o.ReturnValue == nil {
		return 0
	}
	return *o.ReturnValue
}

// Parse decodes the UUID. AMT sends the 16 bytes in the host interface's
// order: the first three fields little-endian (reference §12).
func (o *GetUuidOutput) Parse() (uuid.UUID, error) {
	raw, err := base64.StdEncoding.DecodeString(o.UUID)
	if err != nil || len(raw) != 16 {
		return uuid.UUID{}, fmt.Errorf("wsman: GetUuid returned %q: want base64 of 16 bytes", o.UUID)
	}
	var u uuid.UUID
	u[0], u[1], u[2], u[3] = raw[3], raw[2], raw[1], raw[0]
	u[4], u[5] = raw[5], raw[4]
	u[6], u[7] = raw[7], raw[6]
	copy(u[8:], raw[8:])
	return u, nil
}

// Unprovision modes.
const (
	UnprovisionFull = 1
)

// GetSetupAndConfigurationService reads AMT_SetupAndConfigurationService.
func (c *Client) GetSetupAndConfigurationService(ctx context.Context) (*SetupAndConfigurationService, error) {
	return Get[SetupAndConfigurationService](ctx, c, ResourceSetupAndConfigurationService)
}

// SetMEBxPassword sets the MEBx password. The password is sent to the device
// and nowhere else.
func (c *Client) SetMEBxPassword(ctx context.Context, password string) error {
	return c.invokeReturn(ctx, ResourceSetupAndConfigurationService, "SetMEBxPassword", &SetMEBxPasswordInput{Password: password})
}

// CommitChanges commits the provisioning (2057, data missing, when the MEBx
// password is still needed). The firmware may drop the connection while it
// restarts its network stack.
func (c *Client) CommitChanges(ctx context.Context) error {
	return c.invokeReturn(ctx, ResourceSetupAndConfigurationService, "CommitChanges", newEmptyInput(ResourceSetupAndConfigurationService, "CommitChanges"))
}

// Unprovision returns the device to pre-provisioning (mode UnprovisionFull).
func (c *Client) Unprovision(ctx context.Context, mode int) error {
	return c.invokeReturn(ctx, ResourceSetupAndConfigurationService, "Unprovision", &UnprovisionInput{ProvisioningMode: mode})
}

// PartialUnprovision asks for a partial unprovision: the firmware keeps its
// admin ACL, TLS-PSK keys, host and domain name and provisioning server
// address, and resets the rest (rpc-go sends it in ACM only).
func (c *Client) PartialUnprovision(ctx context.Context) error {
	return c.invokeReturn(ctx, ResourceSetupAndConfigurationService, "PartialUnprovision", newEmptyInput(ResourceSetupAndConfigurationService, "PartialUnprovision"))
}

// GetUUID reads the device UUID.
func (c *Client) GetUUID(ctx context.Context) (uuid.UUID, error) {
	var out GetUuidOutput
	if err := c.Invoke(ctx, ResourceSetupAndConfigurationService, "GetUuid", newEmptyInput(ResourceSetupAndConfigurationService, "GetUuid"), &out); err != nil {
		return uuid.UUID{}, err
	}
	return out.Parse()
}
