package rcs_test

import (
	"crypto/rand"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hello"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// storeCounts counts the records of the buckets a hello can write.
func storeCounts(t *testing.T, st *store.Store) (devices, jobs, sessions int) {
	t.Helper()
	err := st.View(func(tx *store.Tx) error {
		for _, c := range []struct {
			b Bucket
			n *int
		}{{store.Devices, &devices}, {store.Jobs, &jobs}, {store.Sessions, &sessions}} {
			if err := tx.ForEach(c.b, func(string, []byte) error { *c.n++; return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return devices, jobs, sessions
}

type Bucket = store.Bucket

// A flood of hellos with random UUIDs from one address leaves at most
// PerSource pending records (and their jobs), refused hellos are counted in
// aggregate rather than recorded one by one, pending records go when they
// expire, and a real legacy device from another address is still
// activated and kept.
func TestHelloFloodLeavesBoundedPendingRecords(t *testing.T) {
	clock := newTestClock()
	const perSource = 4
	e := newEnvWith(t, func(c *config.Config) {
		c.Server.Hello = "127.0.0.1:0"
		c.Server.HelloPendingPerSource, c.Server.HelloPendingExpiry = perSource, time.Hour
	}, func(o *rcs.Options) { o.Now = clock.Now })
	devs0, jobs0, sess0 := storeCounts(t, e.st)
	addr := e.srv.Addr("hello").String()
	hashes := []hello.Hash{{Algorithm: amt.HashSHA256, Value: e.rootHash().Hash}}
	const flood, src = 2000, "127.77.0.1" // nothing answers on its port 16993
	for i := 0; i < flood; i++ {
		m := hello.Message{InterfaceVersion: hello.InterfaceVersionPKI, Hashes: hashes}
		_, _ = rand.Read(m.UUID[:])
		sendHello(t, addr, src, m)
	}
	h := e.srv.HelloListener()
	// settled says whether every hello sent was read, and handled or dropped.
	settled := func(sent int64) func() bool {
		return func() bool {
			return h.Accepted.Load()+h.Refused.Load() == sent && h.Handled.Load()+h.Dropped.Load()+h.Malformed.Load() == h.Accepted.Load()
		}
	}
	waitFor(t, 2*time.Minute, "every flooding hello read and handled or dropped", settled(flood))
	if h.Handled.Load() <= 2*perSource {
		t.Fatalf("only %d hellos reached the server: the flood proves nothing", h.Handled.Load())
	}
	devs, jobs, sess := storeCounts(t, e.st)
	t.Logf("%d hellos handled: devices %d->%d, jobs %d->%d, sessions %d->%d", h.Handled.Load(), devs0, devs, jobs0, jobs, sess0, sess)
	if devs-devs0 > perSource || jobs-jobs0 > perSource || sess-sess0 > perSource {
		t.Fatalf("%d hellos from one address left %d device records, %d jobs and %d sessions, want at most %d each", h.Handled.Load(), devs-devs0, jobs-jobs0, sess-sess0, perSource)
	}
	// The pending devices' hellos repeat, as real devices' do: each
	// keeps one job, its last.
	var pending []rcs.DeviceRecord
	all, err := store.List[rcs.DeviceRecord](e.st, store.Devices)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		if d.Address == src {
			if d.Expires.IsZero() {
				t.Errorf("device %s known only by its hellos has no expiry", d.ID)
			}
			pending = append(pending, d)
		}
	}
	for i := 0; i < 25; i++ {
		for _, d := range pending {
			m := hello.Message{InterfaceVersion: hello.InterfaceVersionPKI, Hashes: hashes}
			u, err := amt.ParseUUID(d.ID)
			if err != nil {
				t.Fatal(err)
			}
			m.UUID = u
			sendHello(t, addr, src, m)
		}
	}
	waitFor(t, 2*time.Minute, "the repeated hellos handled", settled(flood+int64(25*len(pending))))
	waitFor(t, 2*time.Minute, "no hello job running", func() bool {
		var running []rcs.Job
		js, _ := store.List[rcs.Job](e.st, store.Jobs)
		for _, j := range js {
			if j.Status == rcs.JobRunning {
				running = append(running, j)
			}
		}
		return len(running) == 0
	})
	if d2, j2, s2 := storeCounts(t, e.st); d2 != devs || j2-jobs0 > perSource || s2 != sess {
		js, _ := store.List[rcs.Job](e.st, store.Jobs)
		for _, j := range js {
			t.Logf("job %s %s %s %s %s", j.ID, j.Device, j.Kind, j.Status, j.Error)
		}
		t.Fatalf("repeated hellos of %d pending devices: devices %d->%d, jobs %d->%d, sessions %d->%d", len(pending), devs, d2, jobs, j2, sess, s2)
	}

	// The refusals are counted, not recorded one by one.
	e.srv.FlushDenials()
	events, err := e.st.AuditLog(store.AuditFilter{Action: rcs.ActionHelloRefused})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, ev := range events {
		if ev.Subject == "hello" {
			refused++
			if ev.Detail["rule"] == "" || ev.Detail["seen"] == "" || ev.Detail["want"] == "" || ev.Detail["fix"] == "" || ev.Detail["source"] != src || ev.Detail["count"] == "" {
				t.Errorf("hello refusal record without rule, source or count: %+v", ev)
			}
		}
	}
	if refused == 0 || refused > 2 {
		t.Errorf("%d audit records of refused hellos, want 1 or 2 (the first and the count)", refused)
	}

	// A real device from another address is activated meanwhile.
	sd := e.device("11.8.55", func(c *amtsim.Config) {
		c.Hello = amtsim.HelloConfig{Server: addr, Interval: 50 * time.Millisecond, Source: "127.1.0.19"}
	})
	if err := sd.StartHello(); err != nil {
		t.Fatalf("start hello: %v", err)
	}
	t.Cleanup(sd.StopHello)
	d := e.waitDevice(sd.ID().String(), func(d rcs.DeviceRecord) bool { return d.State == rcs.StateProvisioned || d.State == rcs.StateFailed })
	if d.State != rcs.StateProvisioned || !d.Expires.IsZero() {
		t.Fatalf("real device after the flood: %+v (device: %s)", d, sd.LastError())
	}
	sd.StopHello()

	// An admin accepts one of the pending devices.
	var accepted rcs.DeviceRecord
	if code := e.call("POST", "/api/v1/devices/"+pending[0].ID+"/accept", e.token, nil, &accepted); code != http.StatusOK || !accepted.Expires.IsZero() {
		t.Fatalf("accept: %d %+v", code, accepted)
	}

	// At expiry the flood's records go; the activated and the accepted
	// devices stay, with their job and session.
	clock.Advance(time.Hour + time.Second)
	if err := e.srv.Housekeep(); err != nil {
		t.Fatal(err)
	}
	devs2, jobs2, sess2 := storeCounts(t, e.st)
	if devs2 != devs0+2 || jobs2 != jobs0+2 || sess2 != sess0+2 {
		t.Fatalf("after expiry: devices %d, jobs %d, sessions %d; want %d, %d, %d (the real and the accepted device's)", devs2, jobs2, sess2, devs0+2, jobs0+2, sess0+2)
	}
	for _, id := range []string{sd.ID().String(), pending[0].ID} {
		if code := e.call("GET", "/api/v1/devices/"+id, e.token, nil, nil); code != http.StatusOK {
			t.Fatalf("device %s after the purge: %d", id, code)
		}
	}
	// The address may have pending devices again.
	m := hello.Message{InterfaceVersion: hello.InterfaceVersionPKI, Hashes: hashes, UUID: amt.UUID{0xfe}}
	sendHello(t, addr, src, m)
	e.waitDevice(m.UUID.String(), func(d rcs.DeviceRecord) bool { return !d.Expires.IsZero() })
}
