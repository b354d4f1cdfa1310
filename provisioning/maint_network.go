package provisioning

import (
	"context"
	"fmt"
	"strings"

	"github.com/amtrcs/amtrcs/store"
)

// SyncNetwork is the network task (reference §10): a PC renamed in its OS
// keeps its old name in AMT, and its TLS certificate names the old one, so
// consoles connecting by the new name fail. It compares the OS FQDN the
// host reported (Device.OSFQDN) with AMT's host and domain names; on a
// difference it writes the OS names into AMT and re-issues the TLS
// certificate for the new name.
func (e *Engine) SyncNetwork(ctx context.Context, dev *Device) (*MaintenanceResult, error) {
	return e.maintenance(ctx, dev, TaskNetworkSync, func(ctx context.Context, r *run, res *MaintenanceResult) error {
		host, domain := splitFQDN(dev.OSFQDN, dev.Hostname)
		if host == "" {
			return Reason{Rule: RuleAMTFQDN, Seen: "the host reported no name", Want: "the OS host name and domain",
				Fix: "check the agent on the device: it reports the OS FQDN when it connects"}
		}
		osFQDN := strings.ToLower(host)
		if domain != "" {
			osFQDN += "." + strings.ToLower(domain)
		}
		c, err := r.adminConn()
		if err != nil {
			return err
		}
		gs, err := c.GetGeneralSettings(ctx)
		if err != nil {
			return fmt.Errorf("read AMT_GeneralSettings: %w", err)
		}
		res.Steps = append(res.Steps, "read-names")
		amtFQDN := strings.ToLower(gs.HostName)
		if gs.DomainName != "" {
			amtFQDN += "." + strings.ToLower(gs.DomainName)
		}
		updated := amtFQDN != osFQDN
		if updated {
			if _, err := c.SetHostAndDomain(ctx, host, domain); err != nil {
				return fmt.Errorf("put AMT_GeneralSettings host %q domain %q: %w", host, domain, err)
			}
			res.Steps = append(res.Steps, "set-names")
			res.Changed = true
			res.Notes = append(res.Notes, fmt.Sprintf("AMT name %s differed from the OS name %s: set", amtFQDN, osFQDN))
		}
		now := e.opts.Clock()
		if err := e.st.Update(func(tx *store.Tx) error {
			return updateState(tx, r.sess.Device, now, func(s *DeviceState) {
				s.Network = &NetworkState{Checked: now, AMTFQDN: amtFQDN, OSFQDN: osFQDN, Updated: updated}
				if updated {
					s.Network.AMTFQDN = osFQDN
				}
			})
		}); err != nil {
			return err
		}
		st, err := e.State(r.sess.Device)
		if err != nil {
			return err
		}
		if st.TLS != nil && !strings.EqualFold(st.TLS.FQDN, osFQDN) {
			if domain == "" {
				return Reason{Rule: RuleAMTFQDN, Seen: fmt.Sprintf("TLS certificate for %s, and the OS reports %q without a domain", st.TLS.FQDN, host),
					Want: "an FQDN to issue the certificate for", Fix: "give the PC its DNS domain (DHCP option 15 or the OS settings)"}
			}
			if err := r.issueTLS(ctx, res, osFQDN); err != nil {
				return fmt.Errorf("re-issue the TLS certificate for %s: %w", osFQDN, err)
			}
		}
		if !updated && (st.TLS == nil || strings.EqualFold(st.TLS.FQDN, osFQDN)) {
			res.Notes = append(res.Notes, "AMT and the OS agree on "+osFQDN)
		}
		return nil
	})
}
