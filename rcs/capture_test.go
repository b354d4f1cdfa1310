package rcs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/agent/capture"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/rcs"
)

// rawTee records the plain bytes of port 16992 as they pass, before any
// blanking: the test's own view of every secret on the wire.
type rawTee struct {
	agent.Backend
	mu  sync.Mutex
	raw bytes.Buffer
}

func (b *rawTee) DialLMS(ctx context.Context, port int) (net.Conn, error) {
	c, err := b.Backend.DialLMS(ctx, port)
	if err != nil || port != amtsim.PortHTTP {
		return c, err
	}
	return &teeConn{Conn: c, b: b}, nil
}

type teeConn struct {
	net.Conn
	b *rawTee
}

func (c *teeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.b.mu.Lock()
	c.b.raw.Write(p[:n])
	c.b.mu.Unlock()
	return n, err
}

func (c *teeConn) Write(p []byte) (int, error) {
	c.b.mu.Lock()
	c.b.raw.Write(p)
	c.b.mu.Unlock()
	return c.Conn.Write(p)
}

var (
	rawSecretElement = regexp.MustCompile(`<(?:\w+:)?(\w*(?:Password|Nonce|Signature)\w*)>([^<]+)<`)
	rawDigestParam   = regexp.MustCompile(`\b(nonce|cnonce|response)="([^"]+)"`)
)

// A real activation recorded through a capture leaves no secret in it:
// not the local system account, the admin or MEBx password, nor any nonce,
// signature or digest response that crossed port 16992.
func TestCaptureOfActivationHoldsNoSecret(t *testing.T) {
	e := newEnv(t, nil)
	for _, version := range []string{"11.8.55", "16.1.27"} {
		t.Run("AMT "+version, func(t *testing.T) {
			sd := e.device(version, nil)
			tee := &rawTee{Backend: agent.OnDevice("pc", sd)}
			var out bytes.Buffer
			c, err := agent.Capture(tee, &out, capture.Header{Version: "test", Time: time.Unix(0, 0).UTC()})
			if err != nil {
				t.Fatal(err)
			}
			a, err := agent.New(agent.Options{Server: "https://" + e.srv.Addr("agent_gateway").String(), EnrollToken: e.enrollToken(),
				Hostname: "pc", FQDN: "pc." + testSuffix, Backend: c, TLS: e.tlsCfg, Once: true, MinBackoff: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := a.Run(ctx); err != nil {
				t.Fatalf("activation: %v (device: %s)", err, sd.LastError())
			}
			if err := c.Wait(); err != nil {
				t.Fatal(err)
			}
			if st, mode := sd.State(); st != amt.PostProvisioning || mode != amt.ControlACM {
				t.Fatalf("device %s %s, want post-provisioning ACM", st, mode)
			}
			secrets := map[string]string{}
			var pw rcs.DevicePassword
			if code := e.call("GET", "/api/v1/devices/"+sd.ID().String()+"/password", e.token, nil, &pw); code != 200 || pw.Password == "" {
				t.Fatalf("admin password: %d", code)
			}
			secrets["admin password"] = pw.Password
			var st struct {
				MEBx string `json:"mebx_password"`
				LSA  struct {
					User     string `json:"user"`
					Password string `json:"password"`
				} `json:"local_account"`
			}
			raw, _ := json.Marshal(sd)
			if err := json.Unmarshal(raw, &st); err != nil {
				t.Fatal(err)
			}
			if st.LSA.Password == "" || st.MEBx == "" || st.MEBx == "admin" {
				t.Fatalf("the device state holds no local account or a default MEBx password: the test would prove nothing")
			}
			secrets["MEBx password"], secrets["local account user"], secrets["local account password"] = st.MEBx, st.LSA.User, st.LSA.Password
			tee.mu.Lock()
			wire := tee.raw.String()
			tee.mu.Unlock()
			for _, m := range rawSecretElement.FindAllStringSubmatch(wire, -1) {
				secrets["element "+m[1]+" "+m[2][:min(8, len(m[2]))]] = m[2]
			}
			for _, m := range rawDigestParam.FindAllStringSubmatch(wire, -1) {
				secrets["digest "+m[1]+" "+m[2][:min(8, len(m[2]))]] = m[2]
			}
			for _, want := range []string{"McNonce", "DigitalSignature", "NetworkAdminPassword", "digest cnonce"} {
				found := false
				for k := range secrets {
					found = found || strings.Contains(k, want)
				}
				if !found {
					t.Errorf("the activation sent no %s on 16992: the test would prove nothing about it", want)
				}
			}
			capt := out.String()
			for name, v := range secrets {
				if len(v) < 4 {
					continue
				}
				if strings.Contains(capt, v) {
					t.Errorf("the capture holds the %s", name)
				}
			}
			if !strings.Contains(capt, `"kind":"http"`) || !strings.Contains(capt, "<McNonce></McNonce>") && !strings.Contains(capt, ":McNonce></") {
				t.Errorf("the capture lacks the activation's WS-MAN exchanges, or its blanked McNonce element")
			}
			if _, err := capture.Parse(strings.NewReader(capt)); err != nil {
				t.Errorf("the capture does not parse: %v", err)
			}
		})
	}
}
