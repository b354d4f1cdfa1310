package rcs

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/dnssuffix"
	"github.com/amtrcs/amtrcs/store"
)

// dnsCheck runs the DNS preflight (the same check as `amtrcs dns check`)
// for the server's configured domains, the names of their provisioning
// certificates, this server's advertised addresses and the devices it
// knows: GET /api/v1/reports/dns. The report is 200 whatever it finds; its
// "failed" field says whether any finding is an error.
func (s *Server) dnsCheck(w http.ResponseWriter, r *http.Request, _ *principal) {
	in, err := s.preflightInput()
	if err != nil {
		writeError(w, err)
		return
	}
	rep := dnssuffix.Preflight(r.Context(), in)
	writeJSON(w, http.StatusOK, struct {
		Failed bool `json:"failed"`
		dnssuffix.Report
	}{rep.Failed(), rep})
}

func (s *Server) preflightInput() (dnssuffix.PreflightInput, error) {
	in := dnssuffix.PreflightInput{
		Resolvers: s.cfg.DNS.Resolvers,
		Timeout:   s.cfg.DNS.Timeout,
		Version:   amt.Version{Major: 16},
	}
	if len(in.Resolvers) == 0 {
		rs, err := dnssuffix.SystemResolvers("/etc/resolv.conf")
		if err != nil {
			return in, apiErr(http.StatusConflict, "dns resolvers", err.Error(), "resolvers in the config's dns block or in /etc/resolv.conf", "set dns { resolvers = [\"IP:53\"] } in the config")
		}
		in.Resolvers = rs
	}
	for _, a := range s.cfg.Server.AdvertiseAddresses {
		if _, err := netip.ParseAddr(a); err == nil {
			in.RCSAddresses = append(in.RCSAddresses, a)
		}
	}
	domains, err := store.List[Domain](s.st, store.Domains)
	if err != nil {
		return in, err
	}
	seen := map[string]bool{}
	for _, d := range domains {
		in.Suffixes = append(in.Suffixes, d.Suffixes...)
		if d.CertID == "" || seen[d.CertID] {
			continue
		}
		seen[d.CertID] = true
		pc, err := s.workshop.Load(d.CertID)
		if err != nil {
			continue // the domain's validation already names a missing certificate
		}
		leaf := pc.Leaf()
		if leaf.Subject.CommonName != "" {
			in.CertNames = append(in.CertNames, leaf.Subject.CommonName)
		}
		for _, n := range leaf.DNSNames {
			if !strings.EqualFold(n, leaf.Subject.CommonName) {
				in.CertNames = append(in.CertNames, n)
			}
		}
	}
	devices, err := store.List[DeviceRecord](s.st, store.Devices)
	if err != nil {
		return in, err
	}
	for _, d := range devices {
		if d.FQDN == "" {
			continue
		}
		dn := dnssuffix.DeviceName{ID: d.ID, Name: d.FQDN, OSFQDN: d.FQDN}
		if ap, err := netip.ParseAddrPort(d.Address); err == nil {
			dn.IP = ap.Addr().String()
		} else if a, err := netip.ParseAddr(d.Address); err == nil {
			dn.IP = a.String()
		}
		in.Devices = append(in.Devices, dn)
	}
	return in, nil
}
