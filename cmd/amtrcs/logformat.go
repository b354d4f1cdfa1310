package main

import (
	"fmt"
	"log/slog"
)

// Log formats of the long-running commands (serve, agent). JSON is for log
// collectors; text stays the default because people read it first.
const (
	logText = "text"
	logJSON = "json"
)

// newLogger is the logger of serve and agent, in the format --log-format
// names, writing to stderr. An unknown format is a usage error that says
// which formats there are.
func (a *app) newLogger(level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch a.logFormat {
	case logText, "":
		return slog.New(slog.NewTextHandler(a.stderr, opts)), nil
	case logJSON:
		return slog.New(slog.NewJSONHandler(a.stderr, opts)), nil
	}
	return nil, usageError(fmt.Errorf("log format: --log-format %q is not a format amtrcs writes; want %q or %q: pass --log-format %s, or %s for one JSON object a line", a.logFormat, logText, logJSON, logText, logJSON))
}
