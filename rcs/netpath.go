package rcs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs/health"
	"github.com/amtrcs/amtrcs/store"
)

// How the server learns a device's network address: the FQDN its TLS
// certificate names (the AMT FQDN the tls task read from the firmware) is
// resolved with the resolvers of the config's dns block (the system's when
// it has none), since that is the name the certificate is verified
// against; when the name does not resolve, the last known address is
// used: the address that last answered on port 16993, or a legacy device's
// hello source. The agent's report is not used: it carries the OS's view,
// and the OS is what is down when the network path matters.

// reachDevice is a device as its connected agent relays it, else as its
// firmware answers on its own network port.
func (s *Server) reachDevice(ctx context.Context, id string) (*provisioning.Device, error) {
	if ac := s.gw.conn(id); ac != nil {
		return ac.device(), nil
	}
	return s.networkDevice(ctx, id)
}

// networkDevice is the device at the address of its AMT FQDN, or at its
// last known address.
func (s *Server) networkDevice(ctx context.Context, id string) (*provisioning.Device, error) {
	fqdn, ok := s.eng.HasNetworkPath(id)
	if !ok {
		r, _ := amt.AsRefusal(provisioning.NoNetworkPath(id))
		r.Seen = "no agent connected, and " + r.Seen
		return nil, refuse(http.StatusConflict, r)
	}
	uuid, err := amt.ParseUUID(id)
	if err != nil {
		return nil, fmt.Errorf("device id %q: %w", id, err)
	}
	var rec DeviceRecord
	if err := s.st.Get(store.Devices, id, &rec); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	addr, rerr := s.resolveDevice4(ctx, fqdn)
	if rerr != nil {
		last, perr := netip.ParseAddr(rec.Address)
		if perr != nil {
			if ap, err := netip.ParseAddrPort(rec.Address); err == nil {
				last, perr = ap.Addr(), nil
			}
		}
		if perr != nil {
			return nil, apiErr(http.StatusConflict, provisioning.RuleNetworkPath,
				fmt.Sprintf("no agent connected; %s does not resolve (%v) and no address of the device is known", fqdn, rerr),
				"an address for "+fqdn, "add an A record for "+fqdn+" in the DNS the RCS queries (the config's dns resolvers), or start the agent on the PC")
		}
		s.log.Info("network path: the AMT FQDN does not resolve; using the last known address", "device", id, "fqdn", fqdn, "address", last, "err", rerr)
		addr = last
	}
	version, _ := amt.ParseVersion(rec.Version)
	dev := provisioning.NetworkDevice(uuid, version, addr)
	if rerr != nil {
		dev.Dial = lastAddressDial(dev.Dial, fqdn, rerr, addr)
	}
	dev.Hostname, dev.OSFQDN = rec.Hostname, rec.FQDN
	return dev, nil
}

// lastAddressDial is dial for a device reached at its last known address
// because its name did not resolve: when nothing answers there either, the
// refusal names both, so that the admin sees every way the server tried
// and not only the last.
func lastAddressDial(dial func(context.Context, int) (net.Conn, error), fqdn string, rerr error, addr netip.Addr) func(context.Context, int) (net.Conn, error) {
	return func(ctx context.Context, port int) (net.Conn, error) {
		c, err := dial(ctx, port)
		if err == nil {
			return c, nil
		}
		return nil, apiErr(http.StatusConflict, provisioning.RuleNetworkPath,
			fmt.Sprintf("no agent connected; %s does not resolve (%v), and %s, the last address that answered, gives no answer on port %d (%v)", fqdn, rerr, addr, port, err),
			"an address for "+fqdn+" where AMT answers on port "+strconv.Itoa(port),
			"add an A record for "+fqdn+" in the DNS the RCS queries (the config's dns resolvers) if the PC moved, else check that the PC at "+addr.String()+" has power and a network link; or start the agent on the PC")
	}
}

// resolveDevice4 resolves a device's AMT FQDN to one address.
func (s *Server) resolveDevice4(ctx context.Context, fqdn string) (netip.Addr, error) {
	r := net.DefaultResolver
	var mu sync.Mutex
	var asked []string
	if rs := s.cfg.DNS.Resolvers; len(rs) > 0 {
		next := 0
		r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			// Each query goes to the next configured resolver.
			mu.Lock()
			addr := rs[next%len(rs)]
			next++
			if !slices.Contains(asked, addr) {
				asked = append(asked, addr)
			}
			mu.Unlock()
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", strings.TrimSuffix(fqdn, ".")+".")
	if err != nil {
		// The resolver names the system's server, which it did not ask
		// when the config's resolvers are dialed instead.
		var de *net.DNSError
		mu.Lock()
		if errors.As(err, &de) && len(asked) > 0 {
			de.Server = strings.Join(asked, ", ")
		}
		mu.Unlock()
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("%s has no address", fqdn)
	}
	return addrs[0], nil
}

// rememberAddress records the address that answered on the network path,
// the last known address when the name stops resolving.
func (s *Server) rememberAddress(id string, addr netip.Addr) {
	if err := s.updateDevice(id, func(d *DeviceRecord) { d.Address = addr.String() }); err != nil {
		s.log.Warn("record the device's address", "device", id, "err", err)
	}
}

// probeTimeout bounds one device's probe in the health report.
const probeTimeout = 20 * time.Second

// probeWorkers bounds the probes running at once.
const probeWorkers = 8

// probeReach says for every device whose TLS the RCS configured how it can
// be reached: through its agent, over the network only (its OS and agent
// are down), or not at all.
func (s *Server) probeReach(ctx context.Context, states []provisioning.DeviceState) map[string]health.Reach {
	out := map[string]health.Reach{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, probeWorkers)
	for _, st := range states {
		if st.TLS == nil {
			continue
		}
		id := st.Device
		if s.gw.conn(id) != nil {
			out[id] = health.Reach{State: health.ReachAgent}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r := s.probeOne(ctx, id)
			mu.Lock()
			out[id] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func (s *Server) probeOne(ctx context.Context, id string) health.Reach {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	dev, err := s.networkDevice(ctx, id)
	if err != nil {
		return health.Reach{State: health.ReachNone, Detail: err.Error()}
	}
	r := health.Reach{Address: dev.Addr.String()}
	err = s.eng.ProbeNetwork(ctx, dev)
	if provisioning.FirmwareAnswered(err) {
		r.State = health.ReachNetworkOnly
		if err != nil {
			r.Detail = "AMT answered and refused: " + err.Error()
		}
		s.rememberAddress(id, dev.Addr)
		return r
	}
	r.State, r.Detail = health.ReachNone, err.Error()
	return r
}
