package provisioning

import (
	"context"
	"crypto/x509"
	"reflect"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/csr/csrtest"
)

// TestCertCheckCache judges certificates for devices in sequence on one
// engine, whose verdicts are cached, and compares each with an uncached
// judgement: a cached verdict must never stand in for a different clock,
// suffix or chain.
func TestCertCheckCache(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	now := time.Now()
	info := func(version string, edit func(*amtsim.Config)) *Device {
		_, dev := f.device(version, edit)
		if err := dev.ReadInfo(ctx); err != nil {
			t.Fatal(err)
		}
		return dev
	}
	dev16, dev19 := info("16.1.27", nil), info("19.0.5", nil)
	other := info("16.1.27", func(c *amtsim.Config) { c.DHCPSuffix = "branch.example.net" })
	// The same id after a renewal to another name: its verdict must not be
	// the old chain's.
	leaf, key := f.vendor.Issue(csrtest.LeafOptions{CN: "rcs.elsewhere.example.org", NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(1, 0, 0)})
	renamed := &ProvisioningCert{ID: f.cert.ID, Chain: []*x509.Certificate{leaf, f.vendor.Intermediate, f.vendor.Root}, Signer: key}

	steps := []struct {
		name      string
		dev       *Device
		pc        *ProvisioningCert
		clock     time.Time
		wantRule  string // "" means no reason
		wantCache int    // entries after the step
	}{
		{"first judgement", dev16, f.cert, now, "", 1},
		{"same inputs again", dev16, f.cert, now.Add(time.Hour), "", 1},
		{"device clock past not-after", dev16, f.cert, now.AddDate(2, 0, 0), amt.RuleValidity, 1},
		{"device clock before not-before", dev16, f.cert, now.AddDate(0, -2, 0), amt.RuleValidity, 1},
		{"other version", dev19, f.cert, now, "", 2},
		{"other suffix", other, f.cert, now, amt.RuleSuffix, 3},
		{"other suffix, cached", other, f.cert, now, amt.RuleSuffix, 3},
		{"same id, renewed chain", dev16, renamed, now, amt.RuleSuffix, 4},
		{"first chain still passes", dev16, f.cert, now, "", 4},
	}
	for _, s := range steps {
		got, gotRoot := f.e.judgeCert(s.dev, s.pc, s.clock)
		want, wantRoot := (&Engine{}).judgeCert(s.dev, s.pc, s.clock)
		if !reflect.DeepEqual(got, want) || gotRoot != wantRoot {
			t.Errorf("%s: cached judgement %v (root %q), uncached %v (root %q)", s.name, got, gotRoot, want, wantRoot)
		}
		has := false
		for _, r := range got {
			has = has || r.Rule == s.wantRule
		}
		if s.wantRule == "" && len(got) > 0 || s.wantRule != "" && !has {
			t.Errorf("%s: reasons %v, want rule %q", s.name, got, s.wantRule)
		}
		if n := len(f.e.checks.m); n != s.wantCache {
			t.Errorf("%s: %d cached verdicts, want %d", s.name, n, s.wantCache)
		}
		// Callers edit the reasons they get (pickCert prefixes the
		// certificate id): that must not reach the cache.
		for i := range got {
			got[i].Seen = "edited by the caller"
		}
	}
	again, _ := f.e.judgeCert(other, f.cert, now)
	for _, r := range again {
		if r.Seen == "edited by the caller" {
			t.Fatalf("a caller's edit of a reason reached the cache: %+v", r)
		}
	}
}

// BenchmarkJudgeCert is the preflight's certificate judgement of one
// activation: cached (the same chain, version and suffix as the previous
// device) and uncached (csr.Check every time, as before the cache).
func BenchmarkJudgeCert(b *testing.B) {
	f := newFixture(b, Options{})
	_, dev := f.device("16.1.27", nil)
	if err := dev.ReadInfo(context.Background()); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if rs, _ := f.e.judgeCert(dev, f.cert, now); len(rs) > 0 {
				b.Fatal(rs)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			if rs, _ := (&Engine{}).judgeCert(dev, f.cert, now); len(rs) > 0 {
				b.Fatal(rs)
			}
		}
	})
}
