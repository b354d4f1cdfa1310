package provisioning

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/store"
)

// The firmware's network path: once the internal CA
// issued a device's TLS certificate, AMT serves WS-MAN on port 16993 of the
// PC's address whether or not the OS and its agent run. The RCS dials it
// there, verifies the certificate against the pinned CA root and the
// recorded FQDN (deviceTLSConfig), and authenticates as admin with the
// sealed password; adminConn picks that port for any device with a TLS
// state, so every maintenance task runs on a NetworkDevice unchanged.

// RuleNetworkPath names refusals to reach a device over the network.
const RuleNetworkPath = "network path"

// networkDialTimeout bounds a TCP connect to a PC that is off or gone;
// the job's context bounds the rest.
const networkDialTimeout = 10 * time.Second

// NetworkDevice is a provisioned device reached at addr on its own network
// port, with no host interface. version is what the device last reported:
// it picks the cipher suites AMT 11 and 12 need.
func NetworkDevice(id amt.UUID, version amt.Version, addr netip.Addr) *Device {
	return &Device{
		Info: hostif.Info{UUID: id, Version: version, ProvisioningState: amt.PostProvisioning},
		Addr: addr,
		Dial: func(ctx context.Context, port int) (net.Conn, error) {
			d := net.Dialer{Timeout: networkDialTimeout}
			return d.DialContext(ctx, "tcp", net.JoinHostPort(addr.String(), strconv.Itoa(port)))
		},
	}
}

// HasNetworkPath says whether the RCS configured the device's TLS, and so
// can reach it over the network; fqdn is the name its certificate holds.
func (e *Engine) HasNetworkPath(device string) (fqdn string, ok bool) {
	st, err := e.State(device)
	if err != nil || st.TLS == nil {
		return "", false
	}
	return st.TLS.FQDN, true
}

// NoNetworkPath is the refusal for a device whose TLS the RCS did not
// configure: nothing could vouch for what answers on its port 16993.
func NoNetworkPath(device string) error {
	return Reason{Rule: RuleNetworkPath, Seen: "device " + device + " has no TLS certificate from the internal CA",
		Want: "TLS configured by this RCS (the tls task), so that the firmware's port 16993 can be verified",
		Fix:  "start the agent on the PC and run the tls task (amtrcs device maintain " + device + " --task tls); until then the RCS reaches AMT only through the agent"}
}

// ProbeNetwork asks the firmware on dev's network port for its general
// settings, as admin with the sealed password over TLS pinned to the
// internal CA. It returns nil when AMT answered; FirmwareAnswered tells a
// refusal from the firmware (it answers) from silence. An answer counts as
// contact in the device's maintenance state.
func (e *Engine) ProbeNetwork(ctx context.Context, dev *Device) error {
	id := dev.ID()
	tc, ok := e.deviceTLSConfig(id)
	if !ok {
		return NoNetworkPath(id)
	}
	pw, err := e.st.Secret(AdminSecretName(id))
	if err != nil {
		return fmt.Errorf("probe the network path: the sealed admin password of %s: %w", id, err)
	}
	c, err := dev.dialWSMAN(PortTLS, amt.AdminUser, string(pw), tc)
	if err != nil {
		return err
	}
	defer c.close()
	_, err = c.GetGeneralSettings(ctx)
	if err == nil || deviceAnswered(err) {
		now := e.opts.Clock()
		if werr := e.st.Update(func(tx *store.Tx) error {
			return updateState(tx, id, now, func(s *DeviceState) { s.LastContact = now })
		}); werr != nil {
			return errors.Join(err, werr)
		}
	}
	if err != nil {
		return fmt.Errorf("probe %s port %d: %w", dev.Addr, PortTLS, err)
	}
	return nil
}

// FirmwareAnswered reports whether err (from ProbeNetwork or a task)
// came from the firmware itself: the device was reached, and refused.
func FirmwareAnswered(err error) bool { return err == nil || deviceAnswered(err) }
