package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hello"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/store"
)

// maxFailures is how many failure messages a report keeps.
const maxFailures = 10

// CPUAttribution says how the report splits CPU between the two sides.
const CPUAttribution = "pprof labels in one process: side=server (engine, store, WS-MAN client, TLS client) and side=sim (simulator WS-MAN server and TLS server, host-interface calls, legacy listeners); unlabelled samples (GC, runtime) split in proportion"

// harness is one run's engine, simulated devices and counters.
type harness struct {
	cfg   Config
	ch    *chain
	idCA  *amtsim.IdentityCA
	st    *store.Store
	eng   *provisioning.Engine
	sims  []*amtsim.Device
	prof  provisioning.Profile
	count *countingLMS

	tlsDials atomic.Int64 // connections the engine opened to port 16993

	// Legacy network setup: the hello listener and who waits for a hello.
	helloAddr string
	helloMu   sync.Mutex
	waiting   map[amt.UUID]chan helloMsg
	helloLn   net.Listener
	calib     atomic.Pointer[calibTarget]
}

type helloMsg struct {
	m   hello.Message
	src netip.Addr
	at  time.Time
}

// calibTarget routes the engine's legacy connections for one device to
// the counting server.
type calibTarget struct {
	addr string
	d    *amtsim.Device
	cnt  *callCount
}

// workDir is cfg.Dir, or else a temporary directory that cleanup removes,
// so that a run leaves nothing behind unless told where to work.
func workDir(cfg Config) (dir string, cleanup func(), err error) {
	if cfg.Dir != "" {
		return cfg.Dir, func() {}, nil
	}
	d, err := os.MkdirTemp("", "amtrcs-bench-")
	if err != nil {
		return "", nil, fmt.Errorf("bench: temporary directory: %w", err)
	}
	return d, func() { os.RemoveAll(d) }, nil
}

// Run activates cfg.Devices simulated devices and reports: through the
// whole stack (ModeStack, the default) or against the engine alone
// (ModeEngine).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if cfg.IdleAgents > 0 {
		return runIdle(ctx, cfg)
	}
	if cfg.Mode == ModeStack {
		return runStack(ctx, cfg)
	}
	dir, cleanup, err := workDir(cfg)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	h, err := newHarness(cfg, dir)
	if err != nil {
		return nil, err
	}
	defer h.close()

	rep := &Report{Mode: ModeEngine, LatencyMeasured: "engine mode: host-interface read and Activate (legacy: hello arrival to the end of HandleHello)", Path: cfg.Path, Version: cfg.Version.String(), Devices: cfg.Devices, Concurrency: cfg.Concurrency,
		LatencyPerCallMS: ms(cfg.Latency), Store: "bbolt, fsync on every commit: " + h.st.Path()}
	if cfg.NoSync {
		rep.Store = "bbolt with fsync OFF (diagnostic, not durable): " + h.st.Path()
	}

	// The floor first, on an idle process.
	if rep.Floor, err = MeasureFloor(cfg.FloorTime); err != nil {
		return nil, err
	}
	// Calls per activation, on one extra device served through the
	// counting server.
	if rep.Calls, err = h.calibrate(ctx); err != nil {
		return nil, fmt.Errorf("bench: calibration activation: %w", err)
	}
	rep.RelayRoundTrips = rep.Calls.RelayRoundTrips
	if err := h.makeFleet(); err != nil {
		return nil, err
	}

	var prof bytes.Buffer
	if err := pprof.StartCPUProfile(&prof); err != nil {
		return nil, fmt.Errorf("bench: CPU profile (another profile running?): %w", err)
	}
	h.tlsDials.Store(0)
	cpu0, t0 := processCPU(), time.Now()
	lat, fails := h.activateAll(ctx)
	elapsed, cpu := time.Since(t0), processCPU()-cpu0
	pprof.StopCPUProfile()
	rep.profile = prof.Bytes()

	rep.fill(cfg, h.tlsDials.Load(), lat, fails, elapsed, cpu)
	rep.DelayedCalls = delayedCalls(h.sims)
	split, err := splitProfile(rep.profile)
	if err != nil {
		return nil, err
	}
	rep.attribute(split, cpu)
	return rep, nil
}

