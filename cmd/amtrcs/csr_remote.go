package main

import (
	"net/url"

	"github.com/amtrcs/amtrcs/csr"
)

// csrBook is where the CSRs live: the store of the data directory (the
// workshop, with the server stopped), or a running server's API (--server),
// which holds the store and seals the key there.
type csrBook interface {
	NewCSR(csr.CSRRequest) (*csr.CSRRecord, error)
	CSRs() ([]csr.CSRRecord, error)
	CSR(id string) (*csr.CSRRecord, error)
	DeleteCSR(id string) (*csr.CSRRecord, error)
}

var (
	_ csrBook = (*csr.Workshop)(nil)
	_ csrBook = remoteCSRs{}
)

// remoteCSRs is csrBook over the API of a running server.
type remoteCSRs struct{ c *apiClient }

func (r remoteCSRs) NewCSR(req csr.CSRRequest) (*csr.CSRRecord, error) {
	var rec csr.CSRRecord
	if err := r.c.do("POST", "/api/v1/csrs", req, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

func (r remoteCSRs) CSRs() ([]csr.CSRRecord, error) {
	var recs []csr.CSRRecord
	return recs, r.c.do("GET", "/api/v1/csrs", nil, &recs)
}

func (r remoteCSRs) CSR(id string) (*csr.CSRRecord, error) {
	var rec csr.CSRRecord
	if err := r.c.do("GET", "/api/v1/csrs/"+url.PathEscape(id), nil, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

func (r remoteCSRs) DeleteCSR(id string) (*csr.CSRRecord, error) {
	var rec csr.CSRRecord
	if err := r.c.do("DELETE", "/api/v1/csrs/"+url.PathEscape(id), nil, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// csrBook opens the CSRs: through the server with --server, else the
// workshop of the data directory (mustExist for the commands that only
// read or delete, which create no store).
func (a *app) csrBook(rf *remoteFlags, mustExist bool) (csrBook, func(), error) {
	if rf.remote() {
		c, err := a.apiClient(&rf.apiFlags)
		if err != nil {
			return nil, nil, err
		}
		return remoteCSRs{c}, func() {}, nil
	}
	return a.workshopMode(mustExist)
}
