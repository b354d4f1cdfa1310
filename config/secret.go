package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
)

// SecretSource names where a secret lives, never the secret itself, so a
// Config can be printed, logged and marshalled without leaking anything.
// At most one of Env and File is set.
type SecretSource struct {
	Env  string `json:"env,omitempty"`  // name of an environment variable
	File string `json:"file,omitempty"` // path of a file holding the secret
}

// IsZero reports whether no source is configured.
func (s SecretSource) IsZero() bool { return s.Env == "" && s.File == "" }

// String names the source (for logs and reports).
func (s SecretSource) String() string {
	switch {
	case s.Env != "":
		return "env " + s.Env
	case s.File != "":
		return "file " + s.File
	}
	return "none"
}

// ErrNoSecret is returned by Read when the source is empty or unset.
var ErrNoSecret = errors.New("secret not available")

// Read fetches the secret: the variable's value (looked up with getenv, so
// callers and tests control the environment), or the file's content without
// trailing newlines. Errors name the source, never the value.
func (s SecretSource) Read(getenv func(string) (string, bool)) ([]byte, error) {
	switch {
	case s.Env != "":
		v, ok := getenv(s.Env)
		if !ok || v == "" {
			return nil, fmt.Errorf("read secret from environment variable %s: %w: it is unset or empty; export it before starting amtrcs", s.Env, ErrNoSecret)
		}
		return []byte(v), nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return nil, fmt.Errorf("read secret file: %w", err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, fmt.Errorf("read secret file %s: %w: the file is empty; write the secret into it", s.File, ErrNoSecret)
		}
		return b, nil
	}
	return nil, fmt.Errorf("read secret: %w: no source configured", ErrNoSecret)
}