func newHarness(cfg Config, dir string) (*harness, error) {
	now := time.Now()
	ch, err := newChain(now)
	if err != nil {
		return nil, err
	}
	idCA, err := amtsim.NewIdentityCA(now)
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Embedded defaults: the KEK file beside the database, fsync on.
	st, err := store.Open(filepath.Join(dir, "amtrcs.db"), store.Options{Logger: quiet, NoSync: cfg.NoSync})
	if err != nil {
		return nil, fmt.Errorf("bench: store: %w", err)
	}
	h := &harness{cfg: cfg, ch: ch, idCA: idCA, st: st, waiting: map[amt.UUID]chan helloMsg{}, count: newCountingLMS()}
	opts := provisioning.Options{
		Logger:              quiet,
		Domains:             provisioning.StaticDomains(provisioning.Domain{Name: "bench", Suffixes: []string{Suffix}, CertID: ch.cert.ID}),
		DeviceIdentityRoots: []*x509.Certificate{idCA.Cert},
		DialNetwork:         h.dialNetwork,
		Actor:               "bench",
	}
	h.eng, err = provisioning.New(st, provisioning.CertList{ch.cert}, opts)
	if err != nil {
		st.Close()
		return nil, err
	}
	h.prof = provisioning.DefaultProfile("default")
	if cfg.Path == PathCCM {
		h.prof = provisioning.DefaultProfile("ccm")
		h.prof.Mode, h.prof.UserConsent = provisioning.ModeCCM, provisioning.ConsentAll
	}
	if err := provisioning.PutProfile(st, h.prof); err != nil {
		st.Close()
		return nil, err
	}
	if cfg.Path == PathLegacy {
		if err := h.listenHello(); err != nil {
			st.Close()
			return nil, err
		}
	}
	// Start the simulator's process-wide WS-MAN server under the sim label,
	// so that its goroutines (and the connections it serves) carry it.
	warm, err := h.newDevice(-1)
	if err != nil {
		st.Close()
		return nil, err
	}
	asSim(context.Background(), func(ctx context.Context) {
		if c, err := warm.DialLMS(ctx, amtsim.PortHTTP); err == nil {
			c.Close()
		}
	})
	return h, nil
}

func (h *harness) close() {
	for _, d := range h.sims {
		d.StopHello()
	}
	if h.helloLn != nil {
		h.helloLn.Close()
	}
	h.st.Close()
}

// helloSource is the loopback address of device i in legacy setup
// (127.3.0.1 onwards; other loopback ranges are left to tests and
// `amtrcs sim`). Device -1, the calibration device, is 127.2.255.254.
func helloSource(i int) string {
	if i < 0 {
		return "127.2.255.254"
	}
	n := i / 254
	return netip.AddrFrom4([4]byte{127, byte(3 + n/256), byte(n % 256), byte(1 + i%254)}).String()
}

func (h *harness) newDevice(i int) (*amtsim.Device, error) {
	d, err := newSimDevice(h.cfg, h.idCA, Suffix, h.ch.rootHash, i)
	if err == nil && h.cfg.Path == PathLegacy {
		d.SetHello(amtsim.HelloConfig{Server: h.helloAddr, Interval: 2 * time.Second, Source: helloSource(i)})
	}
	return d, err
}

// newSimDevice makes device i of a bench fleet (-1: the calibration
// device): pre-provisioning, the fleet's suffix, the vendor root as a
// custom hash.
func newSimDevice(c Config, idCA *amtsim.IdentityCA, suffix string, rootHash []byte, i int) (*amtsim.Device, error) {
	name := fmt.Sprintf("pc%06d", i+1)
	if i < 0 {
		name = "calibration"
	}
	cfg := amtsim.Config{
		Version: c.Version, DHCPSuffix: suffix, OSHostname: name, Identity: idCA, Latency: c.Latency,
		CustomHashes: []amtsim.CustomHash{{Name: "amtrcs bench root", Algorithm: amt.HashSHA256, Hash: rootHash}},
	}
	if _, err := rand.Read(cfg.UUID[:]); err != nil {
		return nil, err
	}
	d, err := amtsim.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: device %s: %w", name, err)
	}
	return d, nil
}

// delayedCalls sums the calls that devs delayed by their latency.
func delayedCalls(devs []*amtsim.Device) int64 {
	var n int64
	for _, d := range devs {
		n += d.Status().DelayedCalls
	}
	return n
}

