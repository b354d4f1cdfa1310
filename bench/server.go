package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/rcs"
	"github.com/amtrcs/amtrcs/rcs/rcsstack"
	"github.com/amtrcs/amtrcs/store"
)

// The idle-agent run restarts the server into a process of its own, so
// that its resident set is the server's alone: `amtrcs bench-server`
// (hidden) reopens the data directory of the server the run set up, on its
// addresses, and answers the parent's requests on stdin and stdout:
//
//	parent: serverSpec             child: ready (pid)
//	parent: serverCmd stats        child: stats
//	parent: serverCmd heap (path)  child: stats, once the profile is written
//
// Closing its stdin stops it; the parent kills it to play a crash.

// ServerEnv set to "1" marks a process as the server child, as FleetEnv
// marks the fleet's.
const ServerEnv = "AMTRCS_BENCH_SERVER"

type serverSpec struct {
	Dir     string `json:"dir"`
	API     string `json:"api"`
	Gateway string `json:"gateway"`
	// Maintenance keeps the maintenance schedules on (Config.IdleMaintenance).
	Maintenance bool `json:"maintenance,omitempty"`
}

// noMaintenance is a stack's Prepare that turns the server's maintenance
// schedules off; nil when they stay on.
func noMaintenance(on bool) func(context.Context, *store.Store, *config.Config, *rcs.Options) (io.Closer, error) {
	if on {
		return nil
	}
	return func(_ context.Context, _ *store.Store, cfg *config.Config, _ *rcs.Options) (io.Closer, error) {
		cfg.Maintenance = config.Maintenance{}
		return nil, nil
	}
}

type serverCmd struct {
	Cmd  string `json:"cmd"`            // "stats" or "heap"
	Path string `json:"path,omitempty"` // heap: where the profile goes
}

// serverStats is what the server process says of itself.
type serverStats struct {
	Kind       string `json:"kind"` // "ready", "stats" or "error"
	Error      string `json:"error,omitempty"`
	PID        int    `json:"pid,omitempty"`
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	RSS        int64  `json:"rss"`
	RSSAnon    int64  `json:"rss_anon"`
}

func ownStats(kind string) serverStats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := serverStats{Kind: kind, PID: os.Getpid(), Goroutines: runtime.NumGoroutine(), HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse}
	st.RSS, st.RSSAnon, _ = procMemory(os.Getpid())
	return st
}

// ServeServer is the server child: it reopens the server the spec names
// and answers the parent until in closes.
func ServeServer(ctx context.Context, in io.Reader, out io.Writer) (err error) {
	enc, dec := json.NewEncoder(out), json.NewDecoder(in)
	defer func() {
		if err != nil {
			_ = enc.Encode(serverStats{Kind: msgError, Error: err.Error()})
		}
	}()
	var spec serverSpec
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("bench server: read the spec: %w", err)
	}
	if _, err := raiseNoFile(); err != nil {
		return fmt.Errorf("bench server: descriptor limit: %w", err)
	}
	stack, err := rcsstack.Reopen(ctx, rcsstack.Options{Dir: spec.Dir, API: spec.API, Gateway: spec.Gateway, Prepare: noMaintenance(spec.Maintenance)})
	if err != nil {
		return fmt.Errorf("bench server: %w", err)
	}
	defer stack.Close()
	if err := enc.Encode(ownStats("ready")); err != nil {
		return err
	}
	for {
		var c serverCmd
		if err := dec.Decode(&c); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("bench server: read a request: %w", err)
		}
		switch c.Cmd {
		case "stats":
		case "heap":
			if err := writeHeapProfile(c.Path); err != nil {
				return err
			}
		default:
			return fmt.Errorf("bench server: request %q: want stats or heap", c.Cmd)
		}
		if err := enc.Encode(ownStats("stats")); err != nil {
			return err
		}
	}
}

// writeHeapProfile writes the live heap, after a collection, to path, and
// the goroutines, counted by stack, to path.goroutines as text.
func writeHeapProfile(path string) error {
	runtime.GC()
	for _, p := range []struct {
		name, path string
		debug      int
	}{{"heap", path, 0}, {"goroutine", path + ".goroutines", 1}} {
		f, err := os.Create(p.path)
		if err != nil {
			return fmt.Errorf("bench server: %s profile: %w", p.name, err)
		}
		if err := errors.Join(pprof.Lookup(p.name).WriteTo(f, p.debug), f.Close()); err != nil {
			return fmt.Errorf("bench server: %s profile: %w", p.name, err)
		}
	}
	return nil
}

// serverChild is a running server process.
type serverChild struct {
	piped
	ready serverStats
}

func defaultServerCommand(ctx context.Context) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "bench-server")
	cmd.Env = append(os.Environ(), ServerEnv+"=1")
	return cmd, nil
}

// startServer starts the server child over spec and waits until it
// listens.
func startServer(ctx context.Context, cfg Config, spec serverSpec) (*serverChild, error) {
	mk := cfg.ServerCommand
	if mk == nil {
		mk = defaultServerCommand
	}
	cmd, err := mk(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench: server command: %w", err)
	}
	if cfg.ServerMemoryLimit != "" {
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+cfg.ServerMemoryLimit)
	}
	p, err := startPiped(cmd, "server")
	if err != nil {
		return nil, err
	}
	c := &serverChild{piped: p}
	if err := c.enc.Encode(spec); err != nil {
		c.kill()
		return nil, fmt.Errorf("bench: send the server spec: %w", err)
	}
	if c.ready, err = c.read(); err != nil {
		c.kill()
		return nil, err
	}
	return c, nil
}

func (c *serverChild) read() (serverStats, error) {
	var st serverStats
	if err := c.dec.Decode(&st); err != nil {
		return st, fmt.Errorf("bench: the server process stopped talking (%v)%s", err, c.stderr.suffix())
	}
	if st.Kind == msgError {
		return st, fmt.Errorf("bench: server process: %s", st.Error)
	}
	return st, nil
}

// ask sends a request and returns the server's stats after it.
func (c *serverChild) ask(cmd serverCmd) (serverStats, error) {
	if err := c.enc.Encode(cmd); err != nil {
		return serverStats{}, fmt.Errorf("bench: server process: %w", err)
	}
	return c.read()
}

// kill ends the server at once, as a crash would.
func (c *serverChild) kill() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}
