package main

import (
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/rcs"
)

// remoteFlags make a workshop command use the API of a running server,
// which holds the store, instead of opening the store itself.
type remoteFlags struct{ apiFlags }

func (f *remoteFlags) register(cmd *cobra.Command) {
	f.apiFlags.register(cmd)
	fl := cmd.Flags()
	fl.Lookup("server").DefValue = ""
	fl.Lookup("server").Usage = "RCS API base URL of a running server to work through (default: open the store in --data-dir, which needs the server stopped)"
	f.server = ""
}

func (f *remoteFlags) remote() bool { return f.server != "" }

func (a *app) remoteCertImport(rf *remoteFlags, cf *checkFlags, force bool, paths []string) error {
	// The flags are judged here too, so that a mistake is a usage error
	// before any file is sent.
	if _, err := cf.options(); err != nil {
		return err
	}
	pw, err := readPasswordFile(cf.passwordFile)
	if err != nil {
		return err
	}
	body := rcs.CertImportRequest{Password: pw, Force: force, DeviceSuffixes: cf.suffixes, AMTVersions: cf.versions, TrustHashes: cf.trustHashes}
	for _, p := range paths {
		data, err := csr.ReadFile(p)
		if err != nil {
			return usageError(fmt.Errorf("%s: %w", p, err))
		}
		body.Files = append(body.Files, csr.DeliveryFile{Name: p, Data: data})
	}
	c, err := a.apiClient(&rf.apiFlags)
	if err != nil {
		return err
	}
	var res struct {
		Cert     *csr.ProvisioningCert `json:"certificate"`
		Report   csr.Report            `json:"report"`
		CSRID    string                `json:"csr_id"`
		RootFrom string                `json:"root_from"`
	}
	if err := c.do("POST", "/api/v1/certs", body, &res); err != nil {
		return err
	}
	return a.writeImported(res.Cert, res.Report, res.RootFrom, res.CSRID)
}

func (a *app) remoteCertList(rf *remoteFlags) error {
	c, err := a.apiClient(&rf.apiFlags)
	if err != nil {
		return err
	}
	var es []csr.Entry
	if err := c.do("GET", "/api/v1/certs", nil, &es); err != nil {
		return err
	}
	return a.writeCertList(es)
}

// remoteCertCheck judges a stored certificate, named by its id, on the
// server: with --server, check takes an id, not files.
func (a *app) remoteCertCheck(rf *remoteFlags, cf *checkFlags, args []string) error {
	if len(args) != 1 {
		return usageError(fmt.Errorf("cert check --server: %d arguments given; want the id of one stored certificate (see `amtrcs cert list --server ...`); fix: check files without --server", len(args)))
	}
	if _, err := cf.options(); err != nil {
		return err
	}
	q := url.Values{"device-suffix": cf.suffixes, "amt-version": cf.versions, "trust-hash": cf.trustHashes}
	c, err := a.apiClient(&rf.apiFlags)
	if err != nil {
		return err
	}
	var rep csr.Report
	if err := c.do("GET", "/api/v1/certs/"+url.PathEscape(args[0])+"/check?"+q.Encode(), nil, &rep); err != nil {
		return err
	}
	return a.writeCheck(checkOutput{Sources: []string{"provisioning certificate " + args[0] + " on " + c.base}, Report: rep})
}

func (a *app) remoteCertRenew(rf *remoteFlags, id, out string) error {
	c, err := a.apiClient(&rf.apiFlags)
	if err != nil {
		return err
	}
	var rec csr.CSRRecord
	if err := c.do("POST", "/api/v1/certs/"+url.PathEscape(id)+"/renew", nil, &rec); err != nil {
		return err
	}
	return a.writeCSR(&rec, out)
}
