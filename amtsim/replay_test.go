package amtsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/agent/capture"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/amtsim"
)

// updateCaptures rewrites testdata/captures from the simulator's variants:
// go test ./amtsim/ -run TestReplayCaptures -update-captures
var updateCaptures = flag.Bool("update-captures", false, "rewrite testdata/captures from the simulator")

// captureTime is the header time of the shipped captures, so that they are
// rewritten byte for byte alike.
var captureTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// The shipped captures are `agent info` of the simulator's firmware
// variants; each replayed must read the facts the device itself reads.
func TestReplayCaptures(t *testing.T) {
	cases := []struct {
		name string
		cfg  amtsim.Config
	}{
		{"info-11.8.jsonl", amtsim.Config{Version: amt.Version{Major: 11, Minor: 8, Build: 70}}},
		{"info-16.1-padded.jsonl", amtsim.Config{Version: amt.Version{Major: 16, Minor: 1, Build: 27}, HostReplies: amtsim.RepliesPadded}},
		{"info-19.0.jsonl", amtsim.Config{Version: amt.Version{Major: 19, Minor: 0, Build: 5}}},
		{"info-16.1-disabled.jsonl", amtsim.Config{Version: amt.Version{Major: 16, Minor: 1, Build: 27}, AMTDisabled: true}},
	}
	for i, tc := range cases {
		name, cfg := tc.name, tc.cfg
		cfg.UUID = amt.UUID{0x5e, 0xed, byte(i + 1), 15: byte(i + 1)}
		cfg.DHCPSuffix, cfg.OSHostname = "corp.example.com", "pc1"
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d, err := amtsim.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			want := readFactsCaptured(t, agent.OnDevice("pc1", d), &buf)
			path := filepath.Join("testdata", "captures", name)
			if *updateCaptures {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r, err := amtsim.LoadReplay(path)
			if err != nil {
				t.Fatalf("%v (run go test ./amtsim/ -run TestReplayCaptures -update-captures to make it)", err)
			}
			got := readFactsThroughHostPort(t, r)
			if diff := factsDiff(got, want); diff != "" {
				t.Errorf("replay of %s: %s", name, diff)
			}
		})
	}
}

func readFactsCaptured(t *testing.T, b agent.Backend, w *bytes.Buffer) agent.Facts {
	t.Helper()
	c, err := agent.Capture(b, w, capture.Header{Version: "test", Time: captureTime})
	if err != nil {
		t.Fatal(err)
	}
	f, err := agent.ReadFacts(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	return f
}

// readFactsThroughHostPort reaches the replay as an agent reaches a
// simulated device: through a host port.
func readFactsThroughHostPort(t *testing.T, r *amtsim.Replay) agent.Facts {
	t.Helper()
	fleet, err := amtsim.NewReplayFleet(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() })
	ln, err := fleet.ListenHostPort("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := agent.ReadFacts(context.Background(), &agent.SimHostPort{Addr: ln.Addr().String(), Device: r.ID().String()})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// factsDiff compares what the firmware said, not how it was reached, and
// names the first line that differs.
func factsDiff(got, want agent.Facts) string {
	got.Backend, want.Backend = "", ""
	x, _ := json.MarshalIndent(got, "", " ")
	y, _ := json.MarshalIndent(want, "", " ")
	gl, wl := strings.Split(string(x), "\n"), strings.Split(string(y), "\n")
	for i := range max(len(gl), len(wl)) {
		g, w := "", ""
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			return fmt.Sprintf("line %d of the facts reads %q, the device's %q", i+1, g, w)
		}
	}
	return ""
}

// A WS-MAN exchange on 16992 replays by action, resource and selectors,
// with any password for the user the capture saw; the replayed local
// system account is fresh; what was not recorded is refused by name.
func TestReplayWSMAN(t *testing.T) {
	d, err := amtsim.New(amtsim.Config{Version: amt.Version{Major: 16, Minor: 1, Build: 27}, OSHostname: "pc1"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	c, err := agent.Capture(agent.OnDevice("pc1", d), &buf, capture.Header{Version: "test", Time: captureTime})
	if err != nil {
		t.Fatal(err)
	}
	orig := wsmanGeneral(t, c)
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	f, err := capture.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("parse the capture: %v\n%s", err, buf.String())
	}
	r, err := amtsim.NewReplay("test capture", f)
	if err != nil {
		t.Fatal(err)
	}
	replayed := &agent.InProcess{Label: "replay", Host: r.Host(), Mng: r.Manageability(), Dial: r.DialLMS}
	got := wsmanGeneral(t, replayed)
	if got.HostName != orig.HostName || got.DigestRealm != orig.DigestRealm || got.DigestRealm == "" {
		t.Errorf("replayed GeneralSettings %+v, captured %+v", got, orig)
	}
	origAcct, _ := hostif.NewClient(d.Host()).LocalSystemAccount(context.Background())
	acct, err := hostif.NewClient(r.Host()).LocalSystemAccount(context.Background())
	if err != nil || acct.Password == "" || acct.Password == origAcct.Password {
		t.Errorf("replayed local system account: fresh password %v, error %v", acct.Password != origAcct.Password, err)
	}
	wc := wsmanClient(t, replayed, acct.Username, acct.Password)
	if _, err := wc.GetHostBasedSetupService(context.Background()); err == nil || !strings.Contains(err.Error(), "was not recorded") || !strings.Contains(err.Error(), "IPS_HostBasedSetupService") {
		t.Errorf("unrecorded request: %v, want a refusal naming IPS_HostBasedSetupService", err)
	}
	if _, err := hostif.NewClient(r.Host()).LANInterfaceSettings(context.Background(), 7); err == nil || !strings.Contains(err.Error(), "GetLANInterfaceSettings") {
		t.Errorf("unrecorded host request: %v, want a refusal naming the command", err)
	}
	if _, err := r.DialLMS(context.Background(), amtsim.PortTLS); !errors.Is(err, amtsim.ErrPortClosed) {
		t.Errorf("16993 on a replay: %v, want the port closed", err)
	}
}

func wsmanClient(t *testing.T, b agent.Backend, user, pass string) *wsman.Client {
	t.Helper()
	// No keep-alive: the capture's record of a connection is complete
	// when it closes.
	c, err := wsman.NewClient("http://localhost:16992/wsman", user, pass, wsman.WithTransport(&http.Transport{
		DisableKeepAlives: true,
		DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return b.DialLMS(ctx, amtsim.PortHTTP) },
	}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wsmanGeneral(t *testing.T, b agent.Backend) *wsman.GeneralSettings {
	t.Helper()
	p, err := b.OpenPTHI(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hc := hostif.NewClient(p)
	if _, err := hc.UUID(context.Background()); err != nil {
		t.Fatal(err)
	}
	acct, err := hc.LocalSystemAccount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g, err := wsmanClient(t, b, acct.Username, acct.Password).GetGeneralSettings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Every capture in testdata/captures, the simulator's or a real PC's added
// there, replays through the host port and reads as `agent info` reads.
func TestReplayEveryCapture(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "captures", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in testdata/captures: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			r, err := amtsim.LoadReplay(path)
			if err != nil {
				t.Fatal(err)
			}
			if f := readFactsThroughHostPort(t, r); f.UUID != r.ID() || f.Version == "" {
				t.Errorf("replay reads UUID %s version %q, want %s and a version", f.UUID, f.Version, r.ID())
			}
		})
	}
}
