package amtsim_test

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
)

// TestNetworkPort: the firmware's network port listens on the device's own
// loopback address, serves no TLS before TLS is configured for the network
// side, and refuses connections once closed; an address outside
// 127.0.0.0/8 is refused with the rule and the fix.
func TestNetworkPort(t *testing.T) {
	d := newDevice(t, "16.1.27", nil, nil)
	var re *amt.RuleError
	if err := d.ListenNetwork("192.0.2.1"); !errors.As(err, &re) || re.Seen == "" || re.Want == "" || re.Fix == "" {
		t.Fatalf("ListenNetwork outside loopback: %v, want a refusal with seen, want and fix", err)
	}
	const addr = "127.1.212.1"
	if err := d.ListenNetwork(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.CloseNetwork)
	if got := d.NetworkAddress(); got != addr+":16993" {
		t.Fatalf("NetworkAddress %q, want %s:16993", got, addr)
	}
	// No TLS on the network side yet: the handshake fails.
	c, err := tls.Dial("tcp", addr+":16993", &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		c.Close()
		t.Fatal("a TLS handshake succeeded on a device without TLS configured")
	}
	d.CloseNetwork()
	if d.NetworkAddress() != "" {
		t.Fatalf("NetworkAddress %q after CloseNetwork, want none", d.NetworkAddress())
	}
	if c, err := net.Dial("tcp", addr+":16993"); err == nil {
		c.Close()
		t.Fatal("the closed network port accepted a connection")
	}
}
