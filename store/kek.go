package store

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// KEKSource says where the key-encryption key comes from. Set at most one
// field. With none set, Open uses the file "kek" beside the database, and
// creates it (mode 0600, 64 hex characters) when the database is new.
//
// With KMS, the KEK is an RSA key pair in an HSM (a go.step.sm/crypto/kms
// URI of type pkcs11) that wraps the store's data key, kept wrapped in the
// store itself; see kek_kms.go.
//
// A KEK file holds 32 raw bytes, or 64 hex characters, or the standard
// base64 encoding (padded or not) of 32 bytes; surrounding whitespace is
// ignored for the text forms. An environment variable holds the hex or base64
// form. The KEK is never logged or shown in an error.
type KEKSource struct {
	File string // path of a KEK file
	Env  string // name of an environment variable
	Key  []byte // the key itself, for callers that hold it already (tests, tools)
	KMS  string // a KMS key URI, such as "pkcs11:token=amtrcs;object=amtrcs-kek?pin-source=/etc/amtrcs/pin"
}

// DefaultKEKFile is the name of the KEK file Open creates beside the database.
const DefaultKEKFile = "kek"

// KEKInfo tells the caller where the KEK came from, so the CLI can tell the
// admin that a new KEK file was created and must be backed up.
type KEKInfo struct {
	Source  string // for people: `file "/var/lib/amtrcs/kek"`, `environment variable AMTRCS_KEK`, `KMS key pkcs11:token=...`
	File    string // the KEK file, when the KEK came from one
	Created bool   // Open generated the KEK file because the store was new
}

// ErrKEK is wrapped by every error about getting the KEK: missing, unreadable,
// badly encoded. ErrKEKMismatch is wrapped when a KEK was read but does not
// open the store.
var (
	ErrKEK         = errors.New("key-encryption key unavailable")
	ErrKEKMismatch = errors.New("wrong key-encryption key")
)

const kekWanted = "want 32 raw bytes (file only), 64 hex characters, or base64 of 32 bytes"

// newKEKHint tells how to make a key, for errors about a missing or bad one.
func newKEKHint(file string) string {
	if file == "" {
		return "make a new key with: openssl rand -hex 32"
	}
	return fmt.Sprintf("write a new key with: openssl rand -hex 32 > %s && chmod 600 %s", file, file)
}

// parseKEK decodes a key. The reason returned on failure describes the shape
// of the input, never its content.
func parseKEK(data []byte, allowRaw bool) ([]byte, error) {
	if allowRaw && len(data) == 32 {
		return bytes.Clone(data), nil
	}
	text := strings.TrimSpace(string(data))
	if text == "" {
		return nil, errors.New("is empty")
	}
	if len(text) == 64 {
		if k, err := hex.DecodeString(text); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if k, err := enc.DecodeString(text); err == nil {
			if len(k) == 32 {
				return k, nil
			}
			return nil, fmt.Errorf("holds %d bytes, which decode as base64 to %d bytes", len(data), len(k))
		}
	}
	if len(text) == 64 {
		return nil, errors.New("holds 64 characters that are not all hex digits")
	}
	return nil, fmt.Errorf("holds %d bytes that are neither hex nor base64 of a 32-byte key", len(data))
}

// resolveKEK finds the KEK. It may create the default KEK file, but only when
// the database does not exist yet: a fresh KEK for an existing store would
// only fail the check later, and a KEK file must never be overwritten.
func resolveKEK(src KEKSource, dbPath string, dbNew bool, lookupEnv func(string) (string, bool), log *slog.Logger) ([]byte, KEKInfo, error) {
	if err := oneKEKSource(src); err != nil {
		return nil, KEKInfo{}, err
	}
	switch {
	case src.KMS != "":
		// Open unwraps the store's data key with the KMS (kmsKEK).
		return nil, KEKInfo{}, nil
	case src.Key != nil:
		if len(src.Key) != 32 {
			return nil, KEKInfo{}, fmt.Errorf("%w: KEK given by the caller is %d bytes, want 32: pass the unwrapped AES-256 key", ErrKEK, len(src.Key))
		}
		return bytes.Clone(src.Key), KEKInfo{Source: "the key given by the caller"}, nil
	case src.Env != "":
		return kekFromEnv(src.Env, lookupEnv)
	case src.File != "":
		return kekFromFile(src.File)
	}

	file := filepath.Join(filepath.Dir(dbPath), DefaultKEKFile)
	if _, err := os.Lstat(file); err == nil {
		return kekFromFile(file)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, KEKInfo{}, fmt.Errorf("%w: KEK file %q: %v: make it readable by the amtrcs user, or give the KEK another way", ErrKEK, file, err)
	}
	if !dbNew {
		return nil, KEKInfo{}, fmt.Errorf("%w: store %q exists but its KEK file %q does not: restore the KEK file it was created with, or give that KEK by file or environment variable, or move the store aside to start a new, empty one", ErrKEK, dbPath, file)
	}
	key, err := createKEKFile(file)
	if errors.Is(err, fs.ErrExist) {
		// Another amtrcs starting beside us won the race: use its key.
		return kekFromFile(file)
	}
	if err != nil {
		return nil, KEKInfo{}, fmt.Errorf("%w: create KEK file %q: %v: make the directory writable, or give a KEK by file or environment variable", ErrKEK, file, err)
	}
	log.Info("created a new key-encryption key file; back it up: without it the store's secrets cannot be opened", "file", file, "mode", "0600")
	return key, KEKInfo{Source: fmt.Sprintf("file %q", file), File: file, Created: true}, nil
}

