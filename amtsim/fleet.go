package amtsim

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/amt"
)

// FleetConfig describes many like devices, as `amtrcs sim` makes them.
type FleetConfig struct {
	Devices          int              `json:"devices"`
	Version          amt.Version      `json:"version"`
	DHCPSuffix       string           `json:"dhcp_suffix,omitempty"`
	MEBxSuffix       string           `json:"mebx_suffix,omitempty"`
	SuffixPrecedence SuffixPrecedence `json:"suffix_precedence,omitempty"`
	// TrustHashes are custom root hashes given to every device (their size
	// says the algorithm: 20 SHA-1, 32 SHA-256, 48 SHA-384).
	TrustHashes [][]byte `json:"trust_hashes,omitempty"`
	// HelloServer, when set, puts every device in legacy network setup,
	// sending hellos there every HelloInterval from its own loopback
	// address (127.1.x.y).
	HelloServer     string        `json:"hello_server,omitempty"`
	HelloInterval   time.Duration `json:"hello_interval,omitempty"`
	Latency         time.Duration `json:"latency,omitempty"`
	FlashWriteLimit int           `json:"flash_write_limit,omitempty"`
	HostReplies     HostReplies   `json:"host_replies,omitempty"`
	LocalTLS        LocalTLS      `json:"local_tls,omitempty"`
	AMTDisabled     bool          `json:"amt_disabled,omitempty"`
	Rules           Rules         `json:"rules"`
	Clock           Clock         `json:"-"`
}

// Fleet is many devices served together: one identity root, one loopback
// host port, one status report.
type Fleet struct {
	cfg      FleetConfig
	identity *IdentityCA

	mu      sync.RWMutex
	devices []*Device
	byUUID  map[amt.UUID]*Device
	replays map[amt.UUID]*Replay
	ports   []net.Listener
}

// MaxFleet bounds a fleet: each legacy device needs its own address in
// 127.1.0.0 to 127.255.255.254.
const MaxFleet = 1 << 20

func newFleet(cfg FleetConfig, id *IdentityCA) *Fleet {
	return &Fleet{cfg: cfg, identity: id, byUUID: make(map[amt.UUID]*Device)}
}

// LoopbackAddress is the address of the i-th device (0-based) of a fleet
// in legacy network setup: 127.1.0.1, 127.1.0.2, ... skipping .0 and .255.
func LoopbackAddress(i int) net.IP {
	n := i / 254
	return net.IPv4(127, byte(1+n/256), byte(n%256), byte(1+i%254))
}

// NewFleet makes cfg.Devices devices in pre-provisioning with random UUIDs
// and host names pc00001, pc00002 and so on.
func NewFleet(cfg FleetConfig) (*Fleet, error) {
	if cfg.Devices < 1 || cfg.Devices > MaxFleet {
		return nil, fmt.Errorf("amtsim: fleet of %d devices: want 1 to %d", cfg.Devices, MaxFleet)
	}
	if _, err := amt.LookupProfile(cfg.Version); err != nil {
		return nil, err
	}
	var customs []CustomHash
	for i, h := range cfg.TrustHashes {
		alg, err := amt.HashAlgorithmBySize(len(h))
		if err != nil {
			return nil, fmt.Errorf("amtsim: trust hash %d: %w", i+1, err)
		}
		customs = append(customs, CustomHash{Name: fmt.Sprintf("Custom root %d", i+1), Algorithm: alg, Hash: h})
	}
	id, err := NewIdentityCA(time.Now())
	if err != nil {
		return nil, err
	}
	f := newFleet(cfg, id)
	for i := 0; i < cfg.Devices; i++ {
		dc := Config{
			Version: cfg.Version, DHCPSuffix: cfg.DHCPSuffix, MEBxSuffix: cfg.MEBxSuffix, SuffixPrecedence: cfg.SuffixPrecedence,
			OSHostname: fmt.Sprintf("pc%05d", i+1), CustomHashes: customs, Clock: cfg.Clock, Latency: cfg.Latency, HostReplies: cfg.HostReplies,
			Rules: cfg.Rules, Identity: id, FlashWriteLimit: cfg.FlashWriteLimit,
			LocalTLS: cfg.LocalTLS, AMTDisabled: cfg.AMTDisabled,
		}
		if cfg.HelloServer != "" {
			dc.Hello = HelloConfig{Server: cfg.HelloServer, Interval: cfg.HelloInterval, Source: LoopbackAddress(i).String()}
		}
		if _, err := rand.Read(dc.UUID[:]); err != nil {
			return nil, err
		}
		d, err := New(dc)
		if err != nil {
			return nil, fmt.Errorf("amtsim: device %d: %w", i+1, err)
		}
		if err := f.add(d); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (f *Fleet) add(d *Device) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.byUUID[d.uuid]; dup {
		return fmt.Errorf("amtsim: two devices with UUID %s", d.uuid)
	}
	f.byUUID[d.uuid] = d
	f.devices = append(f.devices, d)
	return nil
}

// StartHello puts every device that has a hello server in legacy network
// setup.
func (f *Fleet) StartHello() error {
	var errs []error
	for _, d := range f.Devices() {
		d.mu.Lock()
		want := d.st.Hello.Server != "" && d.setup == nil && d.st.ProvState == amt.PreProvisioning
		d.mu.Unlock()
		if want {
			if err := d.StartHello(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// NewFleetOf serves devices made with New through one host port, for
// tests that need a device of known UUID behind it.
func NewFleetOf(ds ...*Device) (*Fleet, error) {
	f := newFleet(FleetConfig{}, nil)
	for _, d := range ds {
		if err := f.add(d); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// NewReplayFleet serves replayed devices through the host port, as a fleet
// serves simulated ones. It has no identity root: a replay answers what
// was captured and sets nothing up.
func NewReplayFleet(rs ...*Replay) (*Fleet, error) {
	f := newFleet(FleetConfig{}, nil)
	f.replays = make(map[amt.UUID]*Replay)
	for _, r := range rs {
		if _, dup := f.replays[r.ID()]; dup {
			return nil, fmt.Errorf("amtsim: two replays of device %s; want one capture per device", r.ID())
		}
		f.replays[r.ID()] = r
	}
	return f, nil
}

// Replays lists the replayed devices, sorted by UUID.
func (f *Fleet) Replays() []*Replay {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]*Replay, 0, len(f.replays))
	for _, r := range f.replays {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID().String() < out[j].ID().String() })
	return out
}

// Devices lists the devices in creation order.
func (f *Fleet) Devices() []*Device {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return append([]*Device(nil), f.devices...)
}

// Device finds a device by UUID.
func (f *Fleet) Device(u amt.UUID) (*Device, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	d, ok := f.byUUID[u]
	return d, ok
}

// Identity is the root every device's TLS setup certificate chains to; an
// RCS that provisions this fleet trusts it.
func (f *Fleet) Identity() *IdentityCA { return f.identity }

// Statuses reports every device, sorted by UUID.
func (f *Fleet) Statuses() []Status {
	ds := f.Devices()
	out := make([]Status, len(ds))
	for i, d := range ds {
		out[i] = d.Status()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UUID.String() < out[j].UUID.String() })
	return out
}

// Close stops the host ports and every legacy setup.
func (f *Fleet) Close() error {
	f.mu.Lock()
	ports := f.ports
	f.ports = nil
	f.mu.Unlock()
	var errs []error
	for _, l := range ports {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, d := range f.Devices() {
		d.mu.Lock()
		d.stopHelloLocked()
		d.mu.Unlock()
	}
	return errors.Join(errs...)
}
