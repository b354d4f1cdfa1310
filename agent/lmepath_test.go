package agent

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
)

// TestLMEChannelsHaveSessionsOfTheirOwn holds the host side to the firmware
// that drops its APF session on every channel close: each channel opens the
// LME client anew, so closing one leaves another working, on firmware that
// drops its session and on the variant that keeps it.
func TestLMEChannelsHaveSessionsOfTheirOwn(t *testing.T) {
	t.Parallel()
	for name, keeps := range map[string]bool{"firmware drops the session": false, "firmware keeps the session": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v, _ := amt.ParseVersion("16.1.25")
			dev, err := amtsim.New(amtsim.Config{Version: v, LMEKeepsSession: keeps})
			if err != nil {
				t.Fatal(err)
			}
			var opens atomic.Int32
			b := OnDeviceWithoutLMS("pc1", dev)
			b.LME = func() net.Conn { opens.Add(1); return dev.LME() }
			ctx := context.Background()
			first, err := b.DialLMS(ctx, 16992)
			if err != nil {
				t.Fatal(err)
			}
			second, err := b.DialLMS(ctx, 16992)
			if err != nil {
				t.Fatal(err)
			}
			wsmanAnswers(t, first)
			first.Close()
			wsmanAnswers(t, second)
			second.Close()
			third, err := b.DialLMS(ctx, 16992)
			if err != nil {
				t.Fatalf("a channel after two closed: %v", err)
			}
			wsmanAnswers(t, third)
			third.Close()
			if n := opens.Load(); n != 3 {
				t.Errorf("the LME client was opened %d times for 3 channels, want once per channel (one session each)", n)
			}
		})
	}
}
