package amtsim_test

import (
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amt/wsman"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/amtsim/simtest"
	"github.com/amtrcs/amtrcs/csr"
)

// TestHostBasedAdminSetup walks the AMT 7-18 ACM path as an RCS drives it:
// the host interface, the local system account over LMS, the chain,
// AdminSetup, then the admin password.
func TestHostBasedAdminSetup(t *testing.T) {
	for _, version := range []string{"11.8.70", "12.0.40", "16.1.27"} {
		t.Run(version, func(t *testing.T) {
			v := simtest.NewVendor(t, simtest.Options{})
			d := newDevice(t, version, v, nil)
			info, err := hostif.NewClient(d.Host()).ReadInfo(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if info.UUID != d.ID() || info.Version.String() != mustVersion(t, version).String() || info.DNSSuffix != testSuffix ||
				info.ControlMode != amt.ControlNone || info.ProvisioningState != amt.PreProvisioning {
				t.Fatalf("host info %+v", info)
			}
			if e, ok := info.Hashes.Find(v.Root.Raw); !ok || !e.Active || e.Default {
				t.Fatalf("custom root hash not reported active: %+v %v", e, ok)
			}
			c := localClient(t, d)
			gs, err := c.GetGeneralSettings(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if gs.DigestRealm != d.Realm() {
				t.Fatalf("realm %q, want %q", gs.DigestRealm, d.Realm())
			}
			if codes := sendChain(t, c, v.Chain); fmtCodes(codes) != "[0 0 0]" {
				t.Fatalf("AddNextCertInChain codes %v (%s)", codes, d.LastError())
			}
			hbs, err := c.GetHostBasedSetupService(ctx(t))
			if err != nil || hbs.CertChainStatus != int(amt.CertChainStatusComplete) {
				t.Fatalf("CertChainStatus %v, %v", hbs, err)
			}
			if rc := code(t, adminSetup(t, c, v, gs.DigestRealm, "P@ssw0rd-new")); rc != amt.SetupSuccess {
				t.Fatalf("AdminSetup %d: %s", rc, d.LastError())
			}
			// The local system account stops working; admin + new password works.
			if _, err := c.GetSetupAndConfigurationService(ctx(t)); err == nil {
				t.Fatal("local system account still accepted after AdminSetup")
			}
			admin := client(t, d, "admin", "P@ssw0rd-new")
			scs, err := admin.GetSetupAndConfigurationService(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if scs.ProvisioningState != int(amt.PostProvisioning) || scs.ProvisioningMode != int(amt.ProvisioningModeACM) {
				t.Fatalf("after AdminSetup: state %d mode %d", scs.ProvisioningState, scs.ProvisioningMode)
			}
			if rc := code(t, admin.SetMEBxPassword(ctx(t), "Mebx-Pa55!")); rc != 0 {
				t.Fatalf("SetMEBxPassword %d: %s", rc, d.LastError())
			}
			if m, err := hostif.NewClient(d.Host()).ControlMode(ctx(t)); err != nil || m != amt.ControlACM {
				t.Fatalf("host control mode %v, %v", m, err)
			}
		})
	}
}

// TestAddNextCertInChainRules sends chains a vendor could issue and checks
// the code of each AddNextCertInChain and the rule the device names.
func TestAddNextCertInChainRules(t *testing.T) {
	t.Parallel()
	now := time.Now()
	noTrust := func(c *amtsim.Config, _ *simtest.Vendor) { c.CustomHashes = nil }
	cases := map[string]struct {
		version string
		opts    simtest.Options
		edit    func(*amtsim.Config, *simtest.Vendor)
		send    func(t *testing.T, c *wsman.Client, v *simtest.Vendor) []amt.ReturnCode
		want    string
		rule    string
	}{
		"good chain, OID":         {version: "16.1", want: "[0 0 0]"},
		"good chain, exact OU":    {version: "16.1", opts: simtest.Options{Marking: simtest.MarkOU}, want: "[0 0 0]"},
		"OU in other case":        {version: "16.1", opts: simtest.Options{Marking: simtest.MarkOU, OU: "Intel(R) client setup certificate"}, want: "[4]", rule: amtsim.RuleLeafMarking},
		"OU with trailing period": {version: "16.1", opts: simtest.Options{Marking: simtest.MarkOU, OU: "Intel(R) Client Setup Certificate."}, want: "[4]", rule: amtsim.RuleLeafMarking},
		"no marking":              {version: "16.1", opts: simtest.Options{Marking: simtest.MarkNone}, want: "[4]", rule: amtsim.RuleLeafMarking},
		"no server auth EKU":      {version: "16.1", opts: simtest.Options{NoServerAuth: true}, want: "[4]", rule: amtsim.RuleServerAuthEKU},
		"ECC leaf":                {version: "16.1", opts: simtest.Options{ECDSALeaf: true}, want: "[4]", rule: amtsim.RuleLeafKey},
		"root not trusted":        {version: "16.1", edit: noTrust, want: "[0 0 4]", rule: amtsim.RuleRootHash},
		"root hash inactive": {version: "16.1", edit: func(c *amtsim.Config, v *simtest.Vendor) {
			c.CustomHashes[0].Inactive = true
		}, want: "[0 0 4]", rule: amtsim.RuleRootHashInactive},
		"root hash as SHA-384": {version: "16.1", edit: func(c *amtsim.Config, v *simtest.Vendor) {
			c.CustomHashes = []amtsim.CustomHash{{Name: "sha384 root", Algorithm: amt.HashSHA384, Hash: amt.HashSHA384.Sum(v.Root.Raw)}}
		}, want: "[0 0 0]"},
		"SHA-256 of the root under a SHA-384 entry never matches": {version: "16.1", edit: func(c *amtsim.Config, v *simtest.Vendor) {
			h := append(amt.HashSHA256.Sum(v.Root.Raw), make([]byte, 16)...)
			c.CustomHashes = []amtsim.CustomHash{{Name: "padded", Algorithm: amt.HashSHA384, Hash: h}}
		}, want: "[0 0 4]", rule: amtsim.RuleRootHash},
		"SHA-1 root on 16":            {version: "16.1", opts: simtest.Options{SHA1Root: true}, want: "[0 0 4]", rule: amtsim.RuleSHA1Chain},
		"SHA-1 root on 12":            {version: "12.0.40", opts: simtest.Options{SHA1Root: true}, want: "[0 0 0]"},
		"SHA-1 intermediate on 16":    {version: "16.1", opts: simtest.Options{SHA1Intermediate: true}, want: "[0 4]", rule: amtsim.RuleSHA1Chain},
		"SHA-1 leaf on 19":            {version: "19.0", opts: simtest.Options{SHA1Leaf: true}, want: "[4]", rule: amtsim.RuleSHA1Chain},
		"SHA-1 intermediate on 11":    {version: "11.8.70", opts: simtest.Options{SHA1Intermediate: true}, want: "[0 0 0]"},
		"RSA-1024 leaf on 16":         {version: "16.1", opts: simtest.Options{LeafBits: 1024}, want: "[4]", rule: amtsim.RuleRSAKeySize},
		"RSA-1024 root on 16":         {version: "16.1", opts: simtest.Options{RootBits: 1024}, want: "[0 0 4]", rule: amtsim.RuleRSAKeySize},
		"RSA-1024 leaf on 12":         {version: "12.0.40", opts: simtest.Options{LeafBits: 1024}, want: "[0 0 0]"},
		"five certificates":           {version: "16.1", opts: simtest.Options{Intermediates: 3}, want: "[0 0 0 0 5]", rule: amtsim.RuleChainLength},
		"four certificates":           {version: "16.1", opts: simtest.Options{Intermediates: 2}, want: "[0 0 0 0]"},
		"five with limit raised":      {version: "16.1", opts: simtest.Options{Intermediates: 3}, edit: func(c *amtsim.Config, _ *simtest.Vendor) { c.Rules.MaxChainLength = 5 }, want: "[0 0 0 0 0]"},
		"leaf not yet valid":          {version: "16.1", opts: simtest.Options{LeafNotBefore: now.Add(time.Hour)}, want: "[4]", rule: amtsim.RuleValidity},
		"leaf expired":                {version: "16.1", opts: simtest.Options{LeafNotBefore: now.AddDate(-2, 0, 0), LeafNotAfter: now.Add(-time.Hour)}, want: "[4]", rule: amtsim.RuleValidity},
		"firmware clock behind":       {version: "16.1", edit: func(c *amtsim.Config, _ *simtest.Vendor) { c.ClockOffset = -48 * time.Hour }, want: "[4]", rule: amtsim.RuleValidity},
		"suffix mismatch":             {version: "16.1", opts: simtest.Options{CN: "rcs.other.net"}, want: "[4]", rule: amtsim.RuleDomainSuffix},
		"suffix via SAN":              {version: "16.1", opts: simtest.Options{CN: "rcs.other.net", DNSNames: []string{"rcs.example.com"}}, want: "[0 0 0]"},
		"no suffix on the device":     {version: "16.1", edit: func(c *amtsim.Config, _ *simtest.Vendor) { c.DHCPSuffix = "" }, want: "[4]", rule: amtsim.RuleNoSuffix},
		"MEBx suffix wins (mismatch)": {version: "16.1", edit: func(c *amtsim.Config, _ *simtest.Vendor) { c.MEBxSuffix = "branch.example.net" }, want: "[4]", rule: amtsim.RuleDomainSuffix},
		"DHCP suffix wins (match)": {version: "16.1", edit: func(c *amtsim.Config, _ *simtest.Vendor) {
			c.MEBxSuffix, c.SuffixPrecedence = "branch.example.net", amtsim.PreferDHCP
		}, want: "[0 0 0]"},
		"first certificate not flagged leaf": {version: "16.1", send: func(t *testing.T, c *wsman.Client, v *simtest.Vendor) []amt.ReturnCode {
			return []amt.ReturnCode{code(t, c.AddNextCertInChain(ctx(t), v.Leaf.Raw, false, false))}
		}, want: "[1]", rule: amtsim.RuleChainOrder},
		"root before intermediate": {version: "16.1", send: func(t *testing.T, c *wsman.Client, v *simtest.Vendor) []amt.ReturnCode {
			return []amt.ReturnCode{
				code(t, c.AddNextCertInChain(ctx(t), v.Leaf.Raw, true, false)),
				code(t, c.AddNextCertInChain(ctx(t), v.Root.Raw, false, true)),
			}
		}, want: "[0 4]", rule: amtsim.RuleChainSignature},
		"certificate after the root": {version: "16.1", send: func(t *testing.T, c *wsman.Client, v *simtest.Vendor) []amt.ReturnCode {
			out := sendChain(t, c, v.Chain)
			return append(out, code(t, c.AddNextCertInChain(ctx(t), v.Root.Raw, false, true)))
		}, want: "[0 0 0 3]", rule: amtsim.RuleChainOrder},
		"not base64 DER": {version: "16.1", send: func(t *testing.T, c *wsman.Client, v *simtest.Vendor) []amt.ReturnCode {
			return []amt.ReturnCode{code(t, c.AddNextCertInChain(ctx(t), []byte("-----BEGIN CERTIFICATE-----"), true, false))}
		}, want: "[1]", rule: amtsim.RuleChainParse},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := simtest.NewVendor(t, tc.opts)
			d := newDevice(t, tc.version, v, func(c *amtsim.Config) {
				if tc.edit != nil {
					tc.edit(c, v)
				}
			})
			c := localClient(t, d)
			var got []amt.ReturnCode
			if tc.send != nil {
				got = tc.send(t, c, v)
			} else {
				got = sendChain(t, c, v.Chain)
			}
			if fmtCodes(got) != tc.want {
				t.Fatalf("codes %v, want %s (last error %q)", got, tc.want, d.LastError())
			}
			wantRefused(t, d, tc.rule)
			if tc.send == nil && tc.edit == nil {
				agreeWithWorkshop(t, v, tc.version, tc.rule)
			}
		})
	}
}

// agreeWithWorkshop holds the simulator and the certificate workshop to one
// verdict: the chain a default device refuses under rule, csr.Check must
// call unusable for that version with the same rule, and the reverse.
func agreeWithWorkshop(t *testing.T, v *simtest.Vendor, version, rule string) {
	t.Helper()
	rep := csr.Check(v.Chain, csr.CheckOptions{
		Versions:     []amt.Version{mustVersion(t, version)},
		Suffixes:     []string{testSuffix},
		CustomHashes: []amt.RootHash{{Name: "simtest root", Algorithm: amt.HashSHA256, Hash: v.RootHash(), Active: true}},
	})
	vd := rep.Verdicts[0]
	if vd.Usable != (rule == "") {
		t.Fatalf("csr.Check usable=%t for AMT %s, but the simulator refused under %q (reasons %v)", vd.Usable, version, rule, vd.Reasons)
	}
	if rule != "" && !slices.ContainsFunc(vd.Reasons, func(r amt.RuleError) bool { return r.Rule == rule }) {
		t.Errorf("csr.Check reasons %v do not name the simulator's rule %q", vd.Reasons, rule)
	}
}

// TestAdminSetupRules checks AdminSetup's own rules: state, parameters, the
// signature over the nonces, the nonce used once, the flash limit, and the
// method's removal in AMT 19.
func TestAdminSetupRules(t *testing.T) {
	t.Parallel()
	type env struct {
		t     *testing.T
		d     *amtsim.Device
		c     *wsman.Client
		v     *simtest.Vendor
		realm string
	}
	// input builds an AdminSetup input over a fresh nonce.
	input := func(e env, edit func(*wsman.AdminSetupInput, []byte, []byte)) *wsman.AdminSetupInput {
		hbs, err := e.c.GetHostBasedSetupService(ctx(e.t))
		if err != nil {
			e.t.Fatal(err)
		}
		nonce, _ := hbs.Nonce()
		mc := mcNonce(e.t)
		in := &wsman.AdminSetupInput{
			NetAdminPassEncryptionType: wsman.PassEncryptionHTTPDigestMD5A1,
			NetworkAdminPassword:       amt.NetworkAdminPassword(e.realm, "Secret-123"),
			McNonce:                    b64(mc),
			SigningAlgorithm:           wsman.SigningAlgorithmRSASHA256,
			DigitalSignature:           b64(e.v.SignSetup(e.t, nonce, mc)),
		}
		if edit != nil {
			edit(in, nonce, mc)
		}
		return in
	}
	cases := map[string]struct {
		version string
		edit    func(*amtsim.Config)
		noChain bool
		run     func(e env) []amt.ReturnCode
		want    string
		rule    string
	}{
		"success": {run: func(e env) []amt.ReturnCode {
			return []amt.ReturnCode{code(e.t, e.c.AdminSetup(ctx(e.t), input(e, nil)))}
		}, want: "[0]"},
		"password in upper-case hex": {run: func(e env) []amt.ReturnCode {
			return []amt.ReturnCode{code(e.t, e.c.AdminSetup(ctx(e.t), input(e, func(in *wsman.AdminSetupInput, _, _ []byte) {
				in.NetworkAdminPassword = "ABCDEF0123456789ABCDEF0123456789"
			})))}
		}, want: "[3]", rule: amtsim.RulePasswordFormat},
		"password sent in the clear": {run: func(e env) []amt.ReturnCode {
			return []amt.ReturnCode{code(e.t, e.c.AdminSetup(ctx(e.t), input(e, func(in *wsman.AdminSetupInput, _, _ []byte) {
				in.NetworkAdminPassword = "Secret-123"
			})))}
		}, want: "[3]", rule: amtsim.RulePasswordFormat},
		"encryption type 1": {run: func(e env) []amt.ReturnCode {
			return []amt.ReturnCode{code(e.t, e.c.AdminSetup(ctx(e.t), input(e, func(in *wsman.AdminSetupInput, _, _ []byte) {
				in.NetAdminPassEncryptionType = 1
			})))}
		}, want: "[3]", rule: amtsim.RuleParameter},
		"McNonce of 16 bytes": {run: func(e env) []amt.ReturnCode {
			return []amt.ReturnCode{code(e.t, e.c.AdminSetup(ctx(e.t), input(e, func(in *wsman.AdminSetupInput, _, _ []byte) {
				in.McNonce = b64(make([]byte, 16))
			})))}
		}, want: "[3]", rule: amtsim.RuleParameter},
		"signature over McNonce then ConfigurationNonce": {run: func(e env) []amt.ReturnCode {
			return []amt.ReturnCode{code(e.t, e.c.AdminSetup(ctx(e.t), input(e, func(in *wsman.AdminSetupInput, nonce, mc []byte) {
				in.DigitalSignature = b64(e.v.SignSetup(e.t, mc, nonce))
			})))}
		}, want: "[5]", rule: amtsim.RuleSignature},
		"signature by another key": {run: func(e env) []amt.ReturnCode {
			other := simtest.NewVendor(e.t, simtest.Options{LeafBits: 1024})
			return []amt.ReturnCode{code(e.t, e.c.AdminSetup(ctx(e.t), input(e, func(in *wsman.AdminSetupInput, nonce, mc []byte) {
				in.DigitalSignature = b64(other.SignSetup(e.t, nonce, mc))
			})))}
		}, want: "[5]", rule: amtsim.RuleSignature},
		"nonce used twice": {run: func(e env) []amt.ReturnCode {
			replay := input(e, nil) // a correct signature over the current nonce
			bad := *replay
			bad.NetworkAdminPassword = amt.NetworkAdminPassword(e.realm, "Other-123")
			bad.DigitalSignature = b64([]byte("not a signature"))
			r1 := code(e.t, e.c.AdminSetup(ctx(e.t), &bad)) // spends the nonce
			r2 := code(e.t, e.c.AdminSetup(ctx(e.t), replay))
			return []amt.ReturnCode{r1, r2, code(e.t, e.c.AdminSetup(ctx(e.t), input(e, nil)))}
		}, want: "[5 5 0]", rule: ""},
		"no chain": {noChain: true, run: func(e env) []amt.ReturnCode {
			return []amt.ReturnCode{code(e.t, e.c.AdminSetup(ctx(e.t), input(e, nil)))}
		}, want: "[2]", rule: amtsim.RuleState},
		"twice": {run: func(e env) []amt.ReturnCode {
			r1 := code(e.t, e.c.AdminSetup(ctx(e.t), input(e, nil)))
			admin := client(e.t, e.d, "admin", "Secret-123")
			in := input(env{t: e.t, d: e.d, c: admin, v: e.v, realm: e.realm}, nil)
			return []amt.ReturnCode{r1, code(e.t, admin.AdminSetup(ctx(e.t), in))}
		}, want: "[0 2]", rule: amtsim.RuleState},
		"removed in AMT 19": {version: "19.0.5", run: func(e env) []amt.ReturnCode {
			return []amt.ReturnCode{code(e.t, e.c.AdminSetup(ctx(e.t), input(e, nil)))}
		}, want: "[2]", rule: amtsim.RuleAdminSetupRemoved},
		"flash write limit": {edit: func(c *amtsim.Config) { c.FlashWriteLimit, c.FlashWrites = 100, 100 }, run: func(e env) []amt.ReturnCode {
			return []amt.ReturnCode{code(e.t, e.c.AdminSetup(ctx(e.t), input(e, nil)))}
		}, want: "[6]", rule: amtsim.RuleFlashWrites},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			version := tc.version
			if version == "" {
				version = "16.1.27"
			}
			v := simtest.NewVendor(t, simtest.Options{})
			d := newDevice(t, version, v, tc.edit)
			c := localClient(t, d)
			if !tc.noChain {
				if codes := sendChain(t, c, v.Chain); fmtCodes(codes) != "[0 0 0]" {
					t.Fatalf("chain: %v (%s)", codes, d.LastError())
				}
			}
			got := tc.run(env{t: t, d: d, c: c, v: v, realm: d.Realm()})
			if fmtCodes(got) != tc.want {
				t.Fatalf("codes %v, want %s (last error %q)", got, tc.want, d.LastError())
			}
			wantRefused(t, d, tc.rule)
		})
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
