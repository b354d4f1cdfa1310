package rcs

import (
	"log/slog"
	"sync"
	"time"
)

// warnLimiter writes at most one WARN line per period: a flood of bad
// input must not become a flood of log lines. The lines it holds back go
// to debug, and the next WARN says how many there were.
type warnLimiter struct {
	every time.Duration
	log   *slog.Logger

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (w *warnLimiter) Warn(msg string, args ...any) {
	now := time.Now()
	w.mu.Lock()
	if !w.last.IsZero() && now.Sub(w.last) < w.every {
		w.suppressed++
		w.mu.Unlock()
		w.log.Debug(msg, args...)
		return
	}
	n := w.suppressed
	w.last, w.suppressed = now, 0
	w.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed_since_last_warning", n)
	}
	w.log.Warn(msg, args...)
}
