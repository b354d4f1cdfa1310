package agent

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
)

// Facts is what `amtrcs agent info` prints: what rpc-go's amtinfo shows and
// amtrcs knows how to read. Reading them writes nothing to the firmware.
type Facts struct {
	Backend           string               `json:"backend"`
	UUID              amt.UUID             `json:"uuid"`
	Version           string               `json:"amt_version"`
	Build             string               `json:"build,omitempty"`
	SKU               string               `json:"sku,omitempty"`
	CodeVersions      []hostif.CodeVersion `json:"code_versions"`
	ControlMode       string               `json:"control_mode"`
	ProvisioningState string               `json:"provisioning_state"`
	DNSSuffix         string               `json:"pki_dns_suffix"`
	Hashes            []HashFacts          `json:"hashes"`
	// Manageability is nil when the manageability client did not answer
	// (firmware before ME 16.1 may have none).
	Manageability *ManageabilityFacts `json:"manageability"`
	// ManageabilityError says why the flags were not read.
	ManageabilityError string `json:"manageability_error,omitempty"`
	// LAN is the wired interface; nil with LANError when it was not read.
	LAN      *LANFacts `json:"lan,omitempty"`
	LANError string    `json:"lan_error,omitempty"`
}

// HashFacts is one row of the trusted-root table.
type HashFacts struct {
	Name      string `json:"name"`
	Algorithm string `json:"algorithm"`
	Hash      string `json:"hash"`
	Default   bool   `json:"default"`
	Active    bool   `json:"active"`
}

// ManageabilityFacts are the manageability client's flags.
type ManageabilityFacts struct {
	Flags        string `json:"flags"`
	Operational  bool   `json:"operational"`
	TLSEnforced  bool   `json:"tls_enforced"`
	NewInterface bool   `json:"new_interface"`
}

// LANFacts is GetLANInterfaceSettings of the wired interface.
type LANFacts struct {
	Enabled bool   `json:"enabled"`
	DHCP    bool   `json:"dhcp"`
	IPv4    string `json:"ipv4"`
	MAC     string `json:"mac"`
	LinkUp  bool   `json:"link_up"`
}

// ReadFacts reads the device's facts through b with read-only calls. The
// host interface must answer; the manageability client and the LAN settings
// may not, and are then reported as not read.
func ReadFacts(ctx context.Context, b Backend) (Facts, error) {
	f := Facts{Backend: b.Name()}
	p, err := b.OpenPTHI(ctx)
	if err != nil {
		return f, err
	}
	defer p.Close()
	c := hostif.NewClient(p)
	wrap := func(err error) error { return fmt.Errorf("read the host interface (%s): %w", b.Name(), err) }
	if f.UUID, err = c.UUID(ctx); err != nil {
		return f, wrap(err)
	}
	cv, err := c.CodeVersions(ctx)
	if err != nil {
		return f, wrap(err)
	}
	f.CodeVersions = cv.Versions
	f.Version, _ = cv.Lookup("AMT")
	f.Build, _ = cv.Lookup("Build Number")
	f.SKU, _ = cv.Lookup("Sku")
	mode, err := c.ControlMode(ctx)
	if err != nil {
		return f, wrap(err)
	}
	f.ControlMode = mode.String()
	state, err := c.ProvisioningState(ctx)
	if err != nil {
		return f, wrap(err)
	}
	f.ProvisioningState = state.String()
	if f.DNSSuffix, err = c.DNSSuffix(ctx); err != nil {
		return f, wrap(err)
	}
	t, err := c.HashTable(ctx)
	if err != nil {
		return f, wrap(err)
	}
	for _, h := range t.Entries {
		f.Hashes = append(f.Hashes, HashFacts{Name: h.Name, Algorithm: h.Algorithm.String(), Hash: hex.EncodeToString(h.Hash), Default: h.Default, Active: h.Active})
	}
	if l, err := c.LANInterfaceSettings(ctx, 0); err != nil {
		f.LANError = err.Error()
	} else {
		f.LAN = &LANFacts{
			Enabled: l.Enabled, DHCP: l.DHCPEnabled, LinkUp: l.LinkUp,
			IPv4: fmt.Sprintf("%d.%d.%d.%d", byte(l.IPv4>>24), byte(l.IPv4>>16), byte(l.IPv4>>8), byte(l.IPv4)),
			MAC:  fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", l.MAC[0], l.MAC[1], l.MAC[2], l.MAC[3], l.MAC[4], l.MAC[5]),
		}
	}
	m, err := b.OpenManageability(ctx)
	if err != nil {
		f.ManageabilityError = err.Error()
		return f, nil
	}
	defer m.Close()
	st, err := hostif.NewManageability(m).AMTState(ctx)
	if err != nil {
		f.ManageabilityError = err.Error()
		return f, nil
	}
	f.Manageability = &ManageabilityFacts{Flags: fmt.Sprintf("0x%02X", uint8(st)), Operational: st.Operational(), TLSEnforced: st.TLSEnforced(), NewInterface: st.NewInterface()}
	return f, nil
}
