package rcs_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

// screenshots is where TestDashboardInBrowser writes a PNG of each page
// (the README's pictures): go test ./rcs -run TestDashboardInBrowser
// -args -screenshots ../docs/screenshots
var screenshots = flag.String("screenshots", os.Getenv("AMTRCS_SCREENSHOTS"), "write PNGs of the dashboard's pages to this directory")

// chromium is Debian's browser, which .ci/run installs.
const chromium = "/usr/bin/chromium"

func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v; .ci/run installs it (apt-get install -y chromium)", chromium, err)
		}
		t.Skip("install Debian's chromium: apt-get install -y chromium")
	}
}

// demoFleet is a server with an internal CA and three simulated PCs: two
// activated with their agents connected, one whose activation failed.
type demoFleet struct {
	*env
	drifted, other, failed *amtsim.Device
}

func newDemoFleet(t *testing.T) *demoFleet {
	e := newEnvWith(t, nil, func(o *rcs.Options) {
		o.Engine.TLS = provisioning.TLSOptions{Issuer: embeddedCA(t)}
	})
	prof := map[string]any{"name": "office", "mode": "acm", "admin_password": "random", "mebx_password": "random", "user_consent": "kvm",
		"network": map[string]bool{"dhcp": true, "sync_from_host": true}, "sync_hostname": true}
	if code := e.call("POST", "/api/v1/profiles", e.token, prof, nil); code != http.StatusCreated {
		t.Fatalf("create profile: %d", code)
	}
	e.allowProfile("office")
	f := &demoFleet{env: e, drifted: e.device("16.1.27", nil), other: e.device("11.8.55", nil),
		failed: e.device("12.0.45", func(c *amtsim.Config) { c.DHCPSuffix = "branch.example.net" })}
	e.connected(f.drifted, "office")
	e.connected(f.other, "office")
	if _, err := e.runOnce(f.failed, "office"); err == nil {
		t.Fatal("the activation of a device outside the certificate's suffix succeeded")
	}
	e.waitDevice(f.failed.ID().String(), func(d rcs.DeviceRecord) bool { return d.State == rcs.StateFailed })
	return f
}

