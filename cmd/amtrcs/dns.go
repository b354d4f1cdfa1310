package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/dnssuffix"
)

func init() { register(newDNSCmd) }

// resolvConfPath is where resolvers come from when neither flags nor the
// config name one; a variable so tests can point it at their own file.
var resolvConfPath = "/etc/resolv.conf"

func newDNSCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Check DNS before deployment",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newDNSCheckCmd(a))
	return cmd
}

type dnsCheckFlags struct {
	resolvers, suffixes, oldSuffixes, devices, amtNames, certNames, rcsAddrs []string
	amtVersion                                                               string
	timeout                                                                  time.Duration
}

func newDNSCheckCmd(a *app) *cobra.Command {
	var f dnsCheckFlags
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Query DNS for what provisioning depends on and report what to fix",
		Long: `check asks every resolver, over UDP and then TCP when an answer is truncated:
  - ProvisionServer.<suffix> (A and AAAA) exists and points at this RCS (legacy hello discovery);
  - each provisioning certificate name resolves, to this RCS;
  - each suffix is covered by a provisioning certificate (the AMT suffix rule);
  - each device's FQDN resolves to its IP, the IP's PTR leads back to it, and the
    FQDN AMT reports is the one the OS reports;
  - resolvers answer, without SERVFAIL, and agree with each other.
Values come from the flags, else from the config (--config): dns resolvers and
timeout, domain suffixes and provisioning_cert_file, server advertise_addresses.
Resolvers fall back to /etc/resolv.conf.
Exit status: 0 when no finding is an error, 1 otherwise, 2 on bad input.`,
		Example: `  amtrcs dns check --device-suffix corp.example.com --cert-name rcs.corp.example.com --rcs-address 192.0.2.10
  amtrcs dns check --config amtrcs.hcl --device-fqdn pc3.corp.example.com=192.0.2.43 --amt-fqdn pc3.corp.example.com=old-pc3.corp.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := f.input(a)
			if err != nil {
				return err
			}
			// Every query is bounded by the timeout; the whole check by a
			// multiple of it, so a fleet-sized list against a dead resolver
			// still ends.
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*in.Timeout)
			defer cancel()
			rep := dnssuffix.Preflight(ctx, in)
			if a.json {
				err = a.printJSON(rep)
			} else {
				err = rep.WriteText(a.stdout)
			}
			if err != nil {
				return err
			}
			if rep.Failed() {
				return verdictError(nil)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.resolvers, "resolver", nil, "resolver to ask, HOST or HOST:PORT (repeatable); default: the config's dns resolvers, else /etc/resolv.conf")
	fl.StringArrayVar(&f.suffixes, "device-suffix", nil, "device DNS suffix to check (repeatable); default: the config's domain suffixes")
	// --suffix was this command's name for what every other command calls
	// --device-suffix; it still works, and says so.
	fl.StringArrayVar(&f.oldSuffixes, "suffix", nil, "")
	_ = fl.MarkHidden("suffix")
	fl.StringArrayVar(&f.devices, "device-fqdn", nil, "device to check, NAME=IP or NAME (repeatable)")
	fl.StringArrayVar(&f.amtNames, "amt-fqdn", nil, "FQDN that AMT reports for a device given by --device-fqdn, NAME=AMTFQDN (repeatable)")
	fl.StringArrayVar(&f.certNames, "cert-name", nil, "provisioning certificate CN or SAN name (repeatable); default: the names in the config's provisioning_cert_file")
	fl.StringArrayVar(&f.rcsAddrs, "rcs-address", nil, "IP address devices reach this RCS at (repeatable); default: the config's server advertise_addresses")
	fl.StringVar(&f.amtVersion, "amt-version", amt.DefaultVersion.String(), "AMT version the suffix rule is applied for")
	fl.DurationVar(&f.timeout, "timeout", 0, "bound on each query; default: the config's dns timeout, else 2s")
	return cmd
}

// input builds the preflight input from flags and config, refusing bad
// values with exit status 2 before any query is sent.
func (f *dnsCheckFlags) input(a *app) (dnssuffix.PreflightInput, error) {
	var in dnssuffix.PreflightInput
	cfg, err := loadDNSConfig(a)
	if err != nil {
		return in, err
	}
	if in.Version, err = amt.ParseVersion(f.amtVersion); err != nil {
		return in, usageError(fmt.Errorf("--amt-version: %w", err))
	}
	in.Timeout = f.timeout
	if in.Timeout == 0 && cfg != nil {
		in.Timeout = cfg.DNS.Timeout
	}
	if in.Timeout <= 0 {
		in.Timeout = dnssuffix.DefaultQueryTimeout
	}

	if in.Resolvers, err = f.resolverList(cfg); err != nil {
		return in, err
	}

	if len(f.oldSuffixes) > 0 {
		fmt.Fprintln(a.stderr, "amtrcs: --suffix is deprecated: use --device-suffix, as every other command does")
	}
	in.Suffixes = append(slices.Clone(f.suffixes), f.oldSuffixes...)
	if len(in.Suffixes) == 0 && cfg != nil {
		for _, d := range cfg.Domains {
			in.Suffixes = append(in.Suffixes, d.Suffixes...)
		}
	}
	for _, s := range in.Suffixes {
		if _, err := dnssuffix.ValidateName(s); err != nil {
			return in, usageError(fmt.Errorf("--device-suffix: %w", err))
		}
	}

	in.CertNames = f.certNames
	if len(in.CertNames) == 0 && cfg != nil {
		for _, d := range cfg.Domains {
			if d.ProvisioningCertFile == "" {
				continue
			}
			names, err := certFileNames(d.ProvisioningCertFile)
			if err != nil {
				return in, usageError(fmt.Errorf("domain %q provisioning_cert_file: %w", d.Name, err))
			}
			in.CertNames = append(in.CertNames, names...)
		}
	}
	for _, c := range in.CertNames {
		if _, err := dnssuffix.ValidateCertName(c); err != nil {
			return in, usageError(fmt.Errorf("--cert-name: %w", err))
		}
	}

	in.RCSAddresses = f.rcsAddrs
	if len(in.RCSAddresses) == 0 && cfg != nil {
		// Advertised host names are the RCS's names, not its addresses;
		// only the IPs can be compared with what DNS answers.
		for _, s := range cfg.Server.AdvertiseAddresses {
			if _, err := netip.ParseAddr(s); err == nil {
				in.RCSAddresses = append(in.RCSAddresses, s)
			}
		}
	}
	for _, s := range in.RCSAddresses {
		if _, err := netip.ParseAddr(strings.TrimSpace(s)); err != nil {
			return in, usageError(fmt.Errorf("--rcs-address %q is not an IP address; want for example 192.0.2.10 or 2001:db8::10", s))
		}
	}

	if in.Devices, err = f.deviceList(); err != nil {
		return in, err
	}
	if len(in.Suffixes) == 0 && len(in.CertNames) == 0 && len(in.Devices) == 0 {
		return in, usageError(errors.New("nothing to check: give --device-suffix, --cert-name or --device-fqdn, or a --config with domains"))
	}
	return in, nil
}

func (f *dnsCheckFlags) resolverList(cfg *config.Config) ([]string, error) {
	list := f.resolvers
	if len(list) == 0 && cfg != nil {
		list = cfg.DNS.Resolvers
	}
	if len(list) == 0 {
		sys, err := dnssuffix.SystemResolvers(resolvConfPath)
		if err != nil {
			return nil, usageError(fmt.Errorf("%w (or pass --resolver HOST:PORT, or set dns resolvers in the config)", err))
		}
		list = sys
	}
	for _, r := range list {
		if _, err := dnssuffix.NormalizeResolver(r); err != nil {
			return nil, usageError(fmt.Errorf("--resolver: %w", err))
		}
	}
	return list, nil
}

func (f *dnsCheckFlags) deviceList() ([]dnssuffix.DeviceName, error) {
	var devs []dnssuffix.DeviceName
	index := map[string]int{}
	for _, s := range f.devices {
		name, ip, _ := strings.Cut(s, "=")
		n, err := dnssuffix.ValidateName(strings.TrimSpace(name))
		if err != nil {
			return nil, usageError(fmt.Errorf("--device-fqdn %q: %w", s, err))
		}
		if ip != "" {
			if _, err := netip.ParseAddr(strings.TrimSpace(ip)); err != nil {
				return nil, usageError(fmt.Errorf("--device-fqdn %q: %q is not an IP address; want NAME=IP, for example pc42.corp.example.com=192.0.2.42", s, ip))
			}
		}
		if _, dup := index[n]; dup {
			return nil, usageError(fmt.Errorf("--device-fqdn %q: device %s is given twice; want each device once", s, n))
		}
		index[n] = len(devs)
		devs = append(devs, dnssuffix.DeviceName{Name: n, IP: strings.TrimSpace(ip), OSFQDN: n})
	}
	for _, s := range f.amtNames {
		name, amtName, ok := strings.Cut(s, "=")
		n, err := dnssuffix.ValidateName(strings.TrimSpace(name))
		if !ok || err != nil || strings.TrimSpace(amtName) == "" {
			return nil, usageError(fmt.Errorf("--amt-fqdn %q: want NAME=AMTFQDN, NAME as given to --device-fqdn, for example pc3.corp.example.com=old-pc3.corp.example.com", s))
		}
		i, found := index[n]
		if !found {
			return nil, usageError(fmt.Errorf("--amt-fqdn %q: device %s is not among --device-fqdn; add --device-fqdn %s=IP", s, n, n))
		}
		devs[i].AMTFQDN = strings.TrimSpace(amtName)
	}
	return devs, nil
}

// loadDNSConfig loads --config when given; a broken config is a usage error
// with its diagnostics printed, file:line:col first.
func loadDNSConfig(a *app) (*config.Config, error) {
	if a.configPath == "" {
		return nil, nil
	}
	return a.loadConfig()
}

// certFileNames reads the leaf certificate of a PEM chain, picked as cert
// import picks it, and returns its CN and SAN DNS names. Key blocks in the
// file are skipped unread.
func certFileNames(path string) ([]string, error) {
	data, err := csr.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := csr.ParsePEMCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	leaf, err := csr.PickLeaf(certs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var names []string
	seen := map[string]bool{}
	for _, n := range append([]string{leaf.Subject.CommonName}, leaf.DNSNames...) {
		k := strings.ToLower(n)
		if n != "" && !seen[k] {
			seen[k] = true
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: the leaf certificate %q has no CN and no SAN DNS name; want the AMT provisioning certificate, whose CN names the RCS; fix: point provisioning_cert_file at that chain, or give --cert-name", path, leaf.Subject.String())
	}
	return names, nil
}
