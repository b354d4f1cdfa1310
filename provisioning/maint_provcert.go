package provisioning

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/amtrcs/amtrcs/store"
)

// DefaultProvisioningCertWarn are the lead times at which a provisioning
// certificate's coming expiry is reported (config.Maintenance's defaults).
var DefaultProvisioningCertWarn = []time.Duration{60 * 24 * time.Hour, 30 * 24 * time.Hour}

// Levels of a provisioning certificate's expiry.
const (
	CertOK      = "ok"
	CertWarn    = "warn"
	CertExpired = "expired"
)

// CertExpiry is one provisioning certificate's expiry as the warning
// policy judges it.
type CertExpiry struct {
	ID       string    `json:"id"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
	DaysLeft int       `json:"days_left"`
	Level    string    `json:"level"`
	// Threshold is the shortest lead time crossed, in days (0: none).
	Threshold int    `json:"threshold_days,omitempty"`
	Message   string `json:"message,omitempty"`
}

// JudgeCertExpiry says whether a certificate that ends at notAfter has
// crossed one of the warn lead times at now. It is the one place the
// policy lives: the task, the health report and the API call it.
func JudgeCertExpiry(id, subject string, notAfter, now time.Time, warn []time.Duration) CertExpiry {
	if len(warn) == 0 {
		warn = DefaultProvisioningCertWarn
	}
	left := notAfter.Sub(now)
	x := CertExpiry{ID: id, Subject: subject, NotAfter: notAfter, DaysLeft: int(math.Floor(left.Hours() / 24)), Level: CertOK}
	if left <= 0 {
		x.Level = CertExpired
		x.Message = fmt.Sprintf("provisioning certificate %s (%s) expired on %s: no device can be activated in ACM with it; import its renewal (amtrcs cert renew, then cert import)", id, subject, notAfter.UTC().Format("2006-01-02"))
		return x
	}
	ws := append([]time.Duration(nil), warn...)
	sort.Slice(ws, func(i, j int) bool { return ws[i] < ws[j] })
	for _, w := range ws {
		if left <= w {
			x.Level, x.Threshold = CertWarn, int(w.Hours()/24)
			in := fmt.Sprintf("%d days", x.DaysLeft)
			if x.DaysLeft == 1 {
				in = "1 day"
			}
			x.Message = fmt.Sprintf("provisioning certificate %s (%s) expires in %s, on %s (warning at %d days): prepare the renewal with amtrcs cert renew %s", id, subject, in, notAfter.UTC().Format("2006-01-02"), x.Threshold, id)
			break
		}
	}
	return x
}

// CheckProvisioningCerts is the provisioning-certificate task: it judges
// every offered certificate, logs a warning for each that crossed a lead
// time, and audits the outcome (failure when one has expired).
func (e *Engine) CheckProvisioningCerts(ctx context.Context, warn []time.Duration) ([]CertExpiry, error) {
	ids, err := e.certs.ProvisioningCertIDs(ctx)
	if err != nil {
		return nil, err
	}
	now := e.opts.Clock()
	var out []CertExpiry
	outcome := store.OutcomeSuccess
	detail := map[string]string{}
	for _, id := range ids {
		pc, err := e.certs.ProvisioningCert(ctx, id)
		if err != nil || len(pc.Chain) == 0 {
			continue
		}
		x := JudgeCertExpiry(id, pc.Chain[0].Subject.CommonName, pc.Chain[0].NotAfter, now, warn)
		out = append(out, x)
		detail[id] = fmt.Sprintf("%s, %d days left", x.Level, x.DaysLeft)
		switch x.Level {
		case CertWarn:
			e.log.Warn(x.Message, "cert", id, "days_left", x.DaysLeft)
		case CertExpired:
			e.log.Error(x.Message, "cert", id)
			outcome = store.OutcomeFailure
		}
	}
	if err := e.st.Audit(store.Event{Time: now, Actor: e.opts.Actor, Action: "maintain." + TaskProvisioningCert, Subject: "provisioning-certificates", Outcome: outcome, Detail: detail}); err != nil {
		return out, err
	}
	if outcome == store.OutcomeFailure {
		return out, fmt.Errorf("a provisioning certificate has expired: import its renewal (amtrcs cert import)")
	}
	return out, nil
}
