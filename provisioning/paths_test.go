package provisioning

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hello"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/store"
)

func ccmProfile() Profile {
	p := DefaultProfile("ccm")
	p.Mode, p.UserConsent = ModeCCM, ConsentAll
	return p
}

func TestCCMUpgradeDeactivate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	for _, version := range []string{"16.1.27", "12.0.40"} {
		t.Run(version, func(t *testing.T) {
			sd, dev := f.device(version, nil)
			res, err := f.e.Activate(ctx, dev, ccmProfile())
			if err != nil {
				t.Fatalf("CCM: %v (%s)", err, sd.LastError())
			}
			if st, mode := sd.State(); res.Path != PathCCM || st != amt.PostProvisioning || mode != amt.ControlCCM {
				t.Fatalf("after CCM: path %s, device %s %s", res.Path, st, mode)
			}
			if err := f.authenticates(sd); err != nil {
				t.Fatalf("CCM password: %v", err)
			}
			pwBefore, _ := f.e.AdminPassword(dev.ID())

			dev.Info.Version = amt.Version{} // read the device again
			res, err = f.e.Activate(ctx, dev, DefaultProfile("default"))
			if err != nil {
				t.Fatalf("upgrade: %v (%s)", err, sd.LastError())
			}
			if st, mode := sd.State(); res.Path != PathUpgrade || st != amt.PostProvisioning || mode != amt.ControlACM {
				t.Fatalf("after upgrade: path %s, device %s %s", res.Path, st, mode)
			}
			if pw, _ := f.e.AdminPassword(dev.ID()); pw != pwBefore {
				t.Fatal("the upgrade changed the stored admin password")
			}
			if err := f.authenticates(sd); err != nil {
				t.Fatalf("password after upgrade: %v", err)
			}

			// A second activation of an ACM device is refused before any write.
			writes := sd.Status().FlashWrites
			dev.Info.Version = amt.Version{}
			_, err = f.e.Activate(ctx, dev, DefaultProfile("default"))
			var pe *PreflightError
			if !errors.As(err, &pe) || !pe.Has(RuleDeviceState) || sd.Status().FlashWrites != writes {
				t.Fatalf("activating an ACM device again = %v, want a device-state refusal without writes", err)
			}

			if _, err := f.e.Deactivate(ctx, dev); err != nil {
				t.Fatalf("deactivate ACM: %v (%s)", err, sd.LastError())
			}
			if st, mode := sd.State(); st != amt.PreProvisioning || mode != amt.ControlNone {
				t.Fatalf("after deactivate: %s %s", st, mode)
			}
			if _, err := f.e.AdminPassword(dev.ID()); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("admin password kept after deactivation: %v", err)
			}
			// CCM is deactivated with the host command.
			if _, err := f.e.Activate(ctx, dev, ccmProfile()); err != nil {
				t.Fatalf("CCM again: %v (%s)", err, sd.LastError())
			}
			res, err = f.e.Deactivate(ctx, dev)
			if err != nil || len(res.Steps) == 0 || res.Steps[0] != "host-unprovision" {
				t.Fatalf("deactivate CCM = %+v, %v; want the host command", res, err)
			}
			if st, _ := sd.State(); st != amt.PreProvisioning {
				t.Fatalf("after CCM deactivate: %s", st)
			}
		})
	}
}

func TestProfileApplied(t *testing.T) {
	f := newFixture(t, Options{})
	sd, dev := f.device("16.1.27", nil)
	p := DefaultProfile("features")
	p.Redirection = Redirection{KVM: true, SOL: true, IDER: true}
	p.UserConsent = ConsentNone
	p.Network = Network{DHCP: false, SyncFromHost: true}
	if _, err := f.e.Activate(context.Background(), dev, p); err != nil {
		t.Fatalf("Activate: %v (%s)", err, sd.LastError())
	}
	r := &run{e: f.e, dev: dev, sess: &Session{Path: PathHostBased}}
	r.adminPW, _ = f.e.AdminPassword(dev.ID())
	defer r.close()
	c, err := r.adminConn()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	red, err := c.GetRedirectionService(ctx)
	if err != nil || red.EnabledState != 32771 || !red.ListenerEnabled {
		t.Errorf("redirection = %+v, %v; want IDE-R and SOL with the listener on", red, err)
	}
	kvm, err := c.GetKVMRedirectionSAP(ctx)
	if err != nil || (kvm.EnabledState != 2 && kvm.EnabledState != 6) {
		t.Errorf("KVM = %+v, %v; want enabled", kvm, err)
	}
	opt, err := c.GetOptInService(ctx)
	if err != nil || opt.OptInRequired != 0 {
		t.Errorf("opt-in = %+v, %v; want none", opt, err)
	}
	eth, err := c.GetEthernetPortSettings(ctx, "Intel(r) AMT Ethernet Port Settings 0")
	if err != nil || eth.DHCPEnabled {
		t.Errorf("ethernet = %+v, %v; want DHCP off", eth, err)
	}
	gs, err := c.GetGeneralSettings(ctx)
	if err != nil || gs.HostName != "pc1" || gs.DomainName != testSuffix {
		t.Errorf("general settings host %q domain %q, %v; want pc1 %s", gs.HostName, gs.DomainName, err, testSuffix)
	}
}

// helloListener is the 9971 listener the server will have: it decodes
// hellos and hands them to the engine.
func helloListener(t *testing.T, e *Engine) (addr string, results chan error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	results = make(chan error, 4)
	var once sync.Once
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b := make([]byte, hello.MaxSize+1)
			n := 0
			for n < len(b) {
				k, err := c.Read(b[n:])
				n += k
				if err != nil {
					break
				}
			}
			src := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
			c.Close()
			m, err := hello.Decode(b[:n])
			if err != nil {
				results <- err
				continue
			}
			once.Do(func() {
				go func() {
					_, err := e.HandleHello(context.Background(), m, src)
					results <- err
				}()
			})
		}
	}()
	return ln.Addr().String(), results
}

func TestLegacyHello(t *testing.T) {
	f := newFixture(t, Options{})
	if err := PutProfile(f.st, DefaultProfile("default")); err != nil {
		t.Fatal(err)
	}
	addr, results := helloListener(t, f.e)
	sd, _ := f.device("11.8.55", func(c *amtsim.Config) {
		c.Hello = amtsim.HelloConfig{Server: addr, Interval: 50 * time.Millisecond, Source: "127.1.0.7"}
	})
	if err := sd.StartHello(); err != nil {
		t.Skipf("the simulator cannot start legacy setup here: %v", err)
	}
	t.Cleanup(sd.StopHello)
	select {
	case err := <-results:
		if err != nil {
			t.Fatalf("HandleHello: %v (%s)", err, sd.LastError())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("no hello handled in 2 minutes")
	}
	if st, mode := sd.State(); st != amt.PostProvisioning || mode != amt.ControlACM {
		t.Fatalf("device %s %s, want post-provisioning ACM", st, mode)
	}
	if err := f.authenticates(sd); err != nil {
		t.Fatalf("stored password: %v", err)
	}
	sess, err := f.e.GetSession(sd.ID().String())
	if err != nil || sess.Path != PathLegacy || sess.Status != StatusDone || sess.Address != "127.1.0.7" {
		t.Fatalf("session %+v, %v", sess, err)
	}
	_ = netip.Addr{}
}
