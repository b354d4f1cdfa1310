package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

func TestLogFormatRefusesUnknown(t *testing.T) {
	code, _, errOut := runCLI(t, "--log-format", "xml", "version")
	if code != exitUsage {
		t.Fatalf("--log-format xml: exit %d, want %d", code, exitUsage)
	}
	for _, want := range []string{"log format", `"xml"`, `"text" or "json"`, "pass --log-format"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("refusal %q does not say %q", errOut, want)
		}
	}
}

func TestNewLoggerJSON(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	a := &app{stderr: &buf, logFormat: logJSON}
	log, err := a.newLogger(slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("agent connected", "device", "pc01")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	if line["msg"] != "agent connected" || line["device"] != "pc01" || line["level"] != "INFO" {
		t.Errorf("log line %v", line)
	}
}

// activateOne runs an in-process agent for one simulated device against the
// fixture's server until the device is provisioned, and returns the enroll
// token it used and the device's admin password from the API.
func (f *serveFixture) activateOne(ctx context.Context, wg *sync.WaitGroup, host string) (*amtsim.Device, string) {
	t := f.t
	sd := f.device("16.1.27", 0)
	tok := f.enrollToken()
	ag, err := agent.New(agent.Options{Server: "https://" + f.gw, EnrollToken: tok, Hostname: host,
		Backend: agent.OnDevice(host, sd), TLS: f.tlsCfg, MinBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); ag.Run(ctx) }()
	return sd, tok
}

// waitProvisioned waits until every device is provisioned in firmware.
func waitProvisioned(t *testing.T, devs ...*amtsim.Device) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for _, sd := range devs {
		for {
			if st, _ := sd.State(); st == amt.PostProvisioning {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("device %s not provisioned", sd.ID())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// amtrcs serve --log-format json writes one JSON object a line, and no line
// holds a secret: not the admin token, an enroll token, a device password or
// the KEK.
func TestServeJSONLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	f := newServeFixture(t)
	f.extra = []string{"--log-format", "json"}
	f.start()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	sd, enroll := f.activateOne(ctx, &wg, "pc01")
	waitProvisioned(t, sd)
	var pw rcs.DevicePassword
	deadline := time.Now().Add(time.Minute)
	for f.get("/api/v1/devices/"+sd.ID().String()+"/password", &pw) != 200 || pw.Password == "" {
		if time.Now().After(deadline) {
			t.Fatal("no password for the provisioned device")
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.kill9()
	kek, err := os.ReadFile(filepath.Join(f.dir, store.DefaultKEKFile))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"admin token": f.token, "enroll token": enroll, "device password": pw.Password, "KEK": strings.TrimSpace(string(kek))}
	parsed := 0
	for _, l := range strings.Split(f.logs.String(), "\n") {
		for name, s := range secrets {
			if s != "" && strings.Contains(l, s) {
				t.Errorf("log line holds the %s: %s", name, l)
			}
		}
		if !strings.HasPrefix(l, "{") {
			if l != "" {
				t.Logf("not a log line: %s", l)
			}
			continue
		}
		var line map[string]any
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Errorf("log line does not parse as JSON: %v: %s", err, l)
			continue
		}
		if line["time"] == nil || line["level"] == nil || line["msg"] == nil {
			t.Errorf("log line without time, level or msg: %s", l)
		}
		parsed++
	}
	if parsed == 0 {
		t.Fatalf("no JSON log line in:\n%s", f.logs)
	}
	t.Logf("%d JSON log lines", parsed)
}
