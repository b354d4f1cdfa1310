package provisioning

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/store"
)

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "amtrcs.db"), store.Options{KEK: store.KEKSource{Key: make([]byte, 32)}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestProfileValidate(t *testing.T) {
	tests := map[string]struct {
		edit  func(p *Profile)
		rules []string
	}{
		"default ok":        {func(*Profile) {}, nil},
		"empty name":        {func(p *Profile) { p.Name = "" }, []string{RuleProfileName}},
		"bad mode":          {func(p *Profile) { p.Mode = "xcm" }, []string{RuleProfileMode}},
		"ccm consent kvm":   {func(p *Profile) { p.Mode = ModeCCM; p.MEBxPassword = "" }, []string{RuleProfileConsent}},
		"ccm ok":            {func(p *Profile) { p.Mode = ModeCCM; p.UserConsent = ConsentAll }, nil},
		"static weak":       {func(p *Profile) { p.AdminPassword = PasswordStatic; p.AdminPasswordStatic = "short" }, []string{RuleProfilePassword}},
		"static ok":         {func(p *Profile) { p.AdminPassword = PasswordStatic; p.AdminPasswordStatic = "Str0ng!Pass" }, nil},
		"random with value": {func(p *Profile) { p.AdminPasswordStatic = "Str0ng!Pass" }, []string{RuleProfilePassword}},
		"short length":      {func(p *Profile) { p.AdminPasswordLength = 10 }, []string{RuleProfilePassword}},
		"no address":        {func(p *Profile) { p.Network = Network{} }, []string{RuleProfileNetwork}},
		"bad consent":       {func(p *Profile) { p.UserConsent = "some" }, []string{RuleProfileConsent}},
		"several": {func(p *Profile) { p.Mode = "x"; p.Network = Network{}; p.UserConsent = "?" },
			[]string{RuleProfileMode, RuleProfileNetwork, RuleProfileConsent}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := DefaultProfile("p")
			tc.edit(&p)
			err := p.Validate()
			got := map[string]bool{}
			for _, r := range reasonsOf(err) {
				got[r.Rule] = true
				if r.Want == "" || r.Fix == "" {
					t.Errorf("reason without want or fix: %+v", r)
				}
			}
			if err == nil {
				got = map[string]bool{}
			}
			if len(got) != len(tc.rules) {
				t.Fatalf("Validate = %v, want rules %v", err, tc.rules)
			}
			for _, r := range tc.rules {
				if !got[r] {
					t.Errorf("Validate = %v, want rule %q", err, r)
				}
			}
		})
	}
}

func TestProfileStoreNeverLeaksPassword(t *testing.T) {
	st := openStore(t)
	p := DefaultProfile("static")
	p.AdminPassword, p.AdminPasswordStatic = PasswordStatic, "Adm1n!Static#"
	p.MEBxPassword, p.MEBxPasswordStatic = PasswordStatic, "Mebx!Static9"
	b, _ := json.Marshal(p)
	if strings.Contains(string(b), "Static") && (strings.Contains(string(b), p.AdminPasswordStatic) || strings.Contains(string(b), p.MEBxPasswordStatic)) {
		t.Fatalf("profile JSON carries a password: %s", b)
	}
	if err := PutProfile(st, p); err != nil {
		t.Fatal(err)
	}
	got, err := GetProfile(st, "static")
	if err != nil {
		t.Fatal(err)
	}
	if got.AdminPasswordStatic != p.AdminPasswordStatic || got.MEBxPasswordStatic != p.MEBxPasswordStatic || got.Redirection != p.Redirection {
		t.Fatalf("round trip lost the profile: %+v", got)
	}
	list, err := ListProfiles(st)
	if err != nil || len(list) != 1 || list[0].AdminPasswordStatic != "" {
		t.Fatalf("ListProfiles = %+v, %v; want one profile without its password", list, err)
	}
	var raw json.RawMessage
	if err := st.Get(store.Profiles, "static", &raw); err != nil || strings.Contains(string(raw), p.AdminPasswordStatic) {
		t.Fatalf("stored record %s carries the password (%v)", raw, err)
	}
	bad := DefaultProfile("bad")
	bad.Mode = "nope"
	if err := PutProfile(st, bad); err == nil {
		t.Fatal("PutProfile stored an invalid profile")
	}
	if err := DeleteProfile(st, "static"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Secret(profileSecret("static", "admin")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("static password kept after delete: %v", err)
	}
}
