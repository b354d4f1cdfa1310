package config

import (
	"path/filepath"
	"time"
)

// Config is a loaded, checked configuration. Every field holds a usable value:
// what the file leaves out comes from Default.
type Config struct {
	// DataDir holds the store, the KEK file (by default) and the embedded
	// CA. Relative paths are relative to the working directory.
	DataDir string

	KEK         KEK
	Store       Store
	Server      Server
	API         API
	CA          CA
	DNS         DNS
	Domains     []Domain  // in file order
	Profiles    []Profile // in file order, then the built-in "default" unless redefined
	Maintenance Maintenance
}

// DefaultDataDir matches the CLI's --data-dir default.
const DefaultDataDir = "./amtrcs-data"

// DefaultKEKFile is the KEK file name inside the data directory, used when no
// kek block is given.
const DefaultKEKFile = "kek"

// DefaultProfileName is the profile that always exists: built in unless the
// file defines a profile of that name, and used by domains that name none.
const DefaultProfileName = "default"

// Default is the configuration of an empty file: loopback listeners, no hello
// listener, an embedded CA, a KEK file in the data directory, the system
// resolvers, no domains, one "default" ACM profile, and the maintenance
// schedules of the firmware reference (§10).
func Default() *Config {
	return &Config{
		DataDir: DefaultDataDir,
		KEK:     KEK{Source: KEKFile},
		Store:   Store{Backend: StoreBBolt},
		Server: Server{
			API:          "127.0.0.1:8443",
			AgentGateway: "127.0.0.1:8444",

			AuditMaxAge:           DefaultAuditMaxAge,
			AuditMaxRecords:       DefaultAuditMaxRecords,
			HelloPendingExpiry:    DefaultHelloPendingExpiry,
			HelloPendingPerSource: DefaultHelloPendingPerSource,
			HelloPendingMax:       DefaultHelloPendingMax,
		},
		CA: CA{
			Mode:           CAEmbedded,
			Provisioner:    "amtrcs",
			AMTTLSValidity: 365 * day,
			AgentValidity:  90 * day,
			ServerValidity: 90 * day,
		},
		DNS:         DNS{Timeout: 2 * time.Second},
		Profiles:    []Profile{DefaultProfile(DefaultProfileName)},
		Maintenance: DefaultMaintenance(),
	}
}

const day = 24 * time.Hour

// KEKPath is the KEK file to use when KEK.Source is KEKFile: the file named in
// the kek block, else DefaultKEKFile in the data directory.
func (c *Config) KEKPath() string {
	if c.KEK.File != "" {
		return c.KEK.File
	}
	return filepath.Join(c.DataDir, DefaultKEKFile)
}

// Profile returns the profile named name.
func (c *Config) Profile(name string) (*Profile, bool) {
	for i := range c.Profiles {
		if c.Profiles[i].Name == name {
			return &c.Profiles[i], true
		}
	}
	return nil, false
}

// Domain returns the domain named name (the block label).
func (c *Config) Domain(name string) (*Domain, bool) {
	for i := range c.Domains {
		if c.Domains[i].Name == name {
			return &c.Domains[i], true
		}
	}
	return nil, false
}

// DomainForSuffix returns the domain that lists suffix exactly (any case, with
// or without a trailing dot). It is a lookup in the file, not the AMT suffix
// matching rule, which lives in dnssuffix.
func (c *Config) DomainForSuffix(suffix string) (*Domain, bool) {
	s := normalizeName(suffix)
	for i := range c.Domains {
		for _, x := range c.Domains[i].Suffixes {
			if x == s {
				return &c.Domains[i], true
			}
		}
	}
	return nil, false
}
