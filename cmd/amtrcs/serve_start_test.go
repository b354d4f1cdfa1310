package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// dirState is a data directory's files and their bytes; "" when absent.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	st := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			st[p+"/"] = ""
			return nil
		}
		b, err := os.ReadFile(p)
		st[p] = string(b)
		return err
	})
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func names(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestServeFailedStartLeavesDataDir: a serve that fails (a port in use, a
// config whose TLS files are missing) leaves the data directory as it was:
// no KEK, store, CA or admin token of a server that never served.
func TestServeFailedStartLeavesDataDir(t *testing.T) {
	t.Parallel()
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	tests := map[string]struct {
		config string
		args   func(dir string) []string
		want   []string
	}{
		"API port in use": {args: func(string) []string {
			return []string{"--listen", held.Addr().String(), "--agent-listen", "127.0.0.1:0"}
		},
			want: []string{held.Addr().String(), "--listen"}},
		"metrics port in use": {args: func(string) []string {
			return []string{"--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0", "--metrics-listen", held.Addr().String()}
		}, want: []string{"server.metrics", "--metrics-listen"}},
		"missing TLS files": {config: "server {\n  api = \"127.0.0.1:0\"\n  agent_gateway = \"127.0.0.1:0\"\n  tls_cert = \"missing.pem\"\n  tls_key = \"missing.key\"\n}\n",
			args: func(string) []string { return nil }, want: []string{"missing.pem", "removed what it had created"}},
		"bad --listen": {args: func(string) []string { return []string{"--listen", "8443"} }, want: []string{"--listen \"8443\"", "HOST:PORT"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, existing := range []bool{false, true} {
				dir := filepath.Join(t.TempDir(), "data")
				if existing {
					// A data directory a previous serve left: its files
					// stay as they are, bytes and all.
					if err := os.MkdirAll(dir, 0o700); err != nil {
						t.Fatal(err)
					}
					newStore(t, dir)
				}
				before := dirState(t, dir)
				args := append([]string{"serve", "--data-dir", dir}, tc.args(dir)...)
				if tc.config != "" {
					cfg := filepath.Join(t.TempDir(), "srv.hcl")
					if err := os.WriteFile(cfg, []byte(tc.config), 0o600); err != nil {
						t.Fatal(err)
					}
					args = append(args, "--config", cfg)
				}
				code, _, errOut := runCLI(t, args...)
				if code != exitUsage {
					t.Fatalf("existing %v: exit %d, stderr %q; want 2", existing, code, errOut)
				}
				for _, w := range tc.want {
					if strings.Contains(w, "removed") && !existing && !strings.Contains(errOut, w) || !strings.Contains(w, "removed") && !strings.Contains(errOut, w) {
						t.Errorf("existing %v: stderr %q does not say %q", existing, errOut, w)
					}
				}
				after := dirState(t, dir)
				if strings.Join(names(before), " ") != strings.Join(names(after), " ") {
					t.Fatalf("existing %v: data directory was %q, is %q after the failed start", existing, names(before), names(after))
				}
				for p, b := range before {
					if !strings.HasSuffix(p, ".db") && after[p] != b {
						t.Errorf("existing %v: %s changed", existing, p)
					}
				}
			}
		})
	}
}

// TestServeListenFlags: the listener flags override the config's server
// block, and the server answers where they say.
func TestServeListenFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "srv.hcl")
	// The config names addresses that must not be used.
	if err := os.WriteFile(cfg, []byte("server {\n  api = \"127.0.0.1:1\"\n  agent_gateway = \"127.0.0.1:2\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	api, gw, metrics := freePort(t), freePort(t), freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		a := &app{stdout: io.Discard, stderr: io.Discard}
		root := newRootCmd(a)
		root.SetArgs([]string{"serve", "--config", cfg, "--data-dir", filepath.Join(dir, "data"), "--listen", api, "--agent-listen", gw, "--metrics-listen", metrics})
		root.SetContext(ctx)
		if err := root.Execute(); err != nil {
			done <- 1
			return
		}
		done <- 0
	}()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get("https://" + api + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve ended with %d before answering on --listen %s", code, api)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer on --listen %s: %v", api, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, addr := range []string{gw, metrics} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Errorf("nothing listens on %s: %v", addr, err)
			continue
		}
		c.Close()
	}
	cancel()
	<-done
}
