package amtsim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/amtsim/simtest"
)

func newFleet(t *testing.T, n int, v *simtest.Vendor) *amtsim.Fleet {
	t.Helper()
	f, err := amtsim.NewFleet(amtsim.FleetConfig{Devices: n, Version: mustVersion(t, "16.1.27"), DHCPSuffix: testSuffix, TrustHashes: [][]byte{v.RootHash()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// openChannel opens a host-port channel as an agent does.
func openChannel(ctx context.Context, addr, device string, ch wire.Channel) (net.Conn, error) {
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := wire.WriteSimChannel(c, device, ch); err != nil {
		c.Close()
		return nil, err
	}
	if err := wire.ReadAnswer(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// TestHostPort provisions a fleet device from "another process": PTHI
// frames and LMS bytes through the loopback host port only.
func TestHostPort(t *testing.T) {
	t.Parallel()
	v := simtest.NewVendor(t, simtest.Options{})
	f := newFleet(t, 3, v)
	ln, err := f.ListenHostPort("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	d := f.Devices()[1]
	uuid := d.ID().String()
	pc, err := openChannel(ctx(t), addr, uuid, wire.ChannelPTHI)
	if err != nil {
		t.Fatal(err)
	}
	host := hostif.NewClient(wire.NewFramedTransport(pc))
	info, err := host.ReadInfo(ctx(t))
	if err != nil || info.UUID != d.ID() || info.DNSSuffix != testSuffix {
		t.Fatalf("ReadInfo over the host port: %+v, %v", info, err)
	}
	acct, err := host.LocalSystemAccount(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	dial := wsman.WithDialer(func(ctx context.Context, _, _ string) (net.Conn, error) {
		return openChannel(ctx, addr, uuid, wire.ChannelLMS16992)
	})
	c, err := wsman.NewClient("http://localhost:16992/wsman", acct.Username, acct.Password, dial)
	if err != nil {
		t.Fatal(err)
	}
	gs, err := c.GetGeneralSettings(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if codes := sendChain(t, c, v.Chain); fmtCodes(codes) != "[0 0 0]" {
		t.Fatalf("chain %v: %s", codes, d.LastError())
	}
	if rc := code(t, adminSetup(t, c, v, gs.DigestRealm, "Host-Port-1")); rc != 0 {
		t.Fatalf("AdminSetup %d: %s", rc, d.LastError())
	}
	if m, err := host.ControlMode(ctx(t)); err != nil || m != amt.ControlACM {
		t.Fatalf("control mode %v, %v", m, err)
	}
	for _, others := range f.Devices() {
		if others != d {
			if st, _ := others.State(); st != amt.PreProvisioning {
				t.Fatalf("another device changed state: %v", st)
			}
		}
	}
	// Refusals come back as ERR lines.
	for _, tc := range []struct{ device, channel, want string }{
		{"00000000-0000-0000-0000-000000000001", "pthi", "no device"},
		{uuid, "lms:16993", "connection refused"},
		{uuid, "lms:80", "channel"},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write([]byte("AMTSIM/1 " + tc.device + " " + tc.channel + "\n"))
		err = wire.ReadAnswer(conn)
		conn.Close()
		if !errors.Is(err, wire.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v, want ERR with %q", tc.device, tc.channel, err, tc.want)
		}
	}
	if _, err := f.ListenHostPort("0.0.0.0:0"); err == nil {
		t.Fatal("host port on a non-loopback address")
	}
}

func FuzzParseSimLine(f *testing.F) {
	for _, s := range []string{
		"AMTSIM/1 12345678-9abc-def0-1234-56789abcdef0 pthi",
		"AMTSIM/1 12345678-9abc-def0-1234-56789abcdef0 lms:16993",
		"AMTSIM/2 x pthi", "AMTSIM/1  12345678-9abc-def0-1234-56789abcdef0 pthi", "", "AMTSIM/1 zz lms:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		u, ch, err := amtsim.ParseSimLine(line)
		if err != nil {
			return
		}
		canon := amtsim.SimLinePrefix + " " + u.String() + " " + string(ch)
		u2, ch2, err := amtsim.ParseSimLine(canon)
		if err != nil || u2 != u || ch2 != ch {
			t.Fatalf("accepted %q, but its canonical form %q gives %v %v %v", line, canon, u2, ch2, err)
		}
	})
}

// TestFleetSaveLoad: what a saved fleet carries comes back, and a
// provisioned device keeps its password.
func TestFleetSaveLoad(t *testing.T) {
	t.Parallel()
	v := simtest.NewVendor(t, simtest.Options{})
	f := newFleet(t, 2, v)
	d := f.Devices()[0]
	c := localClient(t, d)
	sendChain(t, c, v.Chain)
	if rc := code(t, adminSetup(t, c, v, d.Realm(), "Saved-Pass1")); rc != 0 {
		t.Fatalf("AdminSetup %d: %s", rc, d.LastError())
	}
	path := filepath.Join(t.TempDir(), "fleet.json")
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved file mode %v, %v; want 0600", fi.Mode(), err)
	}
	g, err := amtsim.LoadFleet(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if !g.Identity().Cert.Equal(f.Identity().Cert) {
		t.Fatal("identity root changed across save and load")
	}
	for _, want := range f.Devices() {
		got, ok := g.Device(want.ID())
		if !ok {
			t.Fatalf("device %s lost", want.ID())
		}
		if got.Realm() != want.Realm() || got.DNSSuffix() != want.DNSSuffix() || got.Status().State != want.Status().State {
			t.Fatalf("device %s: %+v, want %+v", want.ID(), got.Status(), want.Status())
		}
		tbl := got.HashTable()
		if _, ok := tbl.Find(v.Root.Raw); !ok {
			t.Fatal("custom hash lost")
		}
	}
	loaded, _ := g.Device(d.ID())
	if _, err := client(t, loaded, "admin", "Saved-Pass1").GetSetupAndConfigurationService(ctx(t)); err != nil {
		t.Fatalf("admin password after load: %v", err)
	}
	if len(loaded.Events()) == 0 {
		t.Fatal("event log lost")
	}
}

// TestLoadDeviceRefuses states no device can be in.
func TestLoadDeviceRefuses(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "16.1.27", nil, nil)
	good, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := amtsim.LoadDevice(good, amtsim.LoadOptions{}); err != nil {
		t.Fatalf("a saved device does not load: %v", err)
	}
	for name, edit := range map[string]func(m map[string]any){
		"no version":             func(m map[string]any) { delete(m, "version") },
		"ACM without post state": func(m map[string]any) { m["control_mode"] = 2 },
		"state 7":                func(m map[string]any) { m["provisioning_state"] = 7 },
		"precedence":             func(m map[string]any) { m["suffix_precedence"] = "bios" },
		"no realm":               func(m map[string]any) { m["realm"] = "" },
		"negative writes":        func(m map[string]any) { m["flash_writes"] = -1 },
	} {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, _ := json.Marshal(m)
		if _, err := amtsim.LoadDevice(b, amtsim.LoadOptions{}); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func FuzzLoadDevice(f *testing.F) {
	d, err := amtsim.New(amtsim.Config{Version: amt.Version{Major: 16, Minor: 1}, DHCPSuffix: testSuffix})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(d)
	f.Add(good)
	f.Add([]byte(`{"version":{"major":19},"realm":"r","local_account":{"user":"u"},"hashes":{"version":{"major":19},"entries":[{"algorithm":"SHA-256","hash":"AA=="}]}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := amtsim.LoadDevice(b, amtsim.LoadOptions{})
		if err != nil {
			return
		}
		// A loaded device answers the host interface without panicking.
		if _, err := hostif.NewClient(d.Host()).ReadInfo(context.Background()); err != nil {
			t.Fatalf("loaded device cannot report itself: %v", err)
		}
	})
}

// TestIdleFleetMemory measures 10,000 idle devices (HeapInuse after GC).
func TestIdleFleetMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10,000 devices")
	}
	v := simtest.NewVendor(t, simtest.Options{})
	mib := idleFleetMiB(t, 10000, v)
	t.Logf("10,000 idle devices: %.1f MiB HeapInuse", mib)
	if mib > 300 {
		t.Fatalf("10,000 idle devices take %.1f MiB, want under 300", mib)
	}
}

func idleFleetMiB(tb testing.TB, n int, v *simtest.Vendor) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f, err := amtsim.NewFleet(amtsim.FleetConfig{Devices: n, Version: amt.Version{Major: 16, Minor: 1, Build: 27}, DHCPSuffix: testSuffix, TrustHashes: [][]byte{v.RootHash()}})
	if err != nil {
		tb.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(f)
	return float64(after.HeapInuse-before.HeapInuse) / (1 << 20)
}

func BenchmarkIdleFleet10k(b *testing.B) {
	v := simtest.NewVendor(b, simtest.Options{})
	var mib float64
	for b.Loop() {
		mib = idleFleetMiB(b, 10000, v)
	}
	b.ReportMetric(mib, "MiB/10k-idle")
}
