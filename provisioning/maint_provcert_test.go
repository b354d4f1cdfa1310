package provisioning

import (
	"context"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/store"
)

func TestJudgeCertExpiry(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tests := map[string]struct {
		left      time.Duration
		level     string
		threshold int
	}{
		"a year":         {365 * day, CertOK, 0},
		"61 days":        {61 * day, CertOK, 0},
		"60 days":        {60 * day, CertWarn, 60},
		"45 days":        {45 * day, CertWarn, 60},
		"30 days":        {30 * day, CertWarn, 30},
		"1 day":          {day, CertWarn, 30},
		"expired today":  {0, CertExpired, 0},
		"expired a week": {-7 * day, CertExpired, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			x := JudgeCertExpiry("c1", "rcs.corp.example.com", now.Add(tc.left), now, nil)
			if x.Level != tc.level || x.Threshold != tc.threshold {
				t.Fatalf("level %s threshold %d, want %s %d (%s)", x.Level, x.Threshold, tc.level, tc.threshold, x.Message)
			}
			if (x.Level == CertOK) != (x.Message == "") {
				t.Fatalf("message %q for level %s", x.Message, x.Level)
			}
		})
	}
}

// TestCheckProvisioningCerts: the task warns when the certificate is near
// its end, by the engine's clock, and audits the verdict.
func TestCheckProvisioningCerts(t *testing.T) {
	clock := newTestClock()
	f := newFixture(t, Options{Clock: clock.Now})
	xs, err := f.e.CheckProvisioningCerts(context.Background(), nil)
	if err != nil || len(xs) != 1 || xs[0].Level != CertOK {
		t.Fatalf("fresh certificate: %+v, %v", xs, err)
	}
	clock.Set(f.cert.Chain[0].NotAfter.Add(-20 * 24 * time.Hour))
	xs, err = f.e.CheckProvisioningCerts(context.Background(), nil)
	if err != nil || len(xs) != 1 || xs[0].Level != CertWarn || xs[0].Threshold != 30 {
		t.Fatalf("20 days left: %+v, %v", xs, err)
	}
	clock.Set(f.cert.Chain[0].NotAfter.Add(time.Hour))
	if _, err := f.e.CheckProvisioningCerts(context.Background(), nil); err == nil {
		t.Fatal("expired certificate: no error")
	}
	log, _ := f.st.AuditLog(store.AuditFilter{Action: "maintain." + TaskProvisioningCert})
	if len(log) != 3 || log[0].Outcome != store.OutcomeFailure {
		t.Fatalf("audit %+v, want 3 events, the newest a failure", log)
	}
}
