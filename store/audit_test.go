package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuditLogFilter(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, b backendCase) {
		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		clock := base
		s := b.openClocked(t, &clock)
		// seq: subject, action, actor, minute
		events := []Event{
			{Subject: "dev-a", Action: "device.activate", Actor: "rcs", Outcome: OutcomeSuccess},
			{Subject: "dev-b", Action: "device.activate", Actor: "rcs", Outcome: OutcomeFailure},
			{Subject: "cert-1", Action: "cert.import", Actor: "admin:alice", Outcome: OutcomeSuccess},
			{Subject: "dev-a", Action: "device.rotate", Actor: "rcs", Outcome: OutcomeSuccess},
			{Subject: "dev-a", Action: "device.activate", Actor: "admin:bob", Outcome: OutcomeDenied},
		}
		for i, e := range events {
			clock = base.Add(time.Duration(i) * time.Minute)
			if err := s.Audit(e); err != nil {
				t.Fatal(err)
			}
		}
		tests := map[string]struct {
			f    AuditFilter
			want []uint64
		}{
			"all, newest first": {AuditFilter{}, []uint64{5, 4, 3, 2, 1}},
			"limit":             {AuditFilter{Limit: 2}, []uint64{5, 4}},
			"subject":           {AuditFilter{Subject: "dev-a"}, []uint64{5, 4, 1}},
			"subject and limit": {AuditFilter{Subject: "dev-a", Limit: 1}, []uint64{5}},
			"action":            {AuditFilter{Action: "device.activate"}, []uint64{5, 2, 1}},
			"actor":             {AuditFilter{Actor: "rcs"}, []uint64{4, 2, 1}},
			"since inclusive":   {AuditFilter{Since: base.Add(3 * time.Minute)}, []uint64{5, 4}},
			"until exclusive":   {AuditFilter{Until: base.Add(2 * time.Minute)}, []uint64{2, 1}},
			"window":            {AuditFilter{Since: base.Add(time.Minute), Until: base.Add(4 * time.Minute)}, []uint64{4, 3, 2}},
			"nothing":           {AuditFilter{Subject: "dev-z"}, nil},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				got, err := s.AuditLog(tc.f)
				if err != nil {
					t.Fatal(err)
				}
				var seqs []uint64
				for _, e := range got {
					seqs = append(seqs, e.Seq)
				}
				if fmt.Sprint(seqs) != fmt.Sprint(tc.want) {
					t.Errorf("seqs = %v, want %v", seqs, tc.want)
				}
			})
		}
		all, _ := s.AuditLog(AuditFilter{Limit: 1})
		if want := base.Add(4 * time.Minute); !all[0].Time.Equal(want) || all[0].Time.Location() != time.UTC {
			t.Errorf("event time = %v, want the store clock's %v in UTC", all[0].Time, want)
		}
		own := time.Date(2020, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
		s.Audit(Event{Action: "x", Outcome: OutcomeSuccess, Time: own})
		if got, _ := s.AuditLog(AuditFilter{Limit: 1}); !got[0].Time.Equal(own) {
			t.Errorf("caller's time %v replaced by %v", own, got[0].Time)
		}
	})
}