// TestDashboardInBrowser drives the dashboard in a real headless
// Chromium: log in with the admin token, see the fleet with the failing
// device first, search it, open a device, run a maintenance task and
// watch the page show it done, and see a POST without the CSRF token
// refused.
func TestDashboardInBrowser(t *testing.T) {
	needChromium(t)
	f := newDemoFleet(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800),
		// The server's certificate is self-signed for the test; nothing
		// else is loaded from anywhere.
		chromedp.Flag("ignore-certificate-errors", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	base := f.srv.URL()
	id := f.drifted.ID().String()
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(what, js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	shot := func(name string) {
		t.Helper()
		if *screenshots == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(*screenshots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Log in: the root sends the browser to the dashboard, which sends it
	// to the login form; the form takes the token and comes back.
	do("open the login page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	if loc := eval("location", `location.pathname`); loc != "/ui/login" {
		t.Fatalf("the root sent the browser to %s, want the login page", loc)
	}
	shot("login")
	do("log in",
		chromedp.SendKeys(chromedp.ID("token"), f.token),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("devices")))
	shot("fleet")
	fleet := eval("fleet", `document.querySelector('#devices').textContent`)
	for _, sd := range []*amtsim.Device{f.drifted, f.other, f.failed} {
		if !strings.Contains(fleet, sd.ID().String()) {
			t.Errorf("the fleet lacks %s:\n%s", sd.ID(), fleet)
		}
	}
	if first := eval("first row", `document.querySelector('#devices tbody tr').className`); first != "health-failing" {
		t.Errorf("the first device's row is %q, want the failing device first", first)
	}
	if counts := eval("counts", `document.querySelector('.counts').textContent`); !strings.Contains(counts, "failing") || !strings.Contains(counts, "AMT 16") {
		t.Errorf("the counts lack health or version:\n%s", counts)
	}
	// Search, as htmx does it: the table is replaced in place.
	do("search the fleet by UUID",
		chromedp.SendKeys(chromedp.ID("q"), id[:13]),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelectorAll('#devices tbody tr').length === 1 && document.querySelector('#devices').textContent.includes(%q)`, id), chromedp.WithPollingTimeout(30*time.Second)))

	// Open the device, drift its clock, and run clock-sync from the page:
	// the progress part polls until the task says done, and the
	// firmware's clock is right again.
	const drift = 5 * time.Minute
	f.drifted.SetFirmwareTime(time.Now().Add(-drift))
	do("open the device",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href="/ui/devices/%s"]`, id))),
		chromedp.WaitVisible(chromedp.ID("tasks")))
	shot("device")
	do("run clock-sync and watch it finish",
		chromedp.Click(chromedp.CSS(`tr[data-task="clock-sync"] button`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('#progress[data-running]') !== null || document.querySelector('tr[data-task="clock-sync"] .task-status').textContent.trim() === "done"`, chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Poll[chromedp.Void](`document.querySelector('tr[data-task="clock-sync"] .task-status').textContent.trim() === "done"`, chromedp.WithPollingTimeout(90*time.Second)))
	shot("device-maintained")
	if off := time.Until(f.drifted.FirmwareTime()); off.Abs() > 2*time.Second {
		t.Fatalf("the page says done, but the firmware clock is off by %s", off)
	}
	ev, _ := f.st.AuditLog(store.AuditFilter{Action: "job.maintain.request", Subject: id, Limit: 1})
	if len(ev) != 1 || !strings.HasPrefix(ev[0].Actor, "token:") {
		t.Fatalf("audit of the request: %+v, want it by the session's token", ev)
	}

	// A POST with the session's cookie but without the CSRF token, as a
	// script on the page could make it: refused, and nothing requested.
	refused := eval("POST without the CSRF token", fmt.Sprintf(`fetch('/ui/devices/%s/maintain', {method: 'POST', body: new URLSearchParams({task: 'clock-sync'})}).then(async r => r.status + "\n" + await r.text())`, id))
	if !strings.HasPrefix(refused, "403\n") || !strings.Contains(refused, `<dd class="rule">CSRF token</dd>`) {
		t.Fatalf("POST without the CSRF token:\n%s", refused)
	}
	if after, _ := f.st.AuditLog(store.AuditFilter{Action: "job.maintain.request", Subject: id, Limit: 1}); len(after) != 1 || after[0].Seq != ev[0].Seq {
		t.Fatalf("the refused POST requested a job: %+v", after)
	}

	// Activating the device whose agent is gone, as the page's htmx form
	// does it: the API's refusal, with its rule and fix, in the part.
	refusal := eval("activate without an agent", fmt.Sprintf(`fetch('/ui/devices/%s/activate', {method: 'POST', headers: {'HX-Request': 'true', 'X-CSRF-Token': document.querySelector('input[name=csrf]').value}}).then(async r => r.status + "\n" + await r.text())`, f.failed.ID()))
	if !strings.HasPrefix(refusal, "409\n") || !strings.Contains(refusal, `<dd class="rule">device reachable</dd>`) || !strings.Contains(refusal, `id="progress"`) {
		t.Fatalf("activation without an agent:\n%s", refusal)
	}

	// The other pages, and the CA bundle consoles need.
	do("certificates", chromedp.Navigate(base+"/ui/certs"), chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/ca.pem"]`)))
	shot("certificates")
	bundle := eval("CA bundle", `fetch('/ui/ca.pem').then(r => r.text())`)
	if n := strings.Count(bundle, "-----BEGIN CERTIFICATE-----"); n < 2 {
		t.Fatalf("the CA bundle holds %d certificates, want the root and the intermediate:\n%s", n, bundle)
	}
	for _, p := range []struct{ path, wait, name string }{
		{"/ui/domains?edit=corp", "#suffixes", "domains"},
		{"/ui/profiles?edit=office", "#profile", "profiles"},
		{"/ui/jobs", "table", "jobs"},
		{"/ui/audit", "table", "audit"},
	} {
		do(p.name, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS(p.wait)))
		shot(p.name)
	}
}
