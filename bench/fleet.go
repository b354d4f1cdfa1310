package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hello"
	"github.com/amtrcs/amtrcs/amtsim"
)

// The full-stack mode runs the simulated fleet and its agents in a child
// process, so that getrusage of the parent is the server alone. Parent and
// child speak JSON values over the child's stdin and stdout:
//
//	parent: fleetSpec            child: ready (identity root)
//	parent: fleetServer          child: calibrated (calls per activation)
//	parent: fleetGo              child: device (one per device) ..., end
//
// The enrollment tokens cross the pipe and nothing else: the child never
// logs them.

// FleetEnv set to "1" in a process's environment marks it as the fleet
// child: the default fleet command sets it, so that a test binary's
// TestMain can play the child (`amtrcs bench-fleet` does in the binary).
const FleetEnv = "AMTRCS_BENCH_FLEET"

// Hello addresses of the legacy calibration device: its own listener sits
// on calibrationListen, and its hello is relayed from calibrationSource,
// where the counting server answers the RCS.
const (
	calibrationListen = "127.2.255.253"
	calibrationSource = "127.2.255.254"
)

// fleetTimeout bounds one device's activation in the child.
const fleetTimeout = 10 * time.Minute

type fleetSpec struct {
	Path        Path          `json:"path"`
	Version     string        `json:"version"`
	Devices     int           `json:"devices"`
	Concurrency int           `json:"concurrency"`
	Latency     time.Duration `json:"latency"`
	Suffix      string        `json:"suffix"`
	RootHash    []byte        `json:"root_hash"`
	// Idle: the agents stay connected after their job and reconnect when
	// the server restarts (the idle-agent run), instead of a calibration
	// and a timed activation.
	Idle bool `json:"idle,omitempty"`
}

type fleetServer struct {
	Gateway    string `json:"gateway,omitempty"`
	ServerCert []byte `json:"server_cert,omitempty"` // DER
	// Tokens are one-time enrollment tokens: the calibration device's
	// first, then one per device.
	Tokens []string `json:"tokens,omitempty"`
	Hello  string   `json:"hello,omitempty"`
}

type fleetGo struct {
	Go bool `json:"go"`
}

// Kinds of the child's messages.
const (
	msgReady      = "ready"
	msgCalibrated = "calibrated"
	msgDevice     = "device"
	msgEnd        = "end"
	msgError      = "error"
	msgRestarting = "restarting" // idle run: the fleet counts reconnections from now
	msgReconnect  = "reconnect"  // idle run: how many came back so far
)

type fleetMsg struct {
	Kind         string       `json:"kind"`
	IdentityRoot []byte       `json:"identity_root,omitempty"` // DER
	Calls        *Calls       `json:"calls,omitempty"`
	Device       *fleetDevice `json:"device,omitempty"`
	End          *fleetEnd    `json:"end,omitempty"`
	Reconnect    *reconnect   `json:"reconnect,omitempty"`
	Error        string       `json:"error,omitempty"`
}

// fleetDevice is one device's outcome as the fleet saw it. Latency is set
// for agent paths (agent start to the job's final event); a legacy
// device's ends at its job's end, which only the server knows.
type fleetDevice struct {
	Index   int           `json:"index"`
	UUID    string        `json:"uuid"`
	Start   time.Time     `json:"start"`
	Latency time.Duration `json:"latency,omitempty"`
	Error   string        `json:"error,omitempty"`
}

type fleetEnd struct {
	CPU      time.Duration `json:"cpu"`
	PeakRSS  int64         `json:"peak_rss"`
	TLSDials int64         `json:"tls_dials"`
	// Delayed is the calls the fleet's devices delayed by the latency.
	Delayed int64 `json:"delayed"`
}

// fleet is the child's state.
type fleet struct {
	cfg      Config
	suffix   string
	rootHash []byte
	idCA     *amtsim.IdentityCA
	cal      *amtsim.Device
	devs     []*amtsim.Device
	srv      fleetServer
	tlsCfg   *tls.Config
	tlsDials atomic.Int64

	mu  sync.Mutex
	enc *json.Encoder
}

func (f *fleet) send(m fleetMsg) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.enc.Encode(m)
}

