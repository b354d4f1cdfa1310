package amtsim

import (
	"fmt"
	"net"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/dnssuffix"
)

// AMT_GeneralSettings, AMT_EthernetPortSettings, AMT_RedirectionService,
// IPS_OptInService, CIM_KVMRedirectionSAP and CIM_SoftwareIdentity.

const generalName = "Intel(r) AMT: General Settings"

func (rt *routes) general() {
	res := wsman.ResourceGeneralSettings
	rt.get(res, func(d *Device) any { return d.generalInstance() })
	rt.enumeration(res, func(d *Device, _ *caller) []any { return []any{d.generalInstance()} })
	rt.handle(res, wsman.ActionPut, (*Device).putGeneral)
}

func (d *Device) generalInstance() *wsman.GeneralSettings {
	d.mu.Lock()
	defer d.mu.Unlock()
	one, zero := 1, 0
	fqdn := d.st.OSHostname
	if fqdn != "" && d.suffixLocked() != "" && !strings.Contains(fqdn, ".") {
		fqdn += "." + d.suffixLocked()
	}
	return &wsman.GeneralSettings{
		AMTNetworkEnabled: 1, DDNSPeriodicUpdateInterval: 1440, DDNSTTL: 900,
		DDNSUpdateByDHCPServerEnabled: true, DHCPSyncRequiresHostname: &one,
		DigestRealm: d.st.Realm, DomainName: d.st.DomainName, ElementName: generalName,
		HostName: d.st.HostName, HostOSFQDN: fqdn, IdleWakeTimeout: 1, InstanceID: generalName,
		NetworkInterfaceEnabled: true, PingResponseEnabled: true, RmcpPingResponseEnabled: true,
		SharedFQDN: true, ThunderboltDockEnabled: &zero,
	}
}

// putGeneral takes the host and domain names; the other fields are the
// firmware's and are kept.
func (d *Device) putGeneral(c *caller, r *wsman.Request) (any, error) {
	const call = "Put AMT_GeneralSettings"
	in, err := configInput[wsman.GeneralSettings](d, c, r, call)
	if err != nil {
		return nil, err
	}
	if in.HostName != "" {
		if _, err := dnssuffix.ValidateName(in.HostName); err != nil || strings.Contains(in.HostName, ".") {
			d.mu.Lock()
			d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("HostName %q", in.HostName), "one DNS label", "send the short host name; the domain goes in DomainName"))
			d.mu.Unlock()
			return nil, wsman.NewFault(wsman.SubcodeInvalidRepresentation, wsman.DetailInvalidValue)
		}
	}
	if in.DomainName != "" {
		if _, err := dnssuffix.ValidateName(in.DomainName); err != nil {
			d.mu.Lock()
			d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("DomainName %q", in.DomainName), "a DNS name", "send the DNS domain, for example corp.example.com"))
			d.mu.Unlock()
			return nil, wsman.NewFault(wsman.SubcodeInvalidRepresentation, wsman.DetailInvalidValue)
		}
	}
	if err := d.lockConfigurable(c, call); err != nil {
		return nil, err
	}
	d.st.HostName, d.st.DomainName = in.HostName, in.DomainName
	d.eventLocked("config", fmt.Sprintf("AMT FQDN %s.%s", in.HostName, in.DomainName))
	d.mu.Unlock()
	return d.generalInstance(), nil
}

