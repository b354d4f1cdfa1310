package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/agent"
	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amtsim"
	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/store"
)

func init() { register(newDemoCmd) }

type demoFlags struct {
	devices  int
	versions []string
	keep     bool
}

// demoSuffix is the DNS suffix of the demo fleet; the deliberate failure
// sits under demoBadSuffix, which the demo certificate does not cover.
const (
	demoSuffix    = "demo.example.com"
	demoBadSuffix = "branch.example.net"
)

func newDemoCmd(a *app) *cobra.Command {
	var f demoFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the RCS, a simulated fleet and its agents, and activate the fleet",
		Long: "Start the server on embedded defaults (loopback ports), make a demo provisioning chain\n" +
			"(a vendor root, intermediate and leaf made now; the root added to the simulated devices as\n" +
			"a custom trusted hash, as MEBx allows), import it through the certificate workshop,\n" +
			"configure a domain and a profile, then activate a simulated fleet through in-process agents\n" +
			"over real websockets. One device is mis-configured on purpose (a DNS suffix the certificate\n" +
			"does not cover) and must fail with its reason and fix. Exit 0 when everything else worked.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd, a, &f) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.devices, "devices", 25, "number of simulated devices (at least 2)")
	fl.StringSliceVar(&f.versions, "amt-versions", []string{"11.8.55", "16.1.27", "19.0.5"}, "AMT versions of the fleet, in turn")
	fl.BoolVar(&f.keep, "keep", false, "keep the demo's data directory (default: a temporary one, removed at the end, unless --data-dir is given)")
	return cmd
}

// demoVendor is a provisioning vendor made for the demo: its keys live in
// memory and die with the process.
type demoVendor struct {
	chain []*x509.Certificate // leaf, intermediate, root
	key   crypto.Signer
}

func newDemoVendor(now time.Time) (*demoVendor, error) {
	mk := func(t, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
		der, err := x509.CreateCertificate(rand.Reader, t, parent, pub, signer)
		if err != nil {
			return nil, err
		}
		return x509.ParseCertificate(der)
	}
	keys := make([]*rsa.PrivateKey, 3)
	var wg sync.WaitGroup
	var kerr error
	var mu sync.Mutex
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			mu.Lock()
			defer mu.Unlock()
			keys[i], kerr = k, errorsJoin(kerr, err)
		}()
	}
	wg.Wait()
	if kerr != nil {
		return nil, kerr
	}
	serial := func() *big.Int { n, _ := rand.Int(rand.Reader, big.NewInt(1<<62)); return n }
	rootT := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "amtrcs Demo Root CA", Organization: []string{"amtrcs demo"}},
		NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	root, err := mk(rootT, rootT, &keys[0].PublicKey, keys[0])
	if err != nil {
		return nil, err
	}
	intT := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "amtrcs Demo AMT Issuing CA", Organization: []string{"amtrcs demo"}},
		NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	inter, err := mk(intT, root, &keys[1].PublicKey, keys[0])
	if err != nil {
		return nil, err
	}
	leafT := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "rcs." + demoSuffix, Organization: []string{"amtrcs demo"}},
		DNSNames: []string{"rcs." + demoSuffix}, NotBefore: now.Add(-24 * time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{amt.ProvisioningOID()}}
	leaf, err := mk(leafT, inter, &keys[2].PublicKey, keys[1])
	if err != nil {
		return nil, err
	}
	return &demoVendor{chain: []*x509.Certificate{leaf, inter, root}, key: keys[2]}, nil
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// demoResult is one row of the final table.
type demoResult struct {
	Device   string        `json:"device"`
	UUID     string        `json:"uuid"`
	Version  string        `json:"version"`
	Path     string        `json:"path,omitempty"`
	Result   string        `json:"result"`
	Time     time.Duration `json:"time_ns"`
	Reason   string        `json:"reason,omitempty"`
	Fix      string        `json:"fix,omitempty"`
	Expected string        `json:"expected"` // "success" or "failure"
}

