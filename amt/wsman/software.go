package wsman

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
)

// SoftwareIdentity is CIM_SoftwareIdentity: one firmware component and its
// version (InstanceID "AMT" carries the AMT version).
type SoftwareIdentity struct {
	XMLName       xml.Name `xml:"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_SoftwareIdentity CIM_SoftwareIdentity"`
	InstanceID    string   `xml:"InstanceID"`
	IsEntity      bool     `xml:"IsEntity"`
	VersionString string   `xml:"VersionString"`
}

// GetSoftwareIdentity reads one component by InstanceID.
func (c *Client) GetSoftwareIdentity(ctx context.Context, instanceID string) (*SoftwareIdentity, error) {
	return Get[SoftwareIdentity](ctx, c, ResourceSoftwareIdentity, Selector{Name: "InstanceID", Value: instanceID})
}

// SoftwareIdentities lists the firmware components.
func (c *Client) SoftwareIdentities(ctx context.Context) ([]SoftwareIdentity, error) {
	return EnumerateAll[SoftwareIdentity](ctx, c, ResourceSoftwareIdentity)
}

// FirmwareVersion finds the AMT version among ids (the "AMT" component).
func FirmwareVersion(ids []SoftwareIdentity) (amt.Version, error) {
	for _, id := range ids {
		if strings.TrimSpace(id.InstanceID) == "AMT" {
			return amt.ParseVersion(id.VersionString)
		}
	}
	return amt.Version{}, fmt.Errorf("wsman: CIM_SoftwareIdentity has no InstanceID \"AMT\" among %d components; the device did not report its AMT version", len(ids))
}

// FirmwareVersion reads the AMT version of the device.
func (c *Client) FirmwareVersion(ctx context.Context) (amt.Version, error) {
	ids, err := c.SoftwareIdentities(ctx)
	if err != nil {
		return amt.Version{}, err
	}
	return FirmwareVersion(ids)
}
