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

// dialLME opens a channel to port with APF over the LME client, on a
// session of its own that ends with the channel: real firmware drops the
// LME session on every channel close (rpc-go's LME engine; its RPS executor
// sees the MEI connection torn down after a close), so no session is
// shared. open connects to the LME client and returns its largest message.
// Channels at once need the firmware to take more than one connection to
// its LME client: the simulator does; for real firmware it is not known
// (rpc-go never opens two), and a refused open says so in its error.
func dialLME(ctx context.Context, port int, open func(ctx context.Context) (lme.Link, int, error)) (net.Conn, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lmeDialTimeout)
		defer cancel()
	}
	link, maxMessage, err := open(ctx)
	if err != nil {
		return nil, fmt.Errorf("LME client: %w", err)
	}
	return lme.DialSession(ctx, link, maxMessage, port)
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
