package rcs_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/internal/pgtest"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// TestServerOnPostgres runs the server on a PostgreSQL store: an agent
// activates a simulated device into ACM, the password the API returns opens
// it, and a backup through the API is refused naming pg_dump.
func TestServerOnPostgres(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenPostgres(pgtest.URL(t), dir, store.Options{KEK: store.KEKSource{Key: testKEK}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvOn(t, dir, st, nil, nil)
	sd := e.device("16.1.27", nil)
	if _, err := e.runOnce(sd, ""); err != nil {
		t.Fatalf("agent: %v (device: %s)", err, sd.LastError())
	}
	if state, mode := sd.State(); state != amt.PostProvisioning || mode != amt.ControlACM {
		t.Fatalf("device %s %s, want post-provisioning ACM", state, mode)
	}
	var pw rcs.DevicePassword
	if code := e.call("GET", "/api/v1/devices/"+sd.ID().String()+"/password", e.token, nil, &pw); code != http.StatusOK {
		t.Fatalf("password: %d", code)
	}
	if err := authenticates(sd, pw.Password); err != nil {
		t.Fatalf("the password in the postgres store does not open the device: %v", err)
	}
	var refusal rcs.APIError
	code := e.call("GET", "/api/v1/backup", e.token, nil, &refusal)
	if code == http.StatusOK || !strings.Contains(refusal.Fix, "pg_dump") {
		t.Fatalf("backup on postgres: %d %+v, want a refusal naming pg_dump", code, refusal)
	}
}
