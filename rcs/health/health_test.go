package health

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs/jobs"
	"github.com/amtrcs/amtrcs/store"
)

var now = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func session(id string, started time.Time) provisioning.Session {
	return provisioning.Session{Device: id, Path: provisioning.PathHostBased, Status: provisioning.StatusDone, Started: started, Profile: provisioning.DefaultProfile("default")}
}

func healthy(id, fqdn string) (DeviceInfo, provisioning.Session, provisioning.DeviceState) {
	return DeviceInfo{ID: id, FQDN: fqdn, State: "provisioned", LastSeen: now.Add(-time.Hour)},
		session(id, now.Add(-10*day)),
		provisioning.DeviceState{Device: id, LastContact: now.Add(-2 * time.Hour),
			TLS:     &provisioning.TLSState{FQDN: fqdn, NotAfter: now.Add(80 * day)},
			Clock:   &provisioning.ClockState{Checked: now.Add(-day), Drift: 2 * time.Second},
			Network: &provisioning.NetworkState{AMTFQDN: fqdn, OSFQDN: fqdn}}
}

// TestBuild: each kind of problem is found, names the task that fixes
// it, and puts its device before the healthy ones.
func TestBuild(t *testing.T) {
	p := PolicyFrom(config.DefaultMaintenance())
	tests := map[string]struct {
		edit      func(d *DeviceInfo, s *provisioning.Session, st *provisioning.DeviceState, js *[]jobs.Record)
		check     string
		task      string
		wantField func(h DeviceHealth) bool
	}{
		"healthy": {func(*DeviceInfo, *provisioning.Session, *provisioning.DeviceState, *[]jobs.Record) {}, "", "",
			func(h DeviceHealth) bool {
				return *h.TLSDaysLeft == 80 && *h.ClockDriftSeconds == 2 && *h.PasswordAgeDays == 10
			}},
		"renamed in the OS": {func(d *DeviceInfo, _ *provisioning.Session, _ *provisioning.DeviceState, _ *[]jobs.Record) {
			d.FQDN = "pc2.corp.example.com"
		}, CheckFQDN, provisioning.TaskNetworkSync, func(h DeviceHealth) bool {
			return h.AMTFQDN == "pc1.corp.example.com" && h.OSFQDN == "pc2.corp.example.com"
		}},
		"TLS 20 days left": {func(_ *DeviceInfo, _ *provisioning.Session, st *provisioning.DeviceState, _ *[]jobs.Record) {
			st.TLS.NotAfter = now.Add(20*day + time.Hour)
		}, CheckTLS, provisioning.TaskTLS, func(h DeviceHealth) bool { return *h.TLSDaysLeft == 20 }},
		"no TLS though the profile wants it": {func(_ *DeviceInfo, _ *provisioning.Session, st *provisioning.DeviceState, _ *[]jobs.Record) {
			st.TLS = nil
		}, CheckTLS, provisioning.TaskTLS, func(h DeviceHealth) bool { return h.TLSDaysLeft == nil }},
		"clock drift uncorrected": {func(_ *DeviceInfo, _ *provisioning.Session, st *provisioning.DeviceState, _ *[]jobs.Record) {
			st.Clock.Drift = -5 * time.Minute
		}, CheckClock, provisioning.TaskClockSync, func(h DeviceHealth) bool { return *h.ClockDriftSeconds == -300 }},
		"password 100 days old": {func(_ *DeviceInfo, s *provisioning.Session, _ *provisioning.DeviceState, _ *[]jobs.Record) {
			s.Started = now.Add(-100 * day)
		}, CheckPassword, provisioning.TaskPasswordRotation, func(h DeviceHealth) bool { return *h.PasswordAgeDays == 100 }},
		"rotated recently": {func(_ *DeviceInfo, s *provisioning.Session, st *provisioning.DeviceState, _ *[]jobs.Record) {
			s.Started, st.PasswordSet = now.Add(-400*day), now.Add(-3*day)
		}, "", "", func(h DeviceHealth) bool { return *h.PasswordAgeDays == 3 }},
		"silent for 3 days": {func(d *DeviceInfo, _ *provisioning.Session, st *provisioning.DeviceState, _ *[]jobs.Record) {
			d.LastSeen, st.LastContact = now.Add(-3*day), now.Add(-3*day)
		}, CheckContact, provisioning.TaskNetworkSync, func(h DeviceHealth) bool { return h.LastContact.Equal(now.Add(-3 * day)) }},
		"last task failed": {func(_ *DeviceInfo, _ *provisioning.Session, st *provisioning.DeviceState, _ *[]jobs.Record) {
			st.LastError, st.LastErrorTask, st.LastErrorTime = "connection refused", provisioning.TaskClockSync, now.Add(-time.Hour)
		}, CheckError, provisioning.TaskClockSync, func(h DeviceHealth) bool { return h.LastError == "connection refused" }},
		"drift left by a dry run": {func(_ *DeviceInfo, _ *provisioning.Session, st *provisioning.DeviceState, _ *[]jobs.Record) {
			st.Enforce = &provisioning.EnforceState{Checked: now.Add(-time.Hour), Profile: "default", DryRun: true, Drift: []provisioning.Drift{
				{Setting: provisioning.SettingUserConsent, Seen: "none", Wanted: "kvm"}, {Setting: provisioning.SettingKVM, Seen: "off", Wanted: "on", Fixed: true}}}
		}, CheckDrift, provisioning.TaskEnforce, func(h DeviceHealth) bool {
			return len(h.Drift) == 1 && h.Drift[0].Setting == provisioning.SettingUserConsent &&
				strings.Contains(h.Problems[0].Detail, "user consent: seen none, wanted kvm") && !strings.Contains(h.Problems[0].Detail, "KVM")
		}},
		"drift fixed": {func(_ *DeviceInfo, _ *provisioning.Session, st *provisioning.DeviceState, _ *[]jobs.Record) {
			st.Enforce = &provisioning.EnforceState{Checked: now.Add(-time.Hour), Profile: "default", Drift: []provisioning.Drift{
				{Setting: provisioning.SettingUserConsent, Seen: "none", Wanted: "kvm", Fixed: true}}}
		}, "", "", func(h DeviceHealth) bool { return len(h.Drift) == 0 }},
		"job in back-off": {func(_ *DeviceInfo, _ *provisioning.Session, _ *provisioning.DeviceState, js *[]jobs.Record) {
			*js = append(*js, jobs.Record{Device: "bad", Task: provisioning.TaskTLS, Attempts: 3, Error: "no agent connected", NextRun: now.Add(time.Hour)})
		}, CheckError, provisioning.TaskTLS, func(h DeviceHealth) bool { return h.LastError == "no agent connected" }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d, s, st := healthy("bad", "pc1.corp.example.com")
			var js []jobs.Record
			tc.edit(&d, &s, &st, &js)
			od, os, ost := healthy("good", "zz.corp.example.com")
			rep := Build(Input{Devices: []DeviceInfo{od, d}, Sessions: []provisioning.Session{os, s}, States: []provisioning.DeviceState{ost, st}, Jobs: js}, now, p)
			if len(rep.Devices) != 2 {
				t.Fatalf("%d devices", len(rep.Devices))
			}
			h := rep.Devices[0]
			if tc.check == "" {
				if rep.Failing != 0 {
					t.Fatalf("healthy fleet reported failing: %+v", rep.Devices)
				}
			} else {
				if h.ID != "bad" || h.Status != StatusFailing || rep.Failing != 1 {
					t.Fatalf("first device %s %s (%d failing), want the bad one failing first", h.ID, h.Status, rep.Failing)
				}
				found := false
				for _, pr := range h.Problems {
					found = found || (pr.Check == tc.check && pr.Task == tc.task)
				}
				if !found || len(h.Problems) != 1 {
					t.Fatalf("problems %+v, want only %s fixed by %s", h.Problems, tc.check, tc.task)
				}
			}
			var bad DeviceHealth
			for _, x := range rep.Devices {
				if x.ID == "bad" {
					bad = x
				}
			}
			if !tc.wantField(bad) {
				t.Fatalf("fields of %+v", bad)
			}
		})
	}
}

