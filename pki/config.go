package pki

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Mode says where certificates are signed.
type Mode string

const (
	Embedded Mode = "embedded" // a smallstep authority inside amtrcs
	External Mode = "external" // a step-ca reached over HTTPS
)

// Validity is how long each kind of certificate lives when the caller does
// not give an explicit window.
type Validity struct {
	AMTTLS time.Duration // the TLS server certificate an AMT device serves
	Agent  time.Duration // an agent's client certificate
	Server time.Duration // the RCS's own server certificate
}

// ExternalCA is how to reach a step-ca. The provisioner's encrypted JWK is
// fetched from the CA and opened with Password, as `step ca token` does, so
// only the password has to be kept by amtrcs.
type ExternalCA struct {
	URL             string // https://ca.example.com:9000
	Provisioner     string // name of a JWK provisioner
	Password        []byte // opens the provisioner's encrypted key; never logged
	RootFingerprint string // SHA-256 of the root certificate's DER, hex
	Timeout         time.Duration
}

// Config configures Open.
type Config struct {
	Mode    Mode
	DataDir string // holds the embedded authority's database, DBFile
	// Postgres, when set, is the URL of the PostgreSQL database the
	// embedded authority keeps its tables in (the schema PostgresSchema),
	// instead of DBFile: the store's own database, so that every server
	// sharing it signs with the same CA.
	Postgres string
	Validity Validity
	External ExternalCA
	Logger   *slog.Logger // nil means slog.Default()
}

// DBFile is the embedded authority's own bbolt database inside DataDir. It
// holds the CA certificates, the CA keys sealed under the store's KEK, and
// smallstep's records of what was issued.
const DBFile = "ca.db"

// Sealer seals CA keys under the store's key-encryption key. *store.Store
// implements it; the name is bound to the sealed value.
type Sealer interface {
	Seal(name string, plaintext []byte) ([]byte, error)
	Unseal(name string, sealed []byte) ([]byte, error)
}

// Backdate is how far before the time of issue a certificate's NotBefore is
// set when the caller gives no window, so that a peer whose clock is a
// little behind does not see a certificate from the future.
const Backdate = 5 * time.Minute

// Errors callers branch on. Each is wrapped by an error whose text names the
// value seen, the value wanted and the fix.
var (
	// ErrRequest is wrapped when the input is refused: a CSR with a bad
	// signature, key or names, an invalid name, or a bad validity window.
	ErrRequest = errors.New("certificate request refused")
	// ErrConfig is wrapped when the configuration cannot give a working CA.
	ErrConfig = errors.New("CA configuration unusable")
	// ErrIssued is wrapped when a signed certificate does not match what was
	// asked (validity, names, usage, chain): it is never returned.
	ErrIssued = errors.New("issued certificate does not match the request")
)

func (c *Config) check() error {
	for _, v := range []struct {
		name string
		d    time.Duration
	}{{"AMT TLS", c.Validity.AMTTLS}, {"agent", c.Validity.Agent}, {"server", c.Validity.Server}} {
		if v.d < time.Hour {
			return fmt.Errorf("%w: %s certificate validity is %s, want at least 1h: set ca.%s_validity, e.g. \"90d\"",
				ErrConfig, v.name, v.d, map[string]string{"AMT TLS": "amt_tls", "agent": "agent", "server": "server"}[v.name])
		}
	}
	switch c.Mode {
	case Embedded:
		if c.DataDir == "" {
			return fmt.Errorf("%w: the embedded CA needs a data directory, none given: pass --data-dir or set data_dir", ErrConfig)
		}
	case External:
		return c.External.check()
	default:
		return fmt.Errorf("%w: CA mode %q, want %q or %q: set ca.mode", ErrConfig, c.Mode, Embedded, External)
	}
	return nil
}