func TestAuditRefusals(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, b backendCase) {
		s := b.newTest(t)
		defer s.Close()
		const pw = "N3w-Admin-Passw0rd"
		tests := map[string]struct {
			e       Event
			refused string // "" means accepted
		}{
			"ok":                     {Event{Action: "device.activate", Outcome: OutcomeSuccess, Detail: map[string]string{"secret_name": "device/x/admin", "password_id": "7"}}, ""},
			"no action":              {Event{Outcome: OutcomeSuccess, Subject: "x"}, "has no action"},
			"bad outcome":            {Event{Action: "a", Outcome: "ok"}, `outcome "ok"`},
			"password key":           {Event{Action: "a", Outcome: OutcomeSuccess, Detail: map[string]string{"password": "x"}}, `detail key "password" names a secret`},
			"private key":            {Event{Action: "a", Outcome: OutcomeSuccess, Detail: map[string]string{"CA-Private_Key": "x"}}, "names a secret"},
			"mebx passphrase":        {Event{Action: "a", Outcome: OutcomeSuccess, Detail: map[string]string{"mebx passphrase": "x"}}, "names a secret"},
			"plaintext in detail":    {Event{Action: "a", Outcome: OutcomeSuccess, Detail: map[string]string{"note": "set to " + pw}}, "detail note repeats a secret"},
			"plaintext as a key":     {Event{Action: "a", Outcome: OutcomeSuccess, Detail: map[string]string{pw: "x"}}, "detail key repeats a secret"},
			"plaintext in subject":   {Event{Action: "a", Outcome: OutcomeSuccess, Subject: pw}, "subject repeats a secret"},
			"plaintext in actor":     {Event{Action: "a", Outcome: OutcomeSuccess, Actor: "x" + pw}, "actor repeats a secret"},
			"short secret untracked": {Event{Action: "a", Outcome: OutcomeSuccess, Detail: map[string]string{"note": "pin 1234"}}, ""},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				var auditErr error
				err := s.Update(func(tx *Tx) error {
					if err := tx.PutSecret("device/x/admin", []byte(pw)); err != nil {
						return err
					}
					if err := tx.PutSecret("device/x/pin", []byte("1234")); err != nil {
						return err
					}
					auditErr = tx.Audit(tc.e)
					return fmt.Errorf("roll back: %w", auditErr)
				})
				if tc.refused == "" {
					if auditErr != nil {
						t.Fatalf("Audit refused an acceptable event: %v", auditErr)
					}
					return
				}
				if auditErr == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("Audit = %v, want a refusal containing %q", auditErr, tc.refused)
				}
				if strings.Contains(auditErr.Error(), pw) || strings.Contains(auditErr.Error(), "\n") {
					t.Errorf("refusal %q shows the secret or spans lines", auditErr)
				}
			})
		}
		// The tracked plaintexts belong to one transaction: a later one may
		// mention the same text (it is no longer known to be a secret here).
		if err := s.Audit(Event{Action: "a", Outcome: OutcomeSuccess, Detail: map[string]string{"note": "harmless"}}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSecretsNeverReachAuditBucket writes secrets and audit records in the
// same transactions, then reads every byte of the audit bucket and of the
// file for the plaintexts.
func TestSecretsNeverReachAuditBucket(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "amtrcs.db")
	s := openTest(t, path)
	var plaintexts []string
	for i := range 20 {
		pw := fmt.Sprintf("Device-%02d-Passw0rd!", i)
		plaintexts = append(plaintexts, pw)
		err := s.Update(func(tx *Tx) error {
			if err := tx.PutSecret(fmt.Sprintf("device/%d/admin", i), []byte(pw)); err != nil {
				return err
			}
			return tx.Audit(Event{Actor: "rcs", Action: "device.password.set", Subject: fmt.Sprint(i), Outcome: OutcomeSuccess,
				Detail: map[string]string{"secret_name": fmt.Sprintf("device/%d/admin", i)}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutSecret("standalone", []byte("Standalone-Secret-Value")); err != nil {
		t.Fatal(err)
	}
	plaintexts = append(plaintexts, "Standalone-Secret-Value")
	var auditBytes []byte
	s.be.view(func(tx backendTx) error {
		return tx.auditDesc(0, func(_ uint64, v []byte) (bool, error) {
			auditBytes = append(auditBytes, v...)
			return true, nil
		})
	})
	if !bytes.Contains(auditBytes, []byte("device/19/admin")) {
		t.Fatal("audit bucket scan did not find the recorded secret name; it proves nothing")
	}
	s.Close()
	raw, _ := os.ReadFile(path)
	for _, p := range plaintexts {
		if bytes.Contains(auditBytes, []byte(p)) {
			t.Errorf("audit bucket holds the plaintext %q", p)
		}
		if bytes.Contains(raw, []byte(p)) {
			t.Errorf("database file holds the plaintext %q", p)
		}
	}
}

func TestNamesSecret(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]bool{
		"password": true, "AdminPassword": true, "admin_passwd": true, "MEBx-Passphrase": true,
		"client_secret": true, "private key": true, "api.key": true,
		"secret_name": false, "password_id": false, "secretRef": false,
		"host": false, "thumbprint": false, "key_id": false, "token_id": false,
	} {
		if got := namesSecret(key); got != want {
			t.Errorf("namesSecret(%q) = %v, want %v", key, got, want)
		}
	}
}

// Retention deletes the oldest events, by count and by age, and leaves the
// newest as they were.
func TestPruneAuditKeepsTheNewest(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, b backendCase) {
		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		clock := base
		s := b.openClocked(t, &clock)
		const written = 25
		for i := 1; i <= written; i++ {
			clock = base.Add(time.Duration(i) * time.Hour)
			if err := s.Audit(Event{Action: "test.event", Subject: fmt.Sprint(i), Outcome: OutcomeSuccess}); err != nil {
				t.Fatal(err)
			}
		}
		before, _ := s.AuditLog(AuditFilter{})
		seqs := func() []uint64 {
			t.Helper()
			evs, err := s.AuditLog(AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var out []uint64
			for _, e := range evs {
				out = append(out, e.Seq)
			}
			return out
		}
		steps := []struct {
			name      string
			olderThan time.Time
			keep      int
			deleted   int
			newest    uint64
			oldest    uint64
		}{
			{"no limits", time.Time{}, 0, 0, 25, 1},
			{"within both", base, 100, 0, 25, 1},
			{"by count", time.Time{}, 10, 15, 25, 16},
			{"by age", base.Add(20 * time.Hour), 0, 4, 25, 20},
			{"by both, the stricter wins", base.Add(21 * time.Hour), 3, 3, 25, 23},
		}
		for _, st := range steps {
			n, err := s.PruneAudit(st.olderThan, st.keep)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			got := seqs()
			if n != st.deleted || got[0] != st.newest || got[len(got)-1] != st.oldest || len(got) != int(st.newest-st.oldest+1) {
				t.Fatalf("%s: deleted %d, left %v; want %d deleted, %d..%d left", st.name, n, got, st.deleted, st.oldest, st.newest)
			}
		}
		// What is kept is as it was written.
		kept, _ := s.AuditLog(AuditFilter{})
		for i, e := range kept {
			if fmt.Sprint(e) != fmt.Sprint(before[i]) {
				t.Errorf("kept event %d changed: %+v, was %+v", e.Seq, e, before[i])
			}
		}
		// The log goes on from the sequence it reached.
		if err := s.Audit(Event{Action: "test.event", Outcome: OutcomeSuccess}); err != nil {
			t.Fatal(err)
		}
		if got := seqs(); got[0] != written+1 {
			t.Errorf("next event has seq %d, want %d", got[0], written+1)
		}
	})
}

// openClocked opens a new store whose clock reads *clock.
func (b backendCase) openClocked(t *testing.T, clock *time.Time) *Store {
	t.Helper()
	s, err := b.open(t, b.place(t), Options{
		KEK: KEKSource{Key: testKEK}, Logger: quietLogger(), NoSync: true,
		Now: func() time.Time { return *clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