func (rt *routes) features() {
	eth := wsman.ResourceEthernetPortSettings
	rt.handle(eth, wsman.ActionGet, func(d *Device, _ *caller, r *wsman.Request) (any, error) {
		switch id, _ := r.Header.Selector("InstanceID"); id {
		case "", wsman.EthernetPortWired:
			return d.ethernetInstance(), nil
		case ethernetPortWireless:
			return d.wirelessInstance(), nil
		}
		return nil, wsman.NewFault(wsman.SubcodeInvalidSelectors, wsman.DetailInvalidValue)
	})
	rt.enumeration(eth, func(d *Device, _ *caller) []any { return []any{d.ethernetInstance(), d.wirelessInstance()} })
	rt.handle(eth, wsman.ActionPut, func(d *Device, c *caller, r *wsman.Request) (any, error) {
		const call = "Put AMT_EthernetPortSettings"
		in, err := configInput[wsman.EthernetPortSettings](d, c, r, call)
		if err != nil {
			return nil, err
		}
		if id, _ := r.Header.Selector("InstanceID"); id != "" && id != wsman.EthernetPortWired {
			return nil, wsman.NewFault(wsman.SubcodeInvalidSelectors, wsman.DetailInvalidValue)
		}
		if in.IPAddress != "" && net.ParseIP(in.IPAddress).To4() == nil {
			d.mu.Lock()
			d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("IPAddress %q", in.IPAddress), "an IPv4 address", "send a dotted IPv4 address, or DHCPEnabled true"))
			d.mu.Unlock()
			return nil, wsman.NewFault(wsman.SubcodeInvalidRepresentation, wsman.DetailInvalidValue)
		}
		if err := d.lockConfigurable(c, call); err != nil {
			return nil, err
		}
		d.st.Features.DHCPEnabled = in.DHCPEnabled
		d.st.Features.IPAddress = in.IPAddress
		if in.IpSyncEnabled != nil {
			d.st.Features.IPSyncOff = !*in.IpSyncEnabled
		}
		d.mu.Unlock()
		return d.ethernetInstance(), nil
	})

	red := wsman.ResourceRedirectionService
	rt.get(red, func(d *Device) any { return d.redirectionInstance() })
	rt.enumeration(red, func(d *Device, _ *caller) []any { return []any{d.redirectionInstance()} })
	rt.handle(red, wsman.ActionPut, func(d *Device, c *caller, r *wsman.Request) (any, error) {
		const call = "Put AMT_RedirectionService"
		in, err := configInput[wsman.RedirectionService](d, c, r, call)
		if err != nil {
			return nil, err
		}
		if err := d.lockConfigurable(c, call); err != nil {
			return nil, err
		}
		d.st.Features.RedirListener = in.ListenerEnabled
		d.mu.Unlock()
		return d.redirectionInstance(), nil
	})
	rt.method(red, "RequestStateChange", func(d *Device, c *caller, r *wsman.Request) (any, error) {
		return d.requestStateChange(c, r, red, []int{wsman.RedirectionDisabled, wsman.RedirectionIDER, wsman.RedirectionSOL, wsman.RedirectionIDERAndSOL}, &d.st.Features.RedirectionState)
	})

	opt := wsman.ResourceOptInService
	rt.get(opt, func(d *Device) any { return d.optInInstance() })
	rt.enumeration(opt, func(d *Device, _ *caller) []any { return []any{d.optInInstance()} })
	rt.handle(opt, wsman.ActionPut, func(d *Device, c *caller, r *wsman.Request) (any, error) {
		const call = "Put IPS_OptInService"
		in, err := configInput[wsman.OptInService](d, c, r, call)
		if err != nil {
			return nil, err
		}
		if err := d.lockConfigurable(c, call); err != nil {
			return nil, err
		}
		// CCM always requires user consent (reference §1): the policy can
		// only be changed in ACM.
		if d.st.Mode != amt.ControlACM && in.OptInRequired != wsman.OptInAll {
			d.refuseLocked(call, refusal(RuleState, fmt.Sprintf("OptInRequired %d in %s", in.OptInRequired, d.st.Mode), "ACM to relax user consent", "activate ACM; CCM requires consent for everything"))
			d.mu.Unlock()
			return nil, wsman.NewFault(wsman.SubcodeAccessDenied, "")
		}
		switch in.OptInRequired {
		case wsman.OptInNone, wsman.OptInKVM, wsman.OptInAll:
		default:
			d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("OptInRequired %d", in.OptInRequired), "0, 1 or 4294967295", "send one of the documented values"))
			d.mu.Unlock()
			return nil, wsman.NewFault(wsman.SubcodeInvalidRepresentation, wsman.DetailInvalidValue)
		}
		d.st.Features.OptInRequired = in.OptInRequired
		d.mu.Unlock()
		return d.optInInstance(), nil
	})

	kvm := wsman.ResourceKVMRedirectionSAP
	rt.get(kvm, func(d *Device) any { return d.kvmInstance() })
	rt.enumeration(kvm, func(d *Device, _ *caller) []any { return []any{d.kvmInstance()} })
	rt.method(kvm, "RequestStateChange", func(d *Device, c *caller, r *wsman.Request) (any, error) {
		return d.requestStateChange(c, r, kvm, []int{wsman.KVMEnabled, wsman.KVMDisabled}, &d.st.Features.KVMState)
	})

	sw := wsman.ResourceSoftwareIdentity
	rt.handle(sw, wsman.ActionGet, func(d *Device, _ *caller, r *wsman.Request) (any, error) {
		id, err := selectorID(r)
		if err != nil {
			return nil, err
		}
		for _, s := range d.softwareIdentities() {
			if s.InstanceID == id {
				return s, nil
			}
		}
		return nil, wsman.NewFault(wsman.SubcodeInvalidSelectors, wsman.DetailInvalidValue)
	})
	rt.enumeration(sw, func(d *Device, _ *caller) []any {
		var out []any
		for _, s := range d.softwareIdentities() {
			out = append(out, s)
		}
		return out
	})
}

