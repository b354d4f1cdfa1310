package provisioning

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amtsim"
)

var errKilled = errors.New("killed by the test")

// TestCrashAtEveryStep kills the engine after each step of each path, at
// both phases (after the step's calls, before its record; and after its
// record), reopens the store with a new engine, resumes, and requires the
// device to end provisioned with a stored password that authenticates.
func TestCrashAtEveryStep(t *testing.T) {
	type pathCase struct {
		path    Path
		version string
		profile Profile
		want    amt.ControlMode
	}
	cases := []pathCase{
		{PathHostBased, "16.1.27", DefaultProfile("default"), amt.ControlACM},
		{PathTLS, "19.0.5", DefaultProfile("default"), amt.ControlACM},
		{PathCCM, "16.1.27", ccmProfile(), amt.ControlCCM},
		{PathUpgrade, "16.1.27", DefaultProfile("default"), amt.ControlACM},
		{PathLegacy, "11.8.55", DefaultProfile("default"), amt.ControlACM},
	}
	for ci, pc := range cases {
		for k, s := range stepsFor(pc.path) {
			for _, ph := range []Phase{AfterCall, AfterRecord} {
				name := fmt.Sprintf("%s/%02d-%s/%s", pc.path, k, s.name, ph)
				t.Run(name, func(t *testing.T) {
					ctx := context.Background()
					armed := false
					hook := func(p Path, step string, phase Phase) error {
						if armed && p == pc.path && step == s.name && phase == ph {
							armed = false
							return errKilled
						}
						return nil
					}
					f := newFixture(t, Options{StepHook: hook})
					var sd *amtsim.Device
					var err error
					if pc.path == PathLegacy {
						if err := PutProfile(f.st, pc.profile); err != nil {
							t.Fatal(err)
						}
						addr, results := helloListener(t, f.e)
						src := fmt.Sprintf("127.2.%d.%d", ci*40+k, int(ph)+1)
						sd, _ = f.device(pc.version, func(c *amtsim.Config) {
							c.Hello = amtsim.HelloConfig{Server: addr, Interval: 20 * time.Millisecond, Source: src}
						})
						armed = true
						if err := sd.StartHello(); err != nil {
							t.Skipf("legacy setup unavailable: %v", err)
						}
						t.Cleanup(sd.StopHello)
						select {
						case err = <-results:
						case <-time.After(2 * time.Minute):
							t.Fatal("no hello handled")
						}
					} else {
						var dev *Device
						sd, dev = f.device(pc.version, nil)
						if pc.path == PathUpgrade {
							if _, err := f.e.Activate(ctx, dev, ccmProfile()); err != nil {
								t.Fatalf("CCM first: %v", err)
							}
							dev.Info.Version = amt.Version{}
						}
						armed = true
						_, err = f.e.Activate(ctx, dev, pc.profile)
					}
					if !errors.Is(err, errKilled) {
						t.Fatalf("run = %v, want the kill", err)
					}

					// The process died: the next one opens the same file.
					f.st.Close()
					f.opts.StepHook = nil
					f.open()
					dev := &Device{Info: hostif.Info{UUID: sd.ID()}}
					if pc.path != PathLegacy {
						dev = agentDevice(sd)
					}
					res, err := f.e.Resume(ctx, dev)
					if err != nil {
						t.Fatalf("Resume: %v (device: %s)", err, sd.LastError())
					}
					st, mode := sd.State()
					if st != amt.PostProvisioning || mode != pc.want {
						t.Fatalf("after resume (%+v) the device is %s %s, want post-provisioning %s", res, st, mode, pc.want)
					}
					if err := f.authenticates(sd); err != nil {
						t.Fatalf("the stored password does not authenticate: %v", err)
					}
				})
			}
		}
	}
}
