package amtsim_test

import (
	"context"
	"net"
	"testing"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/amtsim/simtest"
)

// A host without LMS reaches the device's WS-MAN port with APF over its
// LME client: in process, and through the host port's "lme" channel, the
// local system account answering over channels of one session.
func TestLMEReachesTheFirmwarePortsWithoutLMS(t *testing.T) {
	t.Parallel()
	v := simtest.NewVendor(t, simtest.Options{})
	f := newFleet(t, 1, v)
	d := f.Devices()[0]
	ln, err := f.ListenHostPort("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]agent.Backend{
		"in process": agent.OnDeviceWithoutLMS("pc1", d),
		"host port":  &agent.SimHostPort{Addr: ln.Addr().String(), Device: d.ID().String(), NoLMS: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			acct, err := hostif.NewClient(d.Host()).LocalSystemAccount(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			c, err := wsman.NewClient("http://localhost:16992/wsman", acct.Username, acct.Password,
				wsman.WithDialer(func(ctx context.Context, _, _ string) (net.Conn, error) { return b.DialLMS(ctx, 16992) }))
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if _, err := c.GetGeneralSettings(ctx(t)); err != nil {
					t.Fatalf("GetGeneralSettings over LME: %v", err)
				}
			}
		})
	}
}