func (d *Device) ethernetInstance() *wsman.EthernetPortSettings {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.mac()
	t, f := true, false
	sync := !d.st.Features.IPSyncOff
	ip := d.st.Features.IPAddress
	if ip == "" {
		if a := d.helloIPLocked(); a != nil {
			ip = a.String()
		}
	}
	// The simulated network: a /24 with the gateway and two DNS servers.
	return &wsman.EthernetPortSettings{
		DHCPEnabled: d.st.Features.DHCPEnabled, DefaultGateway: "192.168.0.1", ElementName: "Intel(r) AMT Ethernet Port Settings",
		IPAddress: ip, InstanceID: wsman.EthernetPortWired, IpSyncEnabled: &sync, LinkIsUp: true,
		LinkPolicy: []int{1, 14}, MACAddress: fmt.Sprintf("%02x-%02x-%02x-%02x-%02x-%02x", m[0], m[1], m[2], m[3], m[4], m[5]),
		PrimaryDNS: "192.168.0.1", SecondaryDNS: "192.168.0.2",
		SharedDynamicIP: &t, SharedMAC: true, SharedStaticIp: &f, SubnetMask: "255.255.255.0",
	}
}

// ethernetPortWireless is the wireless interface's instance: present, with
// no link, as on a laptop whose WLAN AMT has not been given a profile.
const ethernetPortWireless = "Intel(r) AMT Ethernet Port Settings 1"

func (d *Device) wirelessInstance() *wsman.EthernetPortSettings {
	five, two, one := 5, 2, 1
	return &wsman.EthernetPortSettings{
		ConsoleTcpMaxRetransmissions: &five, DHCPEnabled: true, ElementName: "Intel(r) AMT Ethernet Port Settings",
		InstanceID: ethernetPortWireless, LinkControl: &two, LinkPreference: &two, MACAddress: "00-00-00-00-00-00",
		PhysicalConnectionType: 3, SharedMAC: true, WLANLinkProtectionLevel: &one,
	}
}

