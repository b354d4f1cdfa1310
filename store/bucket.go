package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Bucket names one kind of record. Entity buckets hold JSON values written
// with Put and Create; Secrets, Audit and Meta are written only through their
// own APIs.
type Bucket string

// Entity buckets.
const (
	Devices   Bucket = "devices"
	Profiles  Bucket = "profiles"
	Domains   Bucket = "domains"
	ProvCerts Bucket = "provcerts" // provisioning certificates
	CSRs      Bucket = "csrs"
	Sessions  Bucket = "sessions" // activation sessions
	Jobs      Bucket = "jobs"     // activation jobs
	Agents    Bucket = "agents"
	Tokens    Bucket = "tokens"
	// Maintenance holds what maintenance knows of each device
	// (provisioning.DeviceState); until schema 2 it shared Sessions.
	Maintenance Bucket = "maintenance"
	// MaintJobs holds the maintenance schedule's records (rcs/jobs);
	// until schema 2 they shared Jobs.
	MaintJobs Bucket = "maintjobs"
)

// Buckets with their own APIs.
const (
	Secrets Bucket = "secrets" // PutSecret, Secret, DeleteSecret
	Audit   Bucket = "audit"   // Tx.Audit, Store.AuditLog
	Meta    Bucket = "meta"    // schema version and KEK check value
)

// entityNouns maps each entity bucket to the noun used in error messages,
// and is the list of buckets Put, Get, Create, Delete and List accept.
var entityNouns = map[Bucket]string{
	Devices:   "device",
	Profiles:  "profile",
	Domains:   "domain",
	ProvCerts: "provisioning certificate",
	CSRs:      "CSR",
	Sessions:  "activation session",
	Jobs:      "job",
	Agents:    "agent",
	Tokens:    "token",

	Maintenance: "maintenance state",
	MaintJobs:   "maintenance job",
}

// allBuckets is created on Open so that readers never meet a missing bucket.
var allBuckets = []Bucket{
	Devices, Profiles, Domains, ProvCerts, CSRs, Sessions, Jobs, Agents, Tokens,
	Maintenance, MaintJobs,
	Secrets, Audit, Meta,
}

// EntityBuckets returns the buckets that hold entities, in a fixed order.
func EntityBuckets() []Bucket {
	return append([]Bucket(nil), allBuckets[:len(entityNouns)]...)
}

func (b Bucket) noun() string {
	switch b {
	case Secrets:
		return "secret"
	case Audit:
		return "audit event"
	case Meta:
		return "meta"
	}
	if n, ok := entityNouns[b]; ok {
		return n
	}
	return string(b)
}

// ErrNotFound and ErrConflict are wrapped in *Error, so that errors.Is works
// and the message names the record.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

// MaxIDLen is the longest id or secret name the store takes, in bytes.
// Ids are UUIDs, host and domain names and short names people choose; the
// limit keeps them far below bbolt's own key limit (32 KiB), whose error
// ("key too large") told a caller neither the limit nor that it was theirs.
const MaxIDLen = 1024

// ErrIDTooLong is wrapped in *Error when an id or secret name is longer
// than MaxIDLen: the caller's input is at fault, not the store (an API
// answers it with a 4xx).
var ErrIDTooLong = fmt.Errorf("id longer than %d bytes", MaxIDLen)

// ErrIDNotText is wrapped in *Error when an id or secret name is not UTF-8
// or holds a NUL byte: the caller's input is at fault, as with ErrIDTooLong.
var ErrIDNotText = errors.New("id is not text")

// checkID refuses an empty or over-long id before bbolt sees it.
func checkID(b Bucket, id string) error {
	switch {
	case id == "":
		return &Error{Bucket: b, ID: id, Err: fmt.Errorf("empty id")}
	case len(id) > MaxIDLen:
		return &Error{Bucket: b, ID: id, Err: fmt.Errorf("%w: it is %d bytes, want at most %d: give a shorter name", ErrIDTooLong, len(id), MaxIDLen)}
	case !utf8.ValidString(id) || containsNUL(id):
		// One contract on both backends: PostgreSQL text holds neither.
		return &Error{Bucket: b, ID: id, Err: fmt.Errorf("%w: it is not UTF-8 text without NUL bytes, want a name in UTF-8: give a name of printable characters", ErrIDNotText)}
	}
	return nil
}

// Error says which record an operation failed on.
type Error struct {
	Bucket Bucket
	ID     string
	Err    error
}

func (e *Error) Error() string {
	id := e.ID
	if len(id) > 64 {
		// An over-long id is quoted by its start: the message stays a line.
		id = strings.ToValidUTF8(id[:48], "") + "..."
	}
	return fmt.Sprintf("%s %q: %v", e.Bucket.noun(), id, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// checkEntity refuses buckets that Put and friends must not touch: writing
// the secrets bucket directly would store plaintext, and the audit log is
// append-only.
func checkEntity(b Bucket) error {
	if _, ok := entityNouns[b]; ok {
		return nil
	}
	switch b {
	case Secrets:
		return fmt.Errorf("bucket %q is written only through PutSecret, which seals the value: use Tx.PutSecret", b)
	case Audit:
		return fmt.Errorf("bucket %q is append-only and written only through Audit: use Tx.Audit", b)
	case Meta:
		return fmt.Errorf("bucket %q is internal to the store", b)
	}
	return fmt.Errorf("unknown bucket %q: want one of devices, profiles, domains, provcerts, csrs, sessions, jobs, agents, tokens, maintenance, maintjobs", b)
}
