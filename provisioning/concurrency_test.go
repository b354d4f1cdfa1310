package provisioning

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
)

// TestConcurrentActivations activates 200 devices at once (mixed versions
// and paths) on one engine; run it with -race.
func TestConcurrentActivations(t *testing.T) {
	f := newFixture(t, Options{})
	versions := []string{"11.8.55", "16.1.27", "19.0.5"}
	const n = 200
	sims := make([]*amtsim.Device, n)
	devs := make([]*Device, n)
	for i := range n {
		sims[i], devs[i] = f.device(versions[i%len(versions)], nil)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			p := DefaultProfile("default")
			if i%5 == 4 {
				p = ccmProfile()
			}
			_, errs[i] = f.e.Activate(context.Background(), devs[i], p)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("device %d (%s): %v (%s)", i, versions[i%len(versions)], err, sims[i].LastError())
		}
		want := amt.ControlACM
		if i%5 == 4 {
			want = amt.ControlCCM
		}
		if st, mode := sims[i].State(); st != amt.PostProvisioning || mode != want {
			t.Fatalf("device %d: %s %s, want %s", i, st, mode, want)
		}
	}
	for _, i := range []int{0, 1, 2, 4, n - 1} {
		if err := f.authenticates(sims[i]); err != nil {
			t.Errorf("device %d: %v", i, err)
		}
	}
}

// TestBusy: a second session on a device that has one fails with ErrBusy.
func TestBusy(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f := newFixture(t, Options{StepHook: func(_ Path, step string, ph Phase) error {
		if step == "get-realm" && ph == AfterRecord {
			once.Do(func() { close(started); <-release })
		}
		return nil
	}})
	_, dev := f.device("16.1.27", nil)
	other := *dev
	done := make(chan error, 1)
	go func() {
		_, err := f.e.Activate(context.Background(), dev, DefaultProfile("default"))
		done <- err
	}()
	<-started
	for name, call := range map[string]func() error{
		"activate": func() error {
			_, err := f.e.Activate(context.Background(), &other, DefaultProfile("default"))
			return err
		},
		"resume":     func() error { _, err := f.e.Resume(context.Background(), &other); return err },
		"deactivate": func() error { _, err := f.e.Deactivate(context.Background(), &other); return err },
	} {
		if err := call(); !errors.Is(err, ErrBusy) {
			t.Errorf("%s during a session = %v, want ErrBusy", name, err)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first session: %v", err)
	}
}

// BenchmarkActivateACM measures one in-process host-based ACM activation
// (AMT 16) per iteration, store included (without fsync).
func BenchmarkActivateACM(b *testing.B) {
	for _, version := range []string{"16.1.27", "19.0.5"} {
		b.Run(fmt.Sprintf("AMT%s", version[:2]), func(b *testing.B) {
			f := newFixture(b, Options{})
			devs := make([]*Device, b.N)
			for i := range b.N {
				_, devs[i] = f.device(version, nil)
			}
			b.ResetTimer()
			for i := range b.N {
				if _, err := f.e.Activate(context.Background(), devs[i], DefaultProfile("default")); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "activations/s")
		})
	}
}
