package agent

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/amtrcs/amtrcs/agent/wire"
)

// TestAgentMovesToTheNextServer: given several servers, an agent whose
// server is down or drops it connects to the next one in the list.
func TestAgentMovesToTheNextServer(t *testing.T) {
	dev := newSimDevice(t, "11.8.50")
	dropper, good := newFakeRCS(t), newFakeRCS(t)
	dropper.session = func(*yamux.Session, wire.Report) ([]wire.Event, bool) { return nil, true }
	var served atomic.Int32
	good.session = func(*yamux.Session, wire.Report) ([]wire.Event, bool) {
		served.Add(1)
		return []wire.Event{{Kind: wire.EventIdle, Message: "nothing to do"}}, false
	}
	// A port with nothing listening: the first server is down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "https://" + ln.Addr().String()
	ln.Close()
	// The dropper enrolls the agent (its only token use); the good server
	// shares the credential, as servers sharing a store do.
	good.enrolls.Store(1)
	list := strings.Join([]string{dropper.srv.URL, down, good.srv.URL}, ", ")
	a, err := New(Options{Server: list, EnrollToken: dropper.token, Backend: OnDevice("pc", dev),
		TLS: dropper.srv.Client().Transport.(*http.Transport).TLSClientConfig, Once: true, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if dropper.connects.Load() != 1 || served.Load() != 1 {
		t.Errorf("connections: %d to the dropping server, %d served by the third; want 1 and 1", dropper.connects.Load(), served.Load())
	}
}

func TestServerListRefusesABadURL(t *testing.T) {
	for _, s := range []string{"https://a:1,", "https://a:1,ftp://b", "https://a:1, b:2"} {
		if _, err := serverList(s); err == nil || !strings.Contains(err.Error(), "comma-separated") {
			t.Errorf("serverList(%q) = %v, want a refusal naming the form", s, err)
		}
	}
	got, err := serverList("https://a:1/, https://b:2")
	if err != nil || len(got) != 2 || got[0] != "https://a:1" || got[1] != "https://b:2" {
		t.Errorf("serverList = %q, %v", got, err)
	}
}