// oneKEKSource refuses a KEKSource that sets more than one source.
func oneKEKSource(src KEKSource) error {
	set := 0
	for _, ok := range []bool{src.File != "", src.Env != "", src.Key != nil, src.KMS != ""} {
		if ok {
			set++
		}
	}
	if set > 1 {
		return fmt.Errorf("%w: KEK source sets %d of file, environment variable, key and KMS, want one: keep only the one the store was created with", ErrKEK, set)
	}
	return nil
}

func kekFromEnv(name string, lookupEnv func(string) (string, bool)) ([]byte, KEKInfo, error) {
	info := KEKInfo{Source: "environment variable " + name}
	v, ok := lookupEnv(name)
	if !ok || strings.TrimSpace(v) == "" {
		return nil, info, fmt.Errorf("%w: KEK environment variable %s is not set or empty: set it to the KEK the store was created with (64 hex characters or base64 of 32 bytes); for a new store, %s", ErrKEK, name, newKEKHint(""))
	}
	key, err := parseKEK([]byte(v), false)
	if err != nil {
		return nil, info, fmt.Errorf("%w: KEK environment variable %s %v, want 64 hex characters or base64 of 32 bytes: set it to the KEK the store was created with; for a new store, %s", ErrKEK, name, err, newKEKHint(""))
	}
	return key, info, nil
}

func kekFromFile(file string) ([]byte, KEKInfo, error) {
	info := KEKInfo{Source: fmt.Sprintf("file %q", file), File: file}
	f, err := os.Open(file)
	if err != nil {
		return nil, info, fmt.Errorf("%w: read KEK file %q: %v: give the path of the KEK file the store was created with, readable by the amtrcs user", ErrKEK, file, unwrapPathError(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, info, fmt.Errorf("%w: read KEK file %q: %v", ErrKEK, file, err)
	}
	if !st.Mode().IsRegular() {
		return nil, info, fmt.Errorf("%w: KEK file %q is a %s, want a regular file: give the path of the KEK file", ErrKEK, file, describeMode(st.Mode()))
	}
	// As ssh refuses a private key others can read: a key that others
	// could copy or replace is refused before it is read, not warned about.
	if perm := st.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, info, fmt.Errorf("%w: KEK file %q has mode %04o, readable or writable by group or others, want 0600 (owner only): run chmod 600 %s, and if others could read it, consider the key exposed", ErrKEK, file, perm, file)
	}
	// A key in any accepted form is under 100 bytes; refuse to slurp a
	// wrong path that names a large file.
	data, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return nil, info, fmt.Errorf("%w: read KEK file %q: %v", ErrKEK, file, err)
	}
	if len(data) > 4096 {
		return nil, info, fmt.Errorf("%w: KEK file %q is over 4096 bytes, %s: check the path, or %s", ErrKEK, file, kekWanted, newKEKHint(file))
	}
	key, err := parseKEK(data, true)
	clear(data)
	if err != nil {
		return nil, info, fmt.Errorf("%w: KEK file %q %v, %s: check the path, or for a new store %s", ErrKEK, file, err, kekWanted, newKEKHint(file))
	}
	return key, info, nil
}

func createKEKFile(file string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	enc := []byte(hex.EncodeToString(key) + "\n")
	_, err = f.Write(enc)
	clear(enc)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		return nil, err
	}
	return key, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
