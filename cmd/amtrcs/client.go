package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtrcs/amtrcs/rcs"
)

// apiFlags say how a command reaches the RCS API.
type apiFlags struct {
	server    string
	token     string
	tokenFile string
	ca        string
	insecure  bool
}

func (f *apiFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "https://127.0.0.1:8443", "RCS API base URL")
	fl.StringVar(&f.token, "token", "", "API bearer token (default: read from --token-file)")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding the API token (default <data-dir>/admin-token)")
	fl.StringVar(&f.ca, "ca", "", "PEM file of the server's certificate or CA (default: the self-signed one in <data-dir>, plus the system roots)")
	fl.BoolVar(&f.insecure, "insecure-skip-verify", false, "do not verify the server certificate (tests only)")
}

// tlsConfigFor trusts the system roots plus ca, or else the server's
// self-signed certificate from the data directory when it is there.
func tlsConfigFor(dataDir, ca string, insecure bool) (*tls.Config, error) {
	if insecure {
		return &tls.Config{InsecureSkipVerify: true}, nil //nolint:gosec // asked for by flag
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	path := ca
	if path == "" {
		path = filepath.Join(dataDir, rcs.ServerCertFile)
		if _, err := os.Stat(path); err != nil {
			return &tls.Config{RootCAs: pool}, nil
		}
	}
	certs, err := readPEMCerts(path)
	if err != nil {
		return nil, usageError(fmt.Errorf("--ca: %w", err))
	}
	for _, c := range certs {
		pool.AddCert(c)
	}
	return &tls.Config{RootCAs: pool}, nil
}

// apiClient calls the RCS API as one principal.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func (a *app) apiClient(f *apiFlags) (*apiClient, error) {
	// The server's data directory holds its admin token and certificate:
	// the same one a command that opens the store would use.
	dataDir, err := a.workDir()
	if err != nil {
		return nil, err
	}
	tok := f.token
	if tok == "" {
		path := f.tokenFile
		if path == "" {
			path = filepath.Join(dataDir, rcs.AdminTokenFile)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usageError(fmt.Errorf("API token: %v: give --token, or --token-file, or --data-dir of the server (its admin-token file)", err))
		}
		tok = strings.TrimSpace(string(b))
	}
	cfg, err := tlsConfigFor(dataDir, f.ca, f.insecure)
	if err != nil {
		return nil, err
	}
	return &apiClient{base: strings.TrimRight(f.server, "/"), token: tok,
		http: &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 60 * time.Second}}, nil
}

// apiRefusal is a refusal of the API: the command exits 1 with its reason.
type apiRefusal struct {
	Status int
	Body   rcs.APIError
}

func (e *apiRefusal) Error() string {
	return fmt.Sprintf("server answered %d: %s", e.Status, e.Body.Error())
}

// do calls the API; out receives the JSON answer. A refusal is an
// *apiRefusal; an unreachable server is a usage error.
// list reads every page of a list endpoint, following the Link header the
// server sets while more pages follow.
func list[T any](c *apiClient, path string) ([]T, error) {
	var all []T
	for path != "" {
		var page []T
		next, err := c.doPage("GET", path, nil, &page)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		path = next
	}
	return all, nil
}

func (c *apiClient) do(method, path string, body, out any) error {
	_, err := c.doPage(method, path, body, out)
	return err
}

// nextPage is the path of the Link header's rel="next", or "".
func nextPage(h http.Header) string {
	l := h.Get("Link")
	if !strings.HasSuffix(l, `>; rel="next"`) || !strings.HasPrefix(l, "</") {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(l, "<"), `>; rel="next"`)
}

func (c *apiClient) doPage(method, path string, body, out any) (next string, err error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return "", usageError(fmt.Errorf("--server %q: %v", c.base, err))
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", usageError(fmt.Errorf("reach the RCS at %s: %v: start amtrcs serve, or fix --server/--ca", c.base, err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode >= 300 {
		r := &apiRefusal{Status: resp.StatusCode}
		if json.Unmarshal(data, &r.Body) != nil || r.Body.Message == "" {
			r.Body.Message = strings.TrimSpace(string(data))
		}
		return "", verdictError(r)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return "", fmt.Errorf("server answer to %s %s: %v", method, path, err)
		}
	}
	return nextPage(resp.Header), nil
}
