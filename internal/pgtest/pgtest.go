// Package pgtest starts a real PostgreSQL server for tests: a cluster of
// its own (initdb and pg_ctl from Debian's postgresql package) in a
// temporary directory, listening on a free loopback port, with a new
// database for each test. One cluster serves a test binary; Stop, called
// from TestMain, stops it and removes its directory.
//
// PostgreSQL refuses to run as root. When the tests run as root (CI
// containers do), the cluster runs as the user "postgres", which Debian's
// package creates; when that user is missing, the harness creates it as a
// system user without a home or login shell (useradd), and the cluster's
// directory is made over to it. As any other user, the cluster runs as
// that user.
//
// A test that needs PostgreSQL fails when it is missing under CI=true (CI
// installs it, so its absence is a broken CI), and skips elsewhere saying
// how to install it.
//
// What this package must never do: listen on anything but 127.0.0.1, or
// leave a cluster running after Stop.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Install is how to get what the harness needs on Debian.
const Install = "apt-get install -y postgresql"

// superuser is the cluster's superuser role (trust authentication on
// loopback only).
const superuser = "amtrcs_test"

type cluster struct {
	bin     string // directory of initdb, pg_ctl
	dir     string // cluster directory, removed by Stop
	data    string
	port    int
	runAs   *user.User // nil: run as ourselves
	missing string     // why the cluster cannot start, when it cannot
	err     error      // why it did not start
}

var (
	once    sync.Once
	running *cluster
	dbSeq   atomic.Int64
)

// URL creates a new, empty database in the test binary's cluster (started
// on first use) and returns its connection URL; the database is dropped
// when t ends. Without PostgreSQL it fails the test under CI=true and
// skips it otherwise.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() { running = start() })
	c := running
	if c.missing != "" {
		missing(t, c.missing, os.Getenv("CI") == "true")
	}
	if c.err != nil {
		t.Fatalf("start a PostgreSQL cluster for the tests: %v", c.err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, c.url("postgres"))
	if err != nil {
		t.Fatalf("connect to the test cluster: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		admin, err := pgx.Connect(ctx, c.url("postgres"))
		if err != nil {
			t.Errorf("connect to the test cluster to drop %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return c.url(name)
}

// missing fails t under CI, where .ci/run installs PostgreSQL (so its
// absence is a broken CI), and skips it elsewhere, saying how to install it.
func missing(t testing.TB, why string, ci bool) {
	t.Helper()
	if ci {
		t.Fatalf("PostgreSQL is needed and missing under CI=true (%s): .ci/run installs it with: %s", why, Install)
		return
	}
	t.Skipf("PostgreSQL not installed (%s): install Debian's postgresql: %s", why, Install)
}

func (c *cluster) url(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, c.port, db)
}

// Stop stops the cluster, if one was started, and removes its directory.
// Call it from TestMain after m.Run.
func Stop() {
	if running != nil {
		running.stop()
	}
}

// stop stops the cluster, if it started, and removes its directory.
func (c *cluster) stop() {
	if c.dir == "" {
		return
	}
	if c.port != 0 {
		c.run(2*time.Minute, "pg_ctl", "-D", c.data, "-m", "fast", "-w", "stop")
	}
	os.RemoveAll(c.dir)
}

// debianBins is where Debian installs each PostgreSQL version's programs.
var debianBins = "/usr/lib/postgresql/*/bin"

// findBin finds the directory of initdb and pg_ctl: Debian keeps them in
// /usr/lib/postgresql/<version>/bin (the newest wins), off PATH.
func findBin() (string, error) {
	dirs, _ := filepath.Glob(debianBins)
	slices.SortFunc(dirs, func(a, b string) int {
		return version(b) - version(a)
	})
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", errors.New("no initdb in /usr/lib/postgresql/*/bin or on PATH")
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	d := filepath.Dir(p)
	if !isExec(filepath.Join(d, "pg_ctl")) {
		return "", fmt.Errorf("initdb at %s but no pg_ctl beside it", p)
	}
	return d, nil
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

func start() *cluster {
	c := &cluster{}
	bin, err := findBin()
	if err != nil {
		c.missing = err.Error()
		return c
	}
	c.bin = bin
	if os.Geteuid() == 0 {
		if c.runAs, err = postgresUser(); err != nil {
			c.err = err
			return c
		}
	}
	if c.dir, err = os.MkdirTemp("", "amtrcs-pgtest-"); err != nil {
		c.err = err
		return c
	}
	c.data = filepath.Join(c.dir, "data")
	if c.runAs != nil {
		uid, _ := strconv.Atoi(c.runAs.Uid)
		gid, _ := strconv.Atoi(c.runAs.Gid)
		if err := os.Chown(c.dir, uid, gid); err != nil {
			c.err = fmt.Errorf("give the cluster directory to user %s: %w", c.runAs.Username, err)
			return c
		}
	}
	// --no-sync: the cluster is thrown away; the store still asks for
	// synchronous commits, and the server still flushes its WAL.
	if out, err := c.run(5*time.Minute, "initdb", "-D", c.data, "-U", superuser, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		c.err = fmt.Errorf("initdb: %v: %s", err, out)
		return c
	}
	// A free port can be taken between our check and the server's bind:
	// try a few.
	for range 5 {
		port, err := freePort()
		if err != nil {
			c.err = err
			return c
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c max_connections=200", port, c.dir)
		out, err := c.run(5*time.Minute, "pg_ctl", "-D", c.data, "-l", filepath.Join(c.dir, "log"), "-o", opts, "-w", "-t", "240", "start")
		if err == nil {
			c.port, c.err = port, nil
			return c
		}
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		c.err = fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, log)
		if !strings.Contains(string(log), "in use") {
			return c
		}
	}
	return c
}

// postgresUser is the user the cluster runs as when we are root.
func postgresUser() (*user.User, error) {
	u, err := user.Lookup("postgres")
	if err == nil {
		return u, nil
	}
	out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root, and there is no user postgres to run it as; useradd postgres: %v: %s: create a non-root user postgres, or run the tests as a non-root user", err, out)
	}
	return user.Lookup("postgres")
}

// run runs a tool of the bin directory, as the cluster's user.
func (c *cluster) run(timeout time.Duration, tool string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	path := filepath.Join(c.bin, tool)
	var cmd *exec.Cmd
	if c.runAs != nil {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs.Username, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