func (h *harness) makeFleet() error {
	h.sims = make([]*amtsim.Device, h.cfg.Devices)
	for i := range h.sims {
		d, err := h.newDevice(i)
		if err != nil {
			return err
		}
		h.sims[i] = d
	}
	return nil
}

// activateAll runs the fleet through cfg.Concurrency workers and returns
// the latency of each successful activation and the failures.
func (h *harness) activateAll(ctx context.Context) ([]time.Duration, []error) {
	next := make(chan int)
	var mu sync.Mutex
	var lat []time.Duration
	var fails []error
	var done atomic.Int64
	var wg sync.WaitGroup
	for range h.cfg.Concurrency {
		wg.Go(func() {
			asServer(ctx, func(ctx context.Context) {
				for i := range next {
					d, err := h.activate(ctx, h.sims[i], nil)
					mu.Lock()
					if err != nil {
						fails = append(fails, fmt.Errorf("device %d (%s): %w", i+1, h.sims[i].ID(), err))
					} else {
						lat = append(lat, d)
					}
					mu.Unlock()
					if h.cfg.Progress != nil {
						h.cfg.Progress(int(done.Add(1)), h.cfg.Devices)
					}
				}
			})
		})
	}
	for i := range h.sims {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return lat, fails
}

// activate runs one device's activation as the server does it: read the
// host interface, then Activate (or, for legacy, wait for its hello and
// handle it). With cnt set the device's WS-MAN calls go through the
// counting server and its host-interface calls are counted.
func (h *harness) activate(ctx context.Context, sd *amtsim.Device, cnt *callCount) (time.Duration, error) {
	if h.cfg.Path == PathLegacy {
		return h.activateLegacy(ctx, sd, cnt)
	}
	dial := func(ctx context.Context, port int) (net.Conn, error) {
		if port == amtsim.PortTLS {
			h.tlsDials.Add(1)
		}
		return sd.DialLMS(ctx, port)
	}
	var pthi *atomic.Int64
	var host, mng hostif.Transport = simHost{sd.Host(), nil}, simHost{sd.Manageability(), nil}
	if cnt != nil {
		pthi = &cnt.pthi
		dial = func(ctx context.Context, port int) (net.Conn, error) {
			if port == amtsim.PortTLS {
				h.tlsDials.Add(1)
			}
			cnt.opens.Add(1)
			return h.count.dial(sd, port, cnt)
		}
		host, mng = &relayedClient{t: sd.Host(), cnt: cnt}, &relayedClient{t: sd.Manageability(), cnt: cnt}
	}
	name := "pc-" + sd.ID().String()[:8]
	start := time.Now()
	// The agent's report, read on the device's side of the relay: calls
	// to the firmware, none across the relay.
	info, err := agent.ReadReportInfo(ctx, &agent.InProcess{Label: name, Host: simHost{sd.Host(), pthi}, Mng: simHost{sd.Manageability(), pthi}})
	if err != nil {
		return 0, err
	}
	dev := &provisioning.Device{Info: info, Host: hostif.NewClient(host), Mng: hostif.NewManageability(mng), Dial: dial, Hostname: name, OSFQDN: name + "." + Suffix}
	res, err := h.eng.Activate(ctx, dev, h.prof)
	took := time.Since(start)
	if err != nil {
		return 0, withDeviceError(err, sd)
	}
	return took, h.check(sd, res)
}

// check confirms the path the engine took and the device's final state.
func (h *harness) check(sd *amtsim.Device, res *provisioning.Result) error {
	want := paths[h.cfg.Path].engine
	if res.Path != want {
		return fmt.Errorf("engine took path %s, want %s", res.Path, want)
	}
	return checkDevice(h.cfg.Path, sd)
}

func withDeviceError(err error, sd *amtsim.Device) error {
	if le := sd.LastError(); le != "" {
		return fmt.Errorf("%w (device: %s)", err, le)
	}
	return err
}

// simHost is the host interface of a simulated device, run under the sim
// label and counted when n is set.
type simHost struct {
	t hostif.Transport
	n *atomic.Int64
}

func (s simHost) Call(ctx context.Context, req []byte) (resp []byte, err error) {
	if s.n != nil {
		s.n.Add(1)
	}
	asSim(ctx, func(ctx context.Context) { resp, err = s.t.Call(ctx, req) })
	return resp, err
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}

func sortDurations(d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
}

var errNoHello = errors.New("no hello from the device")