// ServeFleet is the fleet child: it reads the spec from in, makes the
// simulated devices, runs their agents against the server the parent
// names (or, for legacy, their hellos), and reports on out. It returns
// when the fleet is done or in closes early.
func ServeFleet(ctx context.Context, in io.Reader, out io.Writer) (err error) {
	f := &fleet{enc: json.NewEncoder(out)}
	defer func() {
		if err != nil {
			_ = f.send(fleetMsg{Kind: msgError, Error: err.Error()})
		}
	}()
	dec := json.NewDecoder(in)
	var spec fleetSpec
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("bench fleet: read the spec: %w", err)
	}
	v, err := amt.ParseVersion(spec.Version)
	if err != nil {
		return fmt.Errorf("bench fleet: %w", err)
	}
	f.cfg = Config{Devices: spec.Devices, Path: spec.Path, Version: v, Concurrency: spec.Concurrency, Latency: spec.Latency, Mode: ModeEngine}
	if err := f.cfg.normalize(); err != nil {
		return fmt.Errorf("bench fleet: %w", err)
	}
	f.suffix, f.rootHash = spec.Suffix, spec.RootHash
	if f.idCA, err = amtsim.NewIdentityCA(time.Now()); err != nil {
		return err
	}
	if f.cal, err = newSimDevice(f.cfg, f.idCA, f.suffix, f.rootHash, -1); err != nil {
		return err
	}
	f.devs = make([]*amtsim.Device, f.cfg.Devices)
	for i := range f.devs {
		if f.devs[i], err = newSimDevice(f.cfg, f.idCA, f.suffix, f.rootHash, i); err != nil {
			return err
		}
	}
	defer func() {
		f.cal.StopHello()
		for _, d := range f.devs {
			d.StopHello()
		}
	}()
	if err := f.send(fleetMsg{Kind: msgReady, IdentityRoot: f.idCA.Cert.Raw}); err != nil {
		return err
	}
	if err := dec.Decode(&f.srv); err != nil {
		return fmt.Errorf("bench fleet: read the server: %w", err)
	}
	if err := f.prepare(); err != nil {
		return err
	}
	if spec.Idle {
		return f.runIdle(ctx, dec)
	}
	var calls Calls
	if f.cfg.Path == PathLegacy {
		calls, err = f.calibrateLegacy(ctx)
	} else {
		calls, err = f.calibrateAgent(ctx)
	}
	if err != nil {
		return fmt.Errorf("bench fleet: calibration activation: %w", err)
	}
	if err := f.send(fleetMsg{Kind: msgCalibrated, Calls: &calls, Device: &fleetDevice{Index: -1, UUID: f.cal.ID().String()}}); err != nil {
		return err
	}
	var g fleetGo
	if err := dec.Decode(&g); err != nil || !g.Go {
		return fmt.Errorf("bench fleet: no go from the parent (%v)", err)
	}
	// The parent gone, the fleet stops.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _, _ = io.Copy(io.Discard, in); cancel() }()

	f.tlsDials.Store(0)
	cpu0 := processCPU()
	f.runAll(ctx)
	return f.send(fleetMsg{Kind: msgEnd, End: &fleetEnd{CPU: processCPU() - cpu0, PeakRSS: peakRSS(), TLSDials: f.tlsDials.Load(), Delayed: delayedCalls(f.devs)}})
}