func runDemo(cmd *cobra.Command, a *app, f *demoFlags) error {
	if f.devices < 2 {
		return usageError(fmt.Errorf("--devices %d: want at least 2 (one is the deliberate failure)", f.devices))
	}
	var versions []amt.Version
	for _, s := range f.versions {
		v, err := amt.ParseVersion(strings.TrimSpace(s))
		if err != nil {
			return usageError(err)
		}
		versions = append(versions, v)
	}
	dir := a.dataDir
	if !cmd.Flags().Changed("data-dir") {
		d, err := os.MkdirTemp("", "amtrcs-demo-")
		if err != nil {
			return err
		}
		dir = d
		if !f.keep {
			defer os.RemoveAll(dir)
		}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fmt.Fprintf(a.stderr, "demo: data directory %s\n", dir)

	st, err := store.Open(filepath.Join(dir, storeFile), store.Options{Logger: log, NoSync: true})
	if err != nil {
		return usageError(err)
	}
	defer st.Close()

	// 1. The provisioning chain, imported like a vendor delivery.
	now := time.Now()
	vendor, err := newDemoVendor(now)
	if err != nil {
		return err
	}
	rootHash := amt.RootHash{Name: "amtrcs Demo Root CA", Algorithm: amt.HashSHA256, Hash: amt.HashSHA256.Sum(vendor.chain[2].Raw), Active: true}
	imp, err := csr.NewWorkshop(st, csr.WorkshopOptions{Actor: "demo"}).Import(&csr.Delivery{Certificates: vendor.chain, Key: vendor.key, Sources: []string{"demo vendor"}},
		csr.ImportOptions{Check: csr.CheckOptions{CustomHashes: []amt.RootHash{rootHash}, Suffixes: []string{demoSuffix}}})
	if err != nil {
		return fmt.Errorf("import the demo chain: %w", err)
	}
	fmt.Fprintf(a.stderr, "demo: provisioning certificate %s (CN rcs.%s) imported; root SHA-256 %X added to the devices as a custom hash\n", imp.Cert.ID, demoSuffix, rootHash.Hash[:8])

	// 2. The server, on loopback ports of its choosing.
	idCA, err := amtsim.DefaultIdentityCA()
	if err != nil {
		return err
	}
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Server.API = "127.0.0.1:0"
	cfg.Server.AgentGateway = "127.0.0.1:0"
	// The simulated devices' TLS identities chain to the simulator's CA,
	// which a real RCS would not trust: the demo trusts it explicitly.
	srv, err := rcs.New(rcs.Options{Config: cfg, Store: st, Logger: log, MaxJobs: 64,
		Engine: provisioning.Options{DeviceIdentityRoots: []*x509.Certificate{idCA.Cert}}})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tlsCfg := &tls.Config{RootCAs: pool}
	tok, err := os.ReadFile(filepath.Join(dir, rcs.AdminTokenFile))
	if err != nil {
		return err
	}
	api := &apiClient{base: srv.URL(), token: strings.TrimSpace(string(tok)), http: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: time.Minute}}

	// 3. A profile and a domain, through the API.
	prof := map[string]any{"name": "demo", "mode": "acm", "admin_password": "random", "mebx_password": "random", "user_consent": "kvm",
		"redirection": map[string]bool{"kvm": true, "sol": true}, "network": map[string]bool{"dhcp": true, "sync_from_host": true}, "sync_hostname": true}
	if err := api.do("POST", "/api/v1/profiles", prof, nil); err != nil {
		return err
	}
	if err := api.do("POST", "/api/v1/domains", rcs.Domain{Name: "demo", Suffixes: []string{demoSuffix}, CertID: imp.Cert.ID, Profile: "demo"}, nil); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "demo: API %s; profile \"demo\" (ACM) and domain \"demo\" (%s) configured\n", srv.URL(), demoSuffix)
	return runDemoFleet(ctx, a, f, srv, versions, idCA, rootHash, tlsCfg)
}

