package wsman

import (
	"context"
	"encoding/xml"
)

// TimeSynchronizationService is AMT_TimeSynchronizationService.
type TimeSynchronizationService struct {
	XMLName                 xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TimeSynchronizationService AMT_TimeSynchronizationService"`
	CreationClassName       string   `xml:"CreationClassName"`
	ElementName             string   `xml:"ElementName"`
	EnabledState            int      `xml:"EnabledState"`
	LocalTimeSyncEnabled    int      `xml:"LocalTimeSyncEnabled"`
	Name                    string   `xml:"Name"`
	RequestedState          int      `xml:"RequestedState"`
	SystemCreationClassName string   `xml:"SystemCreationClassName"`
	SystemName              string   `xml:"SystemName"`
	TimeSource              int      `xml:"TimeSource"`
}

// GetLowAccuracyTimeSynchOutput is the firmware clock, Unix seconds.
type GetLowAccuracyTimeSynchOutput struct {
	XMLName xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TimeSynchronizationService GetLowAccuracyTimeSynch_OUTPUT"`
	Ta0     int64    `xml:"Ta0"`
	Returned
}

// SetHighAccuracyTimeSynchInput sets the clock: Ta0 is the firmware time
// returned by GetLowAccuracyTimeSynch, Tm1 and Tm2 the console's time when it
// sends and (for the firmware) receives this call, all Unix seconds.
type SetHighAccuracyTimeSynchInput struct {
	XMLName xml.Name `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TimeSynchronizationService SetHighAccuracyTimeSynch_INPUT"`
	Ta0     int64    `xml:"Ta0"`
	Tm1     int64    `xml:"Tm1"`
	Tm2     int64    `xml:"Tm2"`
}

// GetLowAccuracyTimeSynch reads the firmware clock (Unix seconds).
func (c *Client) GetLowAccuracyTimeSynch(ctx context.Context) (int64, error) {
	var out GetLowAccuracyTimeSynchOutput
	err := c.Invoke(ctx, ResourceTimeSynchronizationService, "GetLowAccuracyTimeSynch", newEmptyInput(ResourceTimeSynchronizationService, "GetLowAccuracyTimeSynch"), &out)
	return out.Ta0, err
}

// SetHighAccuracyTimeSynch sets the firmware clock.
func (c *Client) SetHighAccuracyTimeSynch(ctx context.Context, ta0, tm1, tm2 int64) error {
	return c.invokeReturn(ctx, ResourceTimeSynchronizationService, "SetHighAccuracyTimeSynch", &SetHighAccuracyTimeSynchInput{Ta0: ta0, Tm1: tm1, Tm2: tm2})
}
