package amtsim_test

import (
	"testing"

	"github.com/amtrcs/amtrcs/amtsim"
)

// TestChangeSettingsRefusals: an unknown name or value changes nothing,
// and the --drift text parses into names and values.
func TestChangeSettingsRefusals(t *testing.T) {
	d := newDevice(t, "16.1.27", nil, nil)
	for name, ch := range map[string]map[string]string{
		"unknown setting":   {"colour": "blue"},
		"consent value":     {amtsim.SettingUserConsent: "sometimes"},
		"switch value":      {amtsim.SettingKVM: "yes"},
		"empty host name":   {amtsim.SettingHostName: ""},
		"certificate value": {amtsim.SettingTLSCert: "mine"},
		"one bad of two":    {amtsim.SettingSOL: "off", amtsim.SettingDHCP: "maybe"},
	} {
		before := len(d.Events())
		if err := d.ChangeSettings(ch); err == nil {
			t.Errorf("%s: %v accepted", name, ch)
		}
		if len(d.Events()) != before {
			t.Errorf("%s: a refused change changed the device", name)
		}
	}
	got, err := amtsim.ParseSettings("user-consent=none, kvm=off,")
	if err != nil || len(got) != 2 || got["user-consent"] != "none" || got["kvm"] != "off" {
		t.Fatalf("ParseSettings = %v, %v", got, err)
	}
	if _, err := amtsim.ParseSettings("kvm"); err == nil {
		t.Fatal("a setting without a value parsed")
	}
}