func TestProvisioningCertsInReport(t *testing.T) {
	rep := Build(Input{ProvCerts: []CertInfo{{ID: "a", CommonName: "rcs.corp.example.com", NotAfter: now.Add(45 * day)}, {ID: "b", NotAfter: now.Add(400 * day)}}}, now, PolicyFrom(config.DefaultMaintenance()))
	if len(rep.ProvisioningCerts) != 2 || rep.ProvisioningCerts[0].Level != provisioning.CertWarn || rep.ProvisioningCerts[0].Threshold != 60 || rep.ProvisioningCerts[1].Level != provisioning.CertOK {
		t.Fatalf("certificates %+v", rep.ProvisioningCerts)
	}
	var b bytes.Buffer
	if err := WriteText(&b, rep); err != nil || !strings.Contains(b.String(), "warning at 60 days") {
		t.Fatalf("text %q, %v", b.String(), err)
	}
}

// TestLoadAndText: the records written by the engine and the scheduler
// are read back and printed, failing first, with the fix commands.
func TestLoadAndText(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "amtrcs.db"), store.Options{KEK: store.KEKSource{Key: make([]byte, 32)}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d1, s1, st1 := healthy("11111111-1111-1111-1111-111111111111", "pc1.corp.example.com")
	d2, s2, st2 := healthy("22222222-2222-2222-2222-222222222222", "pc2.corp.example.com")
	d2.FQDN = "pc2-new.corp.example.com"
	st2.TLS.NotAfter = now.Add(10 * day)
	err = st.Update(func(tx *store.Tx) error {
		for _, x := range []struct {
			d  DeviceInfo
			s  provisioning.Session
			ms provisioning.DeviceState
		}{{d1, s1, st1}, {d2, s2, st2}} {
			if err := tx.Put(store.Devices, x.d.ID, x.d); err != nil {
				return err
			}
			if err := tx.Put(store.Sessions, x.s.Device, x.s); err != nil {
				return err
			}
			if err := tx.Put(store.Maintenance, provisioning.StateKey(x.s.Device), x.ms); err != nil {
				return err
			}
		}
		return tx.Put(store.Jobs, "activation-job", map[string]string{"id": "activation-job", "status": "done"})
	})
	if err != nil {
		t.Fatal(err)
	}
	in, err := Load(st)
	if err != nil || len(in.Devices) != 2 || len(in.Sessions) != 2 || len(in.States) != 2 || len(in.Jobs) != 0 {
		t.Fatalf("loaded %d devices, %d sessions, %d states, %d jobs, %v", len(in.Devices), len(in.Sessions), len(in.States), len(in.Jobs), err)
	}
	rep := Build(in, now, PolicyFrom(config.DefaultMaintenance()))
	var b bytes.Buffer
	if err := WriteText(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"failing  pc2-new.corp.example.com", "--task network-sync", "--task tls", "2 devices, 1 failing"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "pc2-new") > strings.Index(out, "pc1.corp") {
		t.Errorf("the failing device is not first:\n%s", out)
	}
}

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// TestTextReachGolden: the text an admin reads from a report whose probes
// found each reach state, and from one that probed nothing.
func TestTextReachGolden(t *testing.T) {
	p := PolicyFrom(config.DefaultMaintenance())
	var in Input
	reach := map[string]Reach{}
	for i, r := range []*Reach{
		{State: ReachAgent},
		{State: ReachNetworkOnly, Address: "10.0.0.2"},
		{State: ReachNone, Address: "10.0.0.3", Detail: "dial tcp 10.0.0.3:16993: connect: connection refused"},
		nil, // no certificate from the internal CA: no network path, not probed
	} {
		id := fmt.Sprintf("%d%d%d%d%d%d%d%d-0000-0000-0000-000000000000", i, i, i, i, i, i, i, i)
		d, s, st := healthy(id, fmt.Sprintf("pc%d.corp.example.com", i))
		if r != nil {
			reach[id] = *r
		} else {
			st.TLS = nil
		}
		in.Devices, in.Sessions, in.States = append(in.Devices, d), append(in.Sessions, s), append(in.States, st)
	}
	for _, tt := range []struct {
		file  string
		reach map[string]Reach
	}{
		{"text-reach-probed.golden", reach},
		{"text-reach-not-probed.golden", nil},
	} {
		t.Run(tt.file, func(t *testing.T) {
			in := in
			in.Reach = tt.reach
			var b bytes.Buffer
			if err := WriteText(&b, Build(in, now, p)); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
			}
			if b.String() != string(want) {
				t.Errorf("output differs from %s (rerun with -update if the change is intended):\n%s", path, b.String())
			}
		})
	}
}

