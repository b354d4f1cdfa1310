package config

import (
	"cmp"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Maintenance holds the schedules of what the RCS keeps doing after setup
// (firmware reference §10). A zero period switches a periodic task off.
type Maintenance struct {
	ClockSync        time.Duration // period of AMT clock synchronisation
	NetworkSync      time.Duration // period of host name, domain and address sync
	TLSRenewBefore   time.Duration // re-issue AMT TLS certificates this long before expiry
	PasswordRotation time.Duration // period of admin password rotation
	// Enforce is the period of the enforce task, which re-applies each
	// device's profile (0, the default: on demand only).
	Enforce time.Duration
	// ProvisioningCertWarn are the lead times, longest first, at which the
	// provisioning certificate's coming expiry is reported.
	ProvisioningCertWarn []time.Duration
}

// MinTLSRenewBefore is the reference's rule: re-issue AMT TLS certificates at
// least 30 days before expiry.
const MinTLSRenewBefore = 30 * day

// DefaultMaintenance follows the reference: clock every 14 days, TLS
// re-issue 30 days ahead, provisioning certificate warnings at 60 and 30
// days; network sync daily and password rotation every 90 days.
func DefaultMaintenance() Maintenance {
	return Maintenance{
		ClockSync:            14 * day,
		NetworkSync:          day,
		TLSRenewBefore:       MinTLSRenewBefore,
		PasswordRotation:     90 * day,
		ProvisioningCertWarn: []time.Duration{60 * day, 30 * day},
	}
}

type maintenanceRaw struct {
	ClockSync             *string        `hcl:"clock_sync,optional"`
	ClockSyncRange        hcl.Range      `hcl:"clock_sync,attr_value_range"`
	NetworkSync           *string        `hcl:"network_sync,optional"`
	NetworkSyncRange      hcl.Range      `hcl:"network_sync,attr_value_range"`
	TLSRenewBefore        *string        `hcl:"tls_renew_before,optional"`
	TLSRenewBeforeRange   hcl.Range      `hcl:"tls_renew_before,attr_value_range"`
	PasswordRotation      *string        `hcl:"password_rotation,optional"`
	PasswordRotationRange hcl.Range      `hcl:"password_rotation,attr_value_range"`
	Enforce               *string        `hcl:"enforce,optional"`
	EnforceRange          hcl.Range      `hcl:"enforce,attr_value_range"`
	ProvisioningCertWarn  hcl.Expression `hcl:"provisioning_cert_warn,optional"`
}

func (b *builder) maintenance(raw *maintenanceRaw, m *Maintenance) {
	if raw == nil {
		return
	}
	b.duration(raw.ClockSync, raw.ClockSyncRange, "maintenance.clock_sync", true, &m.ClockSync)
	b.duration(raw.NetworkSync, raw.NetworkSyncRange, "maintenance.network_sync", true, &m.NetworkSync)
	b.duration(raw.PasswordRotation, raw.PasswordRotationRange, "maintenance.password_rotation", true, &m.PasswordRotation)
	b.duration(raw.Enforce, raw.EnforceRange, "maintenance.enforce", true, &m.Enforce)
	if b.duration(raw.TLSRenewBefore, raw.TLSRenewBeforeRange, "maintenance.tls_renew_before", false, &m.TLSRenewBefore) &&
		m.TLSRenewBefore < MinTLSRenewBefore {
		b.warnf(raw.TLSRenewBeforeRange, "TLS renewal later than advised", `maintenance.tls_renew_before = %q (%s): Intel advises re-issuing AMT TLS certificates at least %s before expiry; fix: set "%s" or more`,
			*raw.TLSRenewBefore, humanDuration(m.TLSRenewBefore), humanDuration(MinTLSRenewBefore), formatHours(MinTLSRenewBefore))
	}
	items, status := b.stringList(raw.ProvisioningCertWarn)
	if status != listOK {
		return
	}
	var warn []time.Duration
	for _, it := range items {
		d := MinTLSRenewBefore
		if b.duration(&it.val, it.rng, "maintenance.provisioning_cert_warn element", false, &d) {
			warn = append(warn, d)
		}
	}
	slices.SortFunc(warn, func(x, y time.Duration) int { return cmp.Compare(y, x) })
	m.ProvisioningCertWarn = slices.Compact(warn)
}
