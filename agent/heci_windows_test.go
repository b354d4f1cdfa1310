//go:build windows

package agent

import (
	"testing"

	"golang.org/x/sys/windows"
)

// The GUIDs the driver is given are the ones rpc-go parses with
// windows.GUIDFromString.
func TestHECIWindowsGUIDs(t *testing.T) {
	for s, g := range map[string]meiGUID{
		heciInterfaceGUIDString:                  heciInterfaceGUID,
		"{12F80028-B4B7-4B2D-ACA8-46E0FF65814C}": meiClientPTHI,
		"{6733A4DB-0476-4E7B-B3AF-BCFC29BEE7A7}": meiClientLME,
		"{05B79A6F-4628-4D7F-899D-A91514CB32AB}": meiClientWatchdog,
	} {
		want, err := windows.GUIDFromString(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := windowsGUID(g); got != want {
			t.Errorf("%s: %v, want %v", s, got, want)
		}
	}
}
