package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows how far a long run (bench, demo) has come. On a terminal
// it is a bar redrawn in place; anywhere else (a log file, a pipe, CI) the
// bar's carriage-return frames would pile up as garbage, so it prints one
// plain line at each tenth and at the end.
type progress interface {
	// Set says that done of the total are finished.
	Set(done int)
}

// progressThrottle bounds how often the bar is redrawn.
const progressThrottle = 200 * time.Millisecond

// newProgress makes the progress display of total steps on w.
func newProgress(w io.Writer, total int, desc string) progress {
	if isTerminal(w) {
		return barProgress{progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionSetPredictTime(false),
			progressbar.OptionThrottle(progressThrottle), progressbar.OptionClearOnFinish())}
	}
	return &lineProgress{w: w, total: total, desc: desc}
}

// isTerminal reports whether w is a terminal. A test's buffer and a
// redirected stderr are not.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

type barProgress struct{ bar *progressbar.ProgressBar }

func (b barProgress) Set(done int) { _ = b.bar.Set(done) }

// lineProgress prints "desc: done/total (pct%)" when a tenth of the total
// is crossed, and once at the end.
type lineProgress struct {
	mu    sync.Mutex
	w     io.Writer
	total int
	desc  string
	shown int // tenths printed so far
}

func (l *lineProgress) Set(done int) {
	if l.total <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	tenth := min(done, l.total) * 10 / l.total
	if tenth <= l.shown {
		return
	}
	l.shown = tenth
	fmt.Fprintf(l.w, "%s: %d/%d (%d%%)\n", l.desc, done, l.total, done*100/l.total)
}
