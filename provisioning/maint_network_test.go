package provisioning

import (
	"context"
	"testing"
)

// TestSyncNetworkRename: the PC is renamed in its OS; network sync finds
// AMT's old name, writes the new one, and re-issues the TLS certificate
// for it.
func TestSyncNetworkRename(t *testing.T) {
	ctx := context.Background()
	f := newTLSFixture(t, "16.1.27", Options{})
	if _, err := f.e.RenewTLS(ctx, f.dev, false); err != nil {
		t.Fatalf("RenewTLS: %v", err)
	}
	res, err := f.e.SyncNetwork(ctx, f.dev)
	if err != nil || res.Changed {
		t.Fatalf("sync before the rename = %+v, %v; want nothing to change", res, err)
	}

	f.dev.Hostname, f.dev.OSFQDN = "pc2", "pc2."+testSuffix
	res, err = f.e.SyncNetwork(ctx, f.dev)
	if err != nil || !res.Changed {
		t.Fatalf("sync after the rename = %+v, %v (%s)", res, err, f.sd.LastError())
	}
	want := "pc2." + testSuffix
	c, err := f.dev.dialWSMAN(PortHTTP, "admin", mustPassword(t, f.fixture, f.dev.ID()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	gs, err := c.GetGeneralSettings(ctx)
	if err != nil || gs.HostName+"."+gs.DomainName != want {
		t.Fatalf("AMT names %+v, %v; want %s", gs, err, want)
	}
	st, _ := f.e.State(f.dev.ID())
	if leaf := servedCert(t, f.sd); leaf.Subject.CommonName != want || st.TLS.FQDN != want || st.Network == nil || !st.Network.Updated {
		t.Fatalf("served certificate %q, recorded %+v; want %s", leaf.Subject.CommonName, st, want)
	}
	// The device is reached over TLS under its new name.
	if _, err := f.e.SyncClock(ctx, f.dev); err != nil {
		t.Fatalf("clock sync after the rename: %v", err)
	}
}

// TestSyncNetworkNoTLS: without TLS the names are still synchronized.
func TestSyncNetworkNoTLS(t *testing.T) {
	ctx := context.Background()
	f := newTLSFixture(t, "11.8.55", Options{})
	f.dev.Hostname, f.dev.OSFQDN = "renamed", "renamed."+testSuffix
	res, err := f.e.SyncNetwork(ctx, f.dev)
	if err != nil || !res.Changed {
		t.Fatalf("sync = %+v, %v (%s)", res, err, f.sd.LastError())
	}
	st, _ := f.e.State(f.dev.ID())
	if st.Network == nil || st.Network.AMTFQDN != "renamed."+testSuffix || st.Network.OSFQDN != st.Network.AMTFQDN {
		t.Fatalf("recorded %+v", st.Network)
	}
	f.dev.OSFQDN, f.dev.Hostname = "", ""
	if _, err := f.e.SyncNetwork(ctx, f.dev); err == nil {
		t.Fatal("sync with no host name reported succeeded")
	}
}

func mustPassword(t *testing.T, f *fixture, id string) string {
	t.Helper()
	pw, err := f.e.AdminPassword(id)
	if err != nil {
		t.Fatal(err)
	}
	return pw
}
