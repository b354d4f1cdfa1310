package amt

import "testing"

// The flags as Intel LMS reads them: operational and TLS bits count only
// with the new-interface bit. Cases from rpc-go's tests (0x82: new
// interface, enabled) and LMS's masks.
func TestAMTState(t *testing.T) {
	cases := []struct {
		b                                          AMTState
		newIf, operational, tlsEnforced, canEnable bool
	}{
		{0x00, false, true, false, false},
		{0x02, false, true, false, false},
		{0x40, false, true, false, false}, // TLS bit without the new interface: not read
		{0x82, true, true, false, false},
		{0x80, true, false, false, false},
		{0x81, true, false, false, true},
		{0xC2, true, true, true, false},
		{0xC3, true, true, true, true},
		{0xE0, true, false, true, false},
	}
	for _, c := range cases {
		if got := c.b.NewInterface(); got != c.newIf {
			t.Errorf("%v NewInterface = %v", c.b, got)
		}
		if got := c.b.Operational(); got != c.operational {
			t.Errorf("%v Operational = %v", c.b, got)
		}
		if got := c.b.TLSEnforced(); got != c.tlsEnforced {
			t.Errorf("%v TLSEnforced = %v", c.b, got)
		}
		if got := c.b.CanEnable(); got != c.canEnable {
			t.Errorf("%v CanEnable = %v", c.b, got)
		}
	}
	if got := AMTState(0xC3).String(); got != "0xC3 (new interface, operational, TLS enforced on local ports, transition allowed)" {
		t.Errorf("String = %q", got)
	}
}
