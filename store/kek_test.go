package store

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func randomKey(t testing.TB) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseKEK(t *testing.T) {
	t.Parallel()
	key := randomKey(t)
	tests := map[string]struct {
		in       []byte
		allowRaw bool
		want     []byte // nil: an error
		reason   string
	}{
		"raw 32 bytes":          {key, true, key, ""},
		"raw refused in env":    {bytes.Repeat([]byte{0xff}, 32), false, nil, "neither hex nor base64"},
		"hex":                   {[]byte(hex.EncodeToString(key)), false, key, ""},
		"hex upper, newline":    {[]byte(strings.ToUpper(hex.EncodeToString(key)) + "\n"), true, key, ""},
		"base64 padded":         {[]byte(base64.StdEncoding.EncodeToString(key)), false, key, ""},
		"base64 raw, spaces":    {[]byte("  " + base64.RawStdEncoding.EncodeToString(key) + " \r\n"), true, key, ""},
		"empty":                 {nil, true, nil, "is empty"},
		"whitespace":            {[]byte(" \n"), true, nil, "is empty"},
		"31 raw bytes":          {key[:31], true, nil, "31 bytes"},
		"33 raw bytes":          {append(bytes.Clone(key), '\n'), true, nil, ""},
		"hex of 31 bytes":       {[]byte(hex.EncodeToString(key[:31])), true, nil, "62 bytes, which decode as base64 to 46"},
		"64 chars, not hex":     {[]byte(strings.Repeat("xyz!", 16)), true, nil, "not all hex"},
		"base64 of 16 bytes":    {[]byte(base64.StdEncoding.EncodeToString(key[:16])), false, nil, "decode as base64 to 16 bytes"},
		"32 printable, no raw":  {[]byte("abcdefghijklmnopqrstuvwxyz012345"), false, nil, "decode as base64 to 24 bytes"},
		"hex with a stray byte": {[]byte(hex.EncodeToString(key) + "0"), true, nil, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseKEK(tc.in, tc.allowRaw)
			if tc.want != nil {
				if err != nil || !bytes.Equal(got, tc.want) {
					t.Fatalf("parseKEK = %x, %v; want the key", got, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("parseKEK accepted %q as %x", tc.in, got)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("reason %q does not contain %q", err, tc.reason)
			}
			if len(tc.in) >= 8 && strings.Contains(err.Error(), strings.TrimSpace(string(tc.in))) {
				t.Errorf("reason %q repeats the input", err)
			}
		})
	}
}

func FuzzParseKEK(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	f.Add([]byte(hex.EncodeToString(key)), true)
	f.Add([]byte(base64.StdEncoding.EncodeToString(key)+"\n"), false)
	f.Add(key, true)
	f.Add([]byte("===="), false)
	f.Add([]byte(strings.Repeat("g", 64)), true)
	f.Fuzz(func(t *testing.T, in []byte, allowRaw bool) {
		k, err := parseKEK(in, allowRaw)
		if err == nil && len(k) != 32 {
			t.Fatalf("parseKEK accepted %d-byte key", len(k))
		}
		if err != nil && len(in) >= 8 && strings.Contains(err.Error(), string(in)) {
			t.Fatalf("error %q repeats the input", err)
		}
	})
}

func writeKEKFile(t testing.TB, path string, content []byte) {
	t.Helper()
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestKEKFileForms creates a store with a KEK file in one encoding and
// reopens it with the same key in every other encoding.
func TestKEKFileForms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := randomKey(t)
	forms := map[string][]byte{
		"raw":    key,
		"hex":    []byte(hex.EncodeToString(key) + "\n"),
		"base64": []byte(base64.StdEncoding.EncodeToString(key) + "\n"),
	}
	db := filepath.Join(dir, "amtrcs.db")
	first := true
	for name, content := range forms {
		file := filepath.Join(dir, "kek-"+name)
		writeKEKFile(t, file, content)
		s, err := Open(db, Options{KEK: KEKSource{File: file}, Logger: quietLogger(), NoSync: true})
		if err != nil {
			t.Fatalf("Open with %s KEK file: %v", name, err)
		}
		if first {
			if err := s.PutSecret("probe", []byte("probe-value")); err != nil {
				t.Fatal(err)
			}
			first = false
		}
		if pt, err := s.Secret("probe"); err != nil || string(pt) != "probe-value" {
			t.Errorf("%s form: Secret = %q, %v", name, pt, err)
		}
		if info := s.KEKInfo(); info.File != file || info.Created {
			t.Errorf("%s form: KEKInfo = %+v", name, info)
		}
		s.Close()
	}
}

func TestWrongKEKFailsAndChangesNothing(t *testing.T) {
	t.Parallel()
	keyA, keyB := randomKey(t), randomKey(t)
	env := map[string]string{"KEK_A": hex.EncodeToString(keyA), "KEK_B": base64.StdEncoding.EncodeToString(keyB)}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := map[string]struct {
		create, reopen func(dir string) KEKSource
		source         string
	}{
		"file": {
			create: func(dir string) KEKSource {
				f := filepath.Join(dir, "a.kek")
				writeKEKFile(t, f, keyA)
				return KEKSource{File: f}
			},
			reopen: func(dir string) KEKSource {
				f := filepath.Join(dir, "b.kek")
				writeKEKFile(t, f, []byte(hex.EncodeToString(keyB)))
				return KEKSource{File: f}
			},
			source: "b.kek",
		},
		"env": {
			create: func(string) KEKSource { return KEKSource{Env: "KEK_A"} },
			reopen: func(string) KEKSource { return KEKSource{Env: "KEK_B"} },
			source: "environment variable KEK_B",
		},
		"default file replaced": {
			create: func(string) KEKSource { return KEKSource{} },
			reopen: func(dir string) KEKSource {
				writeKEKFile(t, filepath.Join(dir, DefaultKEKFile), []byte(hex.EncodeToString(keyB)))
				return KEKSource{}
			},
			source: "/" + DefaultKEKFile + `"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			db := filepath.Join(dir, "amtrcs.db")
			s, err := Open(db, Options{KEK: tc.create(dir), LookupEnv: lookup, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutSecret("device/x/admin", []byte("Sup3r-secret")); err != nil {
				t.Fatal(err)
			}
			s.Close()
			before, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			src := tc.reopen(dir)
			_, err = Open(db, Options{KEK: src, LookupEnv: lookup, Logger: quietLogger()})
			if !errors.Is(err, ErrKEKMismatch) {
				t.Fatalf("Open with the wrong KEK = %v, want ErrKEKMismatch", err)
			}
			msg := err.Error()
			for _, want := range []string{tc.source, db, "created with another KEK", "move"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			for _, k := range [][]byte{keyA, keyB} {
				if strings.Contains(msg, hex.EncodeToString(k)) || strings.Contains(msg, base64.StdEncoding.EncodeToString(k)) {
					t.Errorf("error %q shows a key", msg)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			after, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("the refused Open changed the database file")
			}
		})
	}
}

func TestGeneratedKEKFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data") // Open creates the directory
	db := filepath.Join(dir, "amtrcs.db")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s, err := Open(db, Options{Logger: logger, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	kekFile := filepath.Join(dir, DefaultKEKFile)
	info := s.KEKInfo()
	if !s.KEKCreated() || !info.Created || info.File != kekFile {
		t.Errorf("KEKInfo after first Open = %+v, want Created with file %s", info, kekFile)
	}
	st, err := os.Stat(kekFile)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("generated KEK file has mode %04o, want 0600", perm)
	}
	if st, err := os.Stat(db); err != nil {
		t.Error(err)
	} else if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("database file has mode %04o, want 0600", perm)
	}
	content, _ := os.ReadFile(kekFile)
	key, err := parseKEK(content, true)
	if err != nil {
		t.Fatalf("generated KEK file does not parse: %v", err)
	}
	if !strings.Contains(logs.String(), kekFile) || !strings.Contains(logs.String(), "level=INFO") {
		t.Errorf("log %q does not say at INFO that %s was created", logs.String(), kekFile)
	}
	if strings.Contains(logs.String(), strings.TrimSpace(string(content))) || bytes.Contains(logs.Bytes(), key) {
		t.Error("the log contains the KEK")
	}
	if err := s.PutSecret("ca/key", []byte("ca private key bytes")); err != nil {
		t.Fatal(err)
	}
	s.Close()

	logs.Reset()
	s, err = Open(db, Options{Logger: logger, NoSync: true})
	if err != nil {
		t.Fatalf("second Open with the generated KEK file: %v", err)
	}
	defer s.Close()
	if s.KEKCreated() {
		t.Error("second Open says it created the KEK again")
	}
	if again, _ := os.ReadFile(kekFile); !bytes.Equal(again, content) {
		t.Error("second Open rewrote the KEK file")
	}
	if pt, err := s.Secret("ca/key"); err != nil || string(pt) != "ca private key bytes" {
		t.Errorf("Secret after reopen = %q, %v", pt, err)
	}
	if logs.Len() != 0 {
		t.Errorf("second Open logged %q, want nothing", logs.String())
	}
	// The explicit file source names the same file and works too.
	s.Close()
	s3, err := Open(db, Options{KEK: KEKSource{File: kekFile}, Logger: logger, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if s3.KEKInfo().Created || s3.KEKInfo().File != kekFile {
		t.Errorf("explicit file source: KEKInfo = %+v", s3.KEKInfo())
	}
}

func TestExistingStoreWithoutKEKFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "amtrcs.db")
	s, err := Open(db, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	kekFile := filepath.Join(dir, DefaultKEKFile)
	if err := os.Remove(kekFile); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(db)
	_, err = Open(db, Options{Logger: quietLogger()})
	if !errors.Is(err, ErrKEK) || !strings.Contains(err.Error(), kekFile) || !strings.Contains(err.Error(), "restore the KEK file") {
		t.Fatalf("Open without the KEK file = %v, want ErrKEK naming %s and the fix", err, kekFile)
	}
	if _, err := os.Stat(kekFile); err == nil {
		t.Error("Open made a new KEK file for an existing store")
	}
	if after, _ := os.ReadFile(db); !bytes.Equal(before, after) {
		t.Error("the refused Open changed the database file")
	}
}

// TestKEKFileReadableByOthersRefused: as ssh refuses a private key that
// others can read, Open refuses a KEK file with any group or other bit, and
// leaves the store uncreated.
func TestKEKFileReadableByOthersRefused(t *testing.T) {
	t.Parallel()
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o602} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, "kek")
			writeKEKFile(t, file, []byte(hex.EncodeToString(randomKey(t))))
			if err := os.Chmod(file, mode); err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(dir, "amtrcs.db")
			s, err := Open(db, Options{KEK: KEKSource{File: file}, Logger: quietLogger(), NoSync: true})
			if err == nil {
				s.Close()
				t.Fatal("Open took a KEK file readable or writable by others")
			}
			if !errors.Is(err, ErrKEK) {
				t.Errorf("error %v does not wrap ErrKEK", err)
			}
			for _, want := range []string{file, fmt.Sprintf("%04o", mode), "want 0600", "chmod 600 " + file} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the refused Open created the store: %v", err)
			}
		})
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		dir := t.TempDir()
		file := filepath.Join(dir, "kek")
		writeKEKFile(t, file, []byte(hex.EncodeToString(randomKey(t))))
		os.Chmod(file, mode)
		s, err := Open(filepath.Join(dir, "amtrcs.db"), Options{KEK: KEKSource{File: file}, Logger: quietLogger(), NoSync: true})
		if err != nil {
			t.Fatalf("mode %04o: %v", mode, err)
		}
		s.Close()
	}
}

func TestKEKSourceErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	writeKEKFile(t, short, []byte("hunter2-is-my-kek\n"))
	big := filepath.Join(dir, "big")
	writeKEKFile(t, big, bytes.Repeat([]byte("a"), 10000))
	unreadable := filepath.Join(dir, "unreadable")
	writeKEKFile(t, unreadable, []byte(hex.EncodeToString(randomKey(t))))
	os.Chmod(unreadable, 0)
	env := map[string]string{"EMPTY": " ", "BAD": "hunter2-is-my-kek", "GOOD": hex.EncodeToString(randomKey(t))}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	tests := map[string]struct {
		src  KEKSource
		want []string
	}{
		"missing file":     {KEKSource{File: filepath.Join(dir, "nope")}, []string{"nope", "no such file", "give the path"}},
		"directory":        {KEKSource{File: dir}, []string{dir, "is a directory", "want a regular file"}},
		"short file":       {KEKSource{File: short}, []string{short, "18 bytes", "want 32 raw bytes", "openssl rand -hex 32 > " + short}},
		"big file":         {KEKSource{File: big}, []string{big, "over 4096 bytes", "check the path"}},
		"env unset":        {KEKSource{Env: "AMTRCS_KEK_UNSET"}, []string{"AMTRCS_KEK_UNSET", "not set", "64 hex characters"}},
		"env empty":        {KEKSource{Env: "EMPTY"}, []string{"EMPTY", "not set or empty"}},
		"env bad":          {KEKSource{Env: "BAD"}, []string{"environment variable BAD", "want 64 hex characters"}},
		"two sources":      {KEKSource{Env: "GOOD", File: short}, []string{"sets 2 of", "keep only the one"}},
		"caller key short": {KEKSource{Key: []byte("short")}, []string{"5 bytes", "want 32"}},
	}
	if os.Geteuid() != 0 { // root reads any file
		tests["unreadable file"] = struct {
			src  KEKSource
			want []string
		}{KEKSource{File: unreadable}, []string{unreadable, "permission denied"}}
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "amtrcs.db")
			_, err := Open(db, Options{KEK: tc.src, LookupEnv: lookup, Logger: quietLogger()})
			if !errors.Is(err, ErrKEK) {
				t.Fatalf("Open = %v, want ErrKEK", err)
			}
			msg := err.Error()
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			if strings.Contains(msg, "\n") || strings.Contains(msg, "hunter2") || strings.Contains(msg, env["GOOD"]) {
				t.Errorf("error %q spans lines or shows key material", msg)
			}
			if _, err := os.Stat(db); err == nil {
				t.Error("a refused Open created the database")
			}
		})
	}
}

// TestKEKFromProcessEnvironment uses the real environment, the default for
// LookupEnv, so it cannot run in parallel.
func TestKEKFromProcessEnvironment(t *testing.T) {
	key := randomKey(t)
	t.Setenv("AMTRCS_TEST_KEK", base64.RawStdEncoding.EncodeToString(key))
	db := filepath.Join(t.TempDir(), "amtrcs.db")
	s, err := Open(db, Options{KEK: KEKSource{Env: "AMTRCS_TEST_KEK"}, Logger: quietLogger(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutSecret("x", []byte("value")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// The same key given directly opens it: the env value was decoded, not
	// used as text.
	s, err = Open(db, Options{KEK: KEKSource{Key: key}, Logger: quietLogger(), NoSync: true})
	if err != nil {
		t.Fatalf("reopen with the decoded key: %v", err)
	}
	s.Close()
}
