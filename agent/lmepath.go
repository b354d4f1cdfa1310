package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/amtrcs/amtrcs/agent/lme"
)

// lmeDialTimeout bounds the wait for the firmware's port registrations and
// its answer to a channel open when the caller set no deadline: the
// firmware sends both at once (rpc-go waits about 3 s per read).
const lmeDialTimeout = 15 * time.Second

// lmePath reaches the firmware ports with APF over the LME client: one
// session per backend, shared by its channels, opened again after it ends.
type lmePath struct {
	mu   sync.Mutex
	host *lme.Host
}

// dial opens a channel to port; open connects to the LME client and
// returns its largest message, when no session runs.
func (p *lmePath) dial(ctx context.Context, port int, open func(ctx context.Context) (lme.Link, int, error)) (net.Conn, error) {
	p.mu.Lock()
	if p.host == nil || p.host.Err() != nil {
		link, maxMessage, err := open(ctx)
		if err != nil {
			p.mu.Unlock()
			return nil, fmt.Errorf("LME client: %w", err)
		}
		h, err := lme.NewHost(link, maxMessage)
		if err != nil {
			p.mu.Unlock()
			return nil, err
		}
		p.host = h
	}
	h := p.host
	p.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lmeDialTimeout)
		defer cancel()
	}
	return h.Dial(ctx, port)
}

// pathLog says once which way a backend reaches the firmware ports.
type pathLog struct{ once sync.Once }

func (l *pathLog) say(log *slog.Logger, backend, path string) {
	l.once.Do(func() {
		if log == nil {
			log = slog.Default()
		}
		log.Info("firmware ports reached", "backend", backend, "path", path)
	})
}

// Paths a backend reports in its log line.
const (
	pathLMS = "LMS"
	pathLME = "APF over the MEI LME client (no LMS)"
)