// TestReach: the probe of the network path tells a PC whose OS and agent
// are down from one whose AMT is silent, each with its fix; a connected
// agent is no problem, and a device not probed says nothing.
func TestReach(t *testing.T) {
	p := PolicyFrom(config.DefaultMaintenance())
	tests := map[string]struct {
		reach      *Reach
		wantReach  string
		wantStatus string
		wantFix    string
	}{
		"not probed":        {nil, "", StatusOK, ""},
		"agent connected":   {&Reach{State: ReachAgent}, ReachAgent, StatusOK, ""},
		"OS and agent down": {&Reach{State: ReachNetworkOnly, Address: "10.0.0.7"}, ReachNetworkOnly, StatusFailing, "start the PC's operating system"},
		"AMT silent":        {&Reach{State: ReachNone, Address: "10.0.0.7", Detail: "dial tcp 10.0.0.7:16993: connection refused"}, ReachNone, StatusFailing, "check that the PC has power"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			d, s, st := healthy("d1", "pc1.corp.example.com")
			in := Input{Devices: []DeviceInfo{d}, Sessions: []provisioning.Session{s}, States: []provisioning.DeviceState{st}}
			if tt.reach != nil {
				in.Reach = map[string]Reach{"d1": *tt.reach}
			}
			rep := Build(in, now, p)
			h := rep.Devices[0]
			if h.Reach != tt.wantReach || h.Status != tt.wantStatus {
				t.Fatalf("reach %q, status %s (problems %+v); want %q, %s", h.Reach, h.Status, h.Problems, tt.wantReach, tt.wantStatus)
			}
			if tt.wantFix == "" {
				if len(h.Problems) != 0 {
					t.Fatalf("problems %+v, want none", h.Problems)
				}
				return
			}
			if rep.Failing != 1 || len(h.Problems) != 1 {
				t.Fatalf("failing %d, problems %+v; want the one reach problem", rep.Failing, h.Problems)
			}
			pr := h.Problems[0]
			if pr.Check != CheckReach || !strings.HasPrefix(pr.Detail, tt.wantReach) || !strings.Contains(pr.Detail, tt.reach.Address) || !strings.HasPrefix(pr.Fix, tt.wantFix) {
				t.Fatalf("problem %+v, want %q at %s with a fix starting %q", pr, tt.wantReach, tt.reach.Address, tt.wantFix)
			}
		})
	}
}
