package provisioning

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
)

// configureSteps apply the profile after activation (issue item 3). Each is
// a post step: it repeats safely, so Resume can run it again.
func configureSteps(mode amt.ControlMode) []step {
	s := []step{{name: "redirection", post: true, do: stepRedirection}}
	if mode == amt.ControlACM {
		// CCM firmware always asks the user; its opt-in policy is fixed.
		s = append(s, step{name: "user-consent", post: true, do: stepConsent})
	}
	s = append(s,
		step{name: "network", post: true, do: stepNetwork},
		step{name: "hostname", post: true, do: stepHostname},
		step{name: "confirm", post: true, do: func(ctx context.Context, r *run) error { return r.confirm(ctx, mode) }},
	)
	return s
}

func stepRedirection(ctx context.Context, r *run) error {
	c, err := r.adminConn()
	if err != nil {
		return err
	}
	return setRedirection(ctx, c, r.prof.Redirection)
}

// redirectionState is the AMT_RedirectionService state that enables SOL
// and IDER as red says.
func redirectionState(red Redirection) int {
	switch {
	case red.SOL && red.IDER:
		return wsman.RedirectionIDERAndSOL
	case red.SOL:
		return wsman.RedirectionSOL
	case red.IDER:
		return wsman.RedirectionIDER
	}
	return wsman.RedirectionDisabled
}

// setRedirection sets the redirection features: SOL and IDER, the
// listener that serves them, and KVM. Activation and the enforce task
// call it.
func setRedirection(ctx context.Context, c *conn, red Redirection) error {
	state := redirectionState(red)
	if err := c.RedirectionRequestStateChange(ctx, state); err != nil {
		return fmt.Errorf("AMT_RedirectionService.RequestStateChange(%d): %w", state, err)
	}
	rs, err := c.GetRedirectionService(ctx)
	if err != nil {
		return err
	}
	rs.ListenerEnabled = red.KVM || red.SOL || red.IDER
	if _, err := c.PutRedirectionService(ctx, rs); err != nil {
		return fmt.Errorf("put AMT_RedirectionService: %w", err)
	}
	kvm := wsman.KVMDisabled
	if red.KVM {
		kvm = wsman.KVMEnabled
	}
	if err := c.KVMRequestStateChange(ctx, kvm); err != nil {
		return fmt.Errorf("CIM_KVMRedirectionSAP.RequestStateChange(%d): %w", kvm, err)
	}
	return nil
}

func stepConsent(ctx context.Context, r *run) error {
	c, err := r.adminConn()
	if err != nil {
		return err
	}
	return setConsent(ctx, c, r.prof.UserConsent)
}

// optInRequired is IPS_OptInService.OptInRequired for a consent policy.
func optInRequired(p Consent) int {
	switch p {
	case ConsentNone:
		return wsman.OptInNone
	case ConsentKVM:
		return wsman.OptInKVM
	}
	return wsman.OptInAll
}

// setConsent sets the user-consent policy (ACM only: CCM's is fixed).
func setConsent(ctx context.Context, c *conn, p Consent) error {
	o, err := c.GetOptInService(ctx)
	if err != nil {
		return err
	}
	o.OptInRequired = optInRequired(p)
	if _, err := c.PutOptInService(ctx, o); err != nil {
		return fmt.Errorf("put IPS_OptInService: %w", err)
	}
	return nil
}

func stepNetwork(ctx context.Context, r *run) error {
	c, err := r.adminConn()
	if err != nil {
		return err
	}
	return setNetwork(ctx, c, r.prof.Network)
}

// ipSync says whether AMT takes its address from the host OS: always
// with DHCP, where the OS and AMT share the lease.
func (n Network) ipSync() bool { return n.DHCP || n.SyncFromHost }

// setNetwork sets how the wired interface gets its address.
func setNetwork(ctx context.Context, c *conn, n Network) error {
	eth, err := c.GetEthernetPortSettings(ctx, wsman.EthernetPortWired)
	if err != nil {
		return err
	}
	eth.DHCPEnabled = n.DHCP
	sync := n.ipSync()
	eth.IpSyncEnabled = &sync
	if n.DHCP {
		t := true
		eth.SharedDynamicIP = &t
	} else {
		eth.SharedStaticIp = &sync
	}
	if _, err := c.PutEthernetPortSettings(ctx, eth); err != nil {
		return fmt.Errorf("put AMT_EthernetPortSettings: %w", err)
	}
	return nil
}

func stepHostname(ctx context.Context, r *run) error {
	if !r.prof.SyncHostname {
		return nil
	}
	host, domain := splitFQDN(r.dev.OSFQDN, r.dev.Hostname)
	if host == "" {
		r.res.Notes = append(r.res.Notes, "host name not synchronized: the host reported no name")
		return nil
	}
	c, err := r.adminConn()
	if err != nil {
		return err
	}
	if _, err := c.SetHostAndDomain(ctx, host, domain); err != nil {
		return fmt.Errorf("put AMT_GeneralSettings host and domain: %w", err)
	}
	return nil
}

// splitFQDN prefers the FQDN; the bare host name has no domain.
func splitFQDN(fqdn, hostname string) (host, domain string) {
	fqdn = strings.TrimSuffix(strings.TrimSpace(fqdn), ".")
	if fqdn != "" {
		h, d, _ := strings.Cut(fqdn, ".")
		return h, d
	}
	return strings.TrimSpace(hostname), ""
}

// confirm checks the device reached mode: over the host interface when
// there is one (waiting while the firmware applies the change), else over
// WS-MAN.
func (r *run) confirm(ctx context.Context, want amt.ControlMode) error {
	var mode amt.ControlMode
	var st amt.ProvisioningState
	if r.dev.Host != nil {
		var err error
		mode, st, err = waitState(ctx, r.dev, func(m amt.ControlMode, s amt.ProvisioningState) bool {
			return s == amt.PostProvisioning && m == want
		})
		if err != nil && !errors.Is(err, errStateNotReached) {
			return err
		}
	} else {
		c, err := r.adminConn()
		if err != nil {
			return err
		}
		sc, err := c.GetSetupAndConfigurationService(ctx)
		if err != nil {
			return err
		}
		st, mode = amt.ProvisioningState(sc.ProvisioningState), amt.ProvisioningMode(sc.ProvisioningMode).ControlMode()
	}
	r.res.ControlMode = mode
	if st != amt.PostProvisioning || mode != want {
		return fmt.Errorf("device reports %s in control mode %s after activation, want post-provisioning in %s", st, mode, want)
	}
	return nil
}