func runDemoFleet(ctx context.Context, a *app, f *demoFlags, srv *rcs.Server, versions []amt.Version, idCA *amtsim.IdentityCA, root amt.RootHash, tlsCfg *tls.Config) error {
	// 4. The fleet: one device in the middle has a suffix the certificate
	// does not cover.
	bad := f.devices / 2
	type member struct {
		dev  *amtsim.Device
		host string
	}
	fleet := make([]member, f.devices)
	for i := range fleet {
		suffix := demoSuffix
		if i == bad {
			suffix = demoBadSuffix
		}
		host := fmt.Sprintf("pc-%03d", i+1)
		d, err := amtsim.New(amtsim.Config{Version: versions[i%len(versions)], DHCPSuffix: suffix, OSHostname: host, Identity: idCA,
			CustomHashes: []amtsim.CustomHash{{Name: root.Name, Algorithm: root.Algorithm, Hash: root.Hash}}})
		if err != nil {
			return err
		}
		fleet[i] = member{dev: d, host: host}
	}
	fmt.Fprintf(a.stderr, "demo: %d simulated devices (AMT %s), %s mis-configured on purpose (suffix %s)\n", f.devices, joinVersions(versions), fleet[bad].host, demoBadSuffix)

	// 5. Their agents, in process, over real websockets.
	bar := progressbar.NewOptions(f.devices, progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription("activating"),
		progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionSetPredictTime(false),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(a.stderr) }))
	gateway := "https://" + srv.Addr("agent_gateway").String()
	var wg sync.WaitGroup
	var mu sync.Mutex
	agentErrs := make([]error, f.devices)
	for i, m := range fleet {
		token, _, _, err := srv.NewEnrollToken("demo", time.Hour)
		if err != nil {
			return err
		}
		ag, err := agent.New(agent.Options{Server: gateway, EnrollToken: token, Hostname: m.host, FQDN: m.host + "." + demoSuffix,
			Backend: &agent.InProcess{Label: m.host, Host: m.dev.Host(), Dial: m.dev.DialLMS}, TLS: tlsCfg, Once: true,
			Events: func(wire.Event) {}})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := ag.Run(ctx)
			mu.Lock()
			agentErrs[i] = err
			_ = bar.Add(1)
			mu.Unlock()
		}()
	}
	wg.Wait()

	// 6. The table, from what the server recorded.
	var rows []demoResult
	failures := 0
	for i, m := range fleet {
		id := m.dev.ID().String()
		r := demoResult{Device: m.host, UUID: id, Version: m.dev.Version().String(), Expected: "success"}
		if i == bad {
			r.Expected = "failure"
		}
		var d rcs.DeviceRecord
		if err := srv.Store().Get(store.Devices, id, &d); err == nil && d.LastJob != "" {
			if j, err := srv.Job(d.LastJob); err == nil {
				r.Path, r.Time, r.Reason, r.Fix = j.Path, j.Duration(time.Now()), j.Error, j.Fix
				r.Result = j.Status
			}
		}
		if r.Result == "" {
			r.Result = "no job"
			if agentErrs[i] != nil {
				r.Reason = agentErrs[i].Error()
			}
		}
		if st, mode := m.dev.State(); r.Result == rcs.JobDone && (st != amt.PostProvisioning || mode != amt.ControlACM) {
			r.Result, r.Reason = "mismatch", fmt.Sprintf("the server says done, the device says %s %s", st, mode)
		}
		ok := (r.Expected == "success") == (r.Result == rcs.JobDone)
		if !ok {
			failures++
		}
		rows = append(rows, r)
	}
	if a.json {
		if err := a.printJSON(rows); err != nil {
			return err
		}
	} else {
		printDemoTable(a.stdout, rows)
	}
	if failures > 0 {
		return verdictError(fmt.Errorf("demo: %d devices did not end as expected", failures))
	}
	fmt.Fprintf(a.stdout, "\n%d of %d devices activated; the deliberate failure was refused with its reason and fix, as expected.\n", f.devices-1, f.devices)
	return nil
}

func joinVersions(vs []amt.Version) string {
	var s []string
	for _, v := range vs {
		s = append(s, v.String())
	}
	return strings.Join(s, ", ")
}

func printDemoTable(w io.Writer, rows []demoResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tAMT\tPATH\tRESULT\tTIME")
	for _, r := range rows {
		res := r.Result
		if r.Expected == "failure" && r.Result == rcs.JobFailed {
			res = "failed (expected)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Device, r.Version, dash(r.Path), res, r.Time.Round(time.Millisecond))
	}
	tw.Flush()
	for _, r := range rows {
		if r.Result != rcs.JobDone {
			fmt.Fprintf(w, "\n%s (%s): %s\n", r.Device, r.UUID, r.Reason)
			if r.Fix != "" && !strings.Contains(r.Reason, r.Fix) {
				fmt.Fprintf(w, "  fix: %s\n", r.Fix)
			}
		}
	}
}