func (d *Device) redirectionInstance() *wsman.RedirectionService {
	d.mu.Lock()
	defer d.mu.Unlock()
	const name = "Intel(r) AMT Redirection Service"
	return &wsman.RedirectionService{
		CreationClassName: "AMT_RedirectionService", ElementName: name, EnabledState: d.st.Features.RedirectionState,
		ListenerEnabled: d.st.Features.RedirListener, Name: name,
		SystemCreationClassName: "CIM_ComputerSystem", SystemName: "Intel(r) AMT",
	}
}

func (d *Device) optInInstance() *wsman.OptInService {
	d.mu.Lock()
	defer d.mu.Unlock()
	const name = "Intel(r) AMT OptIn Service"
	can := 0
	if d.st.Mode == amt.ControlACM {
		can = 1
	}
	return &wsman.OptInService{
		CanModifyOptInPolicy: can, CreationClassName: "IPS_OptInService", ElementName: name, Name: name,
		OptInCodeTimeout: 120, OptInDisplayTimeout: 300, OptInRequired: d.st.Features.OptInRequired,
		SystemCreationClassName: "CIM_ComputerSystem", SystemName: "Intel(r) AMT",
	}
}

func (d *Device) kvmInstance() *wsman.KVMRedirectionSAP {
	d.mu.Lock()
	defer d.mu.Unlock()
	const name = "KVM Redirection Service Access Point"
	enabled := d.st.Features.KVMState
	if enabled == wsman.KVMEnabled {
		enabled = 6 // enabled but offline: no KVM session is open
	}
	return &wsman.KVMRedirectionSAP{
		CreationClassName: "CIM_KVMRedirectionSAP", ElementName: name, EnabledState: enabled, KVMProtocol: 4,
		Name: name, RequestedState: d.st.Features.KVMState, SystemCreationClassName: "CIM_ComputerSystem", SystemName: "ManagedSystem",
	}
}

func (d *Device) requestStateChange(c *caller, r *wsman.Request, resource string, allowed []int, target *int) (any, error) {
	call := "RequestStateChange " + resource[strings.LastIndexByte(resource, '/')+1:]
	if err := c.denyLSA(call); err != nil {
		return nil, err
	}
	in := wsman.NewRequestStateChangeInput(resource, 0)
	if err := r.Decode(in); err != nil {
		return nil, d.badInput(call, err)
	}
	out := func(rc amt.ReturnCode) (any, error) { return returned(resource, "RequestStateChange", rc), nil }
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.configurableLocked(c, call) {
		return out(amt.PTNotPermitted)
	}
	ok := false
	for _, a := range allowed {
		ok = ok || a == in.RequestedState
	}
	if !ok {
		d.refuseLocked(call, refusal(RuleParameter, fmt.Sprintf("RequestedState %d", in.RequestedState), fmt.Sprintf("one of %v", allowed), "send a documented state"))
		return out(amt.PTInvalidParameter)
	}
	*target = in.RequestedState
	d.eventLocked("config", fmt.Sprintf("%s to %d", call, in.RequestedState))
	return out(amt.PTSuccess)
}

// softwareIdentities are the firmware components CIM_SoftwareIdentity
// lists; "AMT" carries the version.
func (d *Device) softwareIdentities() []*wsman.SoftwareIdentity {
	v := fmt.Sprintf("%d.%d.%d", d.version.Major, d.version.Minor, d.version.Build)
	build := fmt.Sprint(1000 + d.version.Build)
	rows := [][2]string{
		{"Flash", v}, {"Netstack", v}, {"AMTApps", v}, {"AMT", v}, {"Sku", "16392"}, {"VendorID", "8086"},
		{"Build Number", build}, {"Recovery Version", v}, {"Recovery Build Num", build}, {"Legacy Mode", "False"}, {"AMT FW Core Version", v},
	}
	out := make([]*wsman.SoftwareIdentity, len(rows))
	for i, r := range rows {
		out[i] = &wsman.SoftwareIdentity{InstanceID: r[0], IsEntity: true, VersionString: r[1]}
	}
	return out
}
