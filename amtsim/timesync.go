package amtsim

import (
	"fmt"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
)

// AMT_TimeSynchronizationService: the firmware clock.

const timeName = "Intel(r) AMT Time Synchronization Service"

func (rt *routes) timeSync() {
	res := wsman.ResourceTimeSynchronizationService
	inst := func(*Device) any {
		return &wsman.TimeSynchronizationService{
			CreationClassName: "AMT_TimeSynchronizationService", ElementName: timeName, EnabledState: 5,
			Name: timeName, RequestedState: 12, SystemCreationClassName: "CIM_ComputerSystem", SystemName: "Intel(r) AMT",
		}
	}
	rt.get(res, inst)
	rt.enumeration(res, func(d *Device, _ *caller) []any { return []any{inst(d)} })
	rt.method(res, "GetLowAccuracyTimeSynch", func(d *Device, _ *caller, _ *wsman.Request) (any, error) {
		return &wsman.GetLowAccuracyTimeSynchOutput{Ta0: d.FirmwareTime().Unix()}, nil
	})
	rt.method(res, "SetHighAccuracyTimeSynch", (*Device).setHighAccuracyTimeSynch)
}

func (d *Device) setHighAccuracyTimeSynch(c *caller, r *wsman.Request) (any, error) {
	const call = "SetHighAccuracyTimeSynch"
	in, err := configInput[wsman.SetHighAccuracyTimeSynchInput](d, c, r, call)
	if err != nil {
		return nil, err
	}
	out := func(rc amt.ReturnCode) (any, error) {
		return returned(wsman.ResourceTimeSynchronizationService, call, rc), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.configurableLocked(c, call) {
		return out(amt.PTNotPermitted)
	}
	if in.Tm1 <= 0 || in.Tm2 < in.Tm1 {
		d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("Tm1 %d, Tm2 %d", in.Tm1, in.Tm2), "Unix seconds with Tm1 <= Tm2", "send the console's time when sending (Tm1) and now (Tm2)"))
		return out(amt.PTInvalidParameter)
	}
	// The console's clock is authoritative; the firmware takes Tm2 as now.
	d.st.Clock.set(time.Unix(in.Tm2, 0), d.clock.Now())
	d.eventLocked("config", "clock set to "+time.Unix(in.Tm2, 0).UTC().Format(time.RFC3339))
	return out(amt.PTSuccess)
}
