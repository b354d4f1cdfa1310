package provisioning

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
)

// identityRefusal finds a device-identity refusal in an activation's
// error: a preflight reason, or a step's cause.
func identityRefusal(err error) (Reason, bool) {
	var pe *PreflightError
	if errors.As(err, &pe) {
		for _, r := range pe.Reasons {
			if r.Rule == RuleDeviceIdentity {
				return r, true
			}
		}
		return Reason{}, false
	}
	var r Reason
	return r, errors.As(err, &r) && r.Rule == RuleDeviceIdentity
}

// TestDeviceIdentityTrustedOnFirstUse: the first verified identity chain
// of an AMT 19 device records its ROM certificate under its UUID; the
// same part (after deactivation, and saved and loaded, with a new leaf)
// passes again, while another part reported under that UUID, what an
// agent relaying another PC makes the engine see, is refused before
// anything is committed to it. Forget drops the record, and the next
// part is recorded afresh. The chain is seen on the local TLS port before
// provisioning (AMT 19 enforces TLS there) and in TLS-based setup.
func TestDeviceIdentityTrustedOnFirstUse(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	sx, dx := f.device("19.0.5", nil)
	id := sx.ID().String()
	if _, err := f.e.Activate(ctx, dx, DefaultProfile("default")); err != nil {
		t.Fatalf("activate X: %v (device: %s)", err, sx.LastError())
	}
	st, err := f.e.State(id)
	if err != nil || st.Identity == nil || len(st.Identity.ROMSHA256) != 32 {
		t.Fatalf("identity after the first activation: %+v, %v; want the ROM certificate's SHA-256", st.Identity, err)
	}
	recorded := st.Identity.ROMSHA256
	if _, err := f.e.Deactivate(ctx, dx); err != nil {
		t.Fatalf("deactivate X: %v", err)
	}
	if st, _ := f.e.State(id); st.Identity == nil || !bytes.Equal(st.Identity.ROMSHA256, recorded) {
		t.Fatalf("deactivation changed the recorded identity: %+v", st.Identity)
	}

	// The same part after a power cycle: its ROM certificate stays.
	b, err := json.Marshal(sx)
	if err != nil {
		t.Fatal(err)
	}
	sx2, err := amtsim.LoadDevice(b, amtsim.LoadOptions{Identity: f.idCA})
	if err != nil {
		t.Fatal(err)
	}
	// Full unprovisioning dropped the custom root hash: an admin
	// adds it again in MEBx.
	if err := sx2.AddCustomHash(f.rootHash()); err != nil {
		t.Fatal(err)
	}
	dx2 := agentDevice(sx2)
	if _, err := f.e.Activate(ctx, dx2, DefaultProfile("default")); err != nil {
		t.Fatalf("activate X again after save and load: %v (device: %s)", err, sx2.LastError())
	}
	if _, err := f.e.Deactivate(ctx, dx2); err != nil {
		t.Fatalf("deactivate X again: %v", err)
	}

	// Another part under X's UUID.
	sy, dy := f.device("19.0.5", func(c *amtsim.Config) { c.UUID = sx.ID() })
	_, err = f.e.Activate(ctx, dy, DefaultProfile("default"))
	r, ok := identityRefusal(err)
	if !ok {
		t.Fatalf("another part under X's UUID: %v, want a %q refusal", err, RuleDeviceIdentity)
	}
	if !strings.Contains(r.Want, amt.FormatHash(recorded)) || !strings.Contains(r.Seen, "ROM certificate") ||
		!strings.Contains(r.Fix, "amtrcs device forget "+id) || !strings.Contains(r.Fix, "revoke") {
		t.Fatalf("refusal %+v does not name the ROM certificates and the fix", r)
	}
	if st, _ := sy.State(); st != amt.PreProvisioning {
		t.Fatalf("the other part was left %s, want pre-provisioning", st)
	}
	if st, _ := f.e.State(id); st.Identity == nil || !bytes.Equal(st.Identity.ROMSHA256, recorded) {
		t.Fatalf("the refusal changed the recorded identity: %+v", st.Identity)
	}

	// The fix for a replaced board: forget, then activate.
	if err := f.e.Forget(id, "admin"); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.e.State(id); st.Identity != nil {
		t.Fatalf("forget kept the identity %+v", st.Identity)
	}
	if _, err := f.e.Activate(ctx, dy, DefaultProfile("default")); err != nil {
		t.Fatalf("activate after forget: %v (device: %s)", err, sy.LastError())
	}
	if st, _ := f.e.State(id); st.Identity == nil || bytes.Equal(st.Identity.ROMSHA256, recorded) {
		t.Fatalf("identity after forget and activation: %+v, want the new part's", st.Identity)
	}
}