func (f *fleet) prepare() error {
	if f.cfg.Path == PathLegacy {
		if _, _, err := net.SplitHostPort(f.srv.Hello); err != nil {
			return fmt.Errorf("bench fleet: hello listener %q: %w", f.srv.Hello, err)
		}
		for i, d := range f.devs {
			d.SetHello(amtsim.HelloConfig{Server: f.srv.Hello, Interval: 2 * time.Second, Source: helloSource(i)})
		}
		return nil
	}
	if len(f.srv.Tokens) != f.cfg.Devices+1 {
		return fmt.Errorf("bench fleet: %d enrollment tokens, want %d (one per device and one for calibration)", len(f.srv.Tokens), f.cfg.Devices+1)
	}
	cert, err := x509.ParseCertificate(f.srv.ServerCert)
	if err != nil {
		return fmt.Errorf("bench fleet: server certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	f.tlsCfg = &tls.Config{RootCAs: pool}
	return nil
}

// agentFor is the agent of device d, enrolling with token.
func (f *fleet) agentFor(d *amtsim.Device, token string, backend agent.Backend) (*agent.Agent, error) {
	host := "pc-" + d.ID().String()[:8]
	return agent.New(agent.Options{Server: f.srv.Gateway, EnrollToken: token, Hostname: host, FQDN: host + "." + f.suffix,
		Backend: backend, TLS: f.tlsCfg, Once: true})
}

// calibrateAgent activates the calibration device through the counting
// server, to learn the calls one activation makes.
func (f *fleet) calibrateAgent(ctx context.Context) (Calls, error) {
	var cnt callCount
	var dials atomic.Int64
	count := newCountingLMS()
	d := f.cal
	ag, err := f.agentFor(d, f.srv.Tokens[0], &relayCounter{cnt: &cnt, InProcess: agent.InProcess{Label: "calibration", Host: d.Host(), Mng: d.Manageability(),
		Dial: func(_ context.Context, port int) (net.Conn, error) {
			if port == amtsim.PortTLS {
				dials.Add(1)
			}
			return count.dial(d, port, &cnt)
		}}})
	if err != nil {
		return Calls{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, fleetTimeout)
	defer cancel()
	if err := ag.Run(ctx); err != nil {
		return Calls{}, withDeviceError(err, d)
	}
	if err := checkDevice(f.cfg.Path, d); err != nil {
		return Calls{}, err
	}
	c := Calls{PTHI: int(cnt.pthi.Load()), WSMAN: int(cnt.wsman.Load()), TLSConnections: int(dials.Load()), RelayRoundTrips: cnt.relayRoundTrips()}
	c.Total = c.PTHI + c.WSMAN
	return c, nil
}

// calibrateLegacy activates the calibration device with its hello relayed
// from calibrationSource, where the counting server plays its port 16993:
// the RCS connects back to the address a hello came from.
func (f *fleet) calibrateLegacy(ctx context.Context) (Calls, error) {
	var cnt callCount
	var dials atomic.Int64
	count := newCountingLMS()
	d := f.cal
	tlsLn, err := net.Listen("tcp", net.JoinHostPort(calibrationSource, strconv.Itoa(amtsim.PortTLS)))
	if err != nil {
		return Calls{}, fmt.Errorf("counting listener: %w", err)
	}
	defer tlsLn.Close()
	go func() {
		for {
			c, err := tlsLn.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			if err := count.serve(c, d, amtsim.PortTLS, &cnt); err != nil {
				c.Close()
			}
		}
	}()
	relay, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Calls{}, fmt.Errorf("hello relay: %w", err)
	}
	defer relay.Close()
	go func() {
		for {
			c, err := relay.Accept()
			if err != nil {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, err := io.ReadAll(io.LimitReader(c, hello.MaxSize+1))
			c.Close()
			if err == nil {
				_ = relayHello(f.srv.Hello, b)
			}
		}
	}()
	d.SetHello(amtsim.HelloConfig{Server: relay.Addr().String(), Interval: 2 * time.Second, Source: calibrationListen})
	if err := d.StartHello(); err != nil {
		return Calls{}, err
	}
	if _, err := waitProvisioned(ctx, d, helloWait+fleetTimeout); err != nil {
		return Calls{}, err
	}
	return Calls{WSMAN: int(cnt.wsman.Load()), Total: int(cnt.wsman.Load()), TLSConnections: int(dials.Load())}, nil
}

// relayHello sends a hello's bytes to the server from calibrationSource.
func relayHello(server string, b []byte) error {
	dialer := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(calibrationSource)}}
	c, err := dialer.Dial("tcp", server)
	if err != nil {
		return err
	}
	_, werr := c.Write(b)
	return errors.Join(werr, c.Close())
}

// waitProvisioned polls d until it reaches the path's final state.
func waitProvisioned(ctx context.Context, d *amtsim.Device, limit time.Duration) (time.Time, error) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(limit)
	for {
		if st, _ := d.State(); st == amt.PostProvisioning {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%w in %s (%s)", errNoHello, limit, d.LastError())
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-t.C:
		}
	}
}

// runAll runs the fleet through cfg.Concurrency workers.
func (f *fleet) runAll(ctx context.Context) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range f.cfg.Concurrency {
		wg.Go(func() {
			for i := range next {
				r := f.runOne(ctx, i)
				_ = f.send(fleetMsg{Kind: msgDevice, Device: &r})
			}
		})
	}
	for i := range f.devs {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
}

func (f *fleet) runOne(ctx context.Context, i int) fleetDevice {
	d := f.devs[i]
	r := fleetDevice{Index: i, UUID: d.ID().String()}
	ctx, cancel := context.WithTimeout(ctx, fleetTimeout)
	defer cancel()
	var err error
	if f.cfg.Path == PathLegacy {
		r.Start = time.Now()
		if err = d.StartHello(); err == nil {
			_, err = waitProvisioned(ctx, d, helloWait+fleetTimeout)
		}
	} else {
		var ag *agent.Agent
		ag, err = f.agentFor(d, f.srv.Tokens[i+1], &agent.InProcess{Label: r.UUID, Host: d.Host(), Mng: d.Manageability(),
			Dial: func(ctx context.Context, port int) (net.Conn, error) {
				if port == amtsim.PortTLS {
					f.tlsDials.Add(1)
				}
				return d.DialLMS(ctx, port)
			}})
		if err == nil {
			r.Start = time.Now()
			err = ag.Run(ctx)
			r.Latency = time.Since(r.Start)
		}
		if err == nil {
			err = checkDevice(f.cfg.Path, d)
		}
	}
	if err != nil {
		r.Error = withDeviceError(err, d).Error()
	}
	return r
}

// checkDevice confirms the device's final state for path.
func checkDevice(path Path, d *amtsim.Device) error {
	st, mode := d.State()
	want := amt.ControlACM
	if path == PathCCM {
		want = amt.ControlCCM
	}
	if st != amt.PostProvisioning || mode != want {
		return fmt.Errorf("device ended %s %s, want post-provisioning %s", st, mode, want)
	}
	return nil
}
