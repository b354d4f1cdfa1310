package config

import (
	"net/url"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// CAMode says which certificate authority issues AMT TLS, agent and server
// certificates.
type CAMode string

const (
	CAEmbedded CAMode = "embedded" // a smallstep authority inside amtrcs, keys sealed in the store
	CAExternal CAMode = "external" // a step-ca reached over HTTPS with a JWK provisioner
)

// CA configures the internal CA.
type CA struct {
	Mode CAMode
	// URL, Provisioner, JWKPassword and RootFingerprint are for the
	// external mode: the step-ca address, the JWK provisioner's name, where
	// its password lives, and the SHA-256 of the CA root (64 lowercase hex
	// digits) that pins the first connection.
	URL             string
	Provisioner     string
	JWKPassword     SecretSource
	RootFingerprint string

	// Validity of the certificates issued to AMT devices (TLS), agents
	// and the RCS server.
	AMTTLSValidity time.Duration
	AgentValidity  time.Duration
	ServerValidity time.Duration
}

type caRaw struct {
	Mode                 *string   `hcl:"mode,optional"`
	ModeRange            hcl.Range `hcl:"mode,attr_value_range"`
	URL                  *string   `hcl:"url,optional"`
	URLRange             hcl.Range `hcl:"url,attr_value_range"`
	Provisioner          *string   `hcl:"provisioner,optional"`
	ProvisionerRange     hcl.Range `hcl:"provisioner,attr_value_range"`
	JWKPasswordFile      *string   `hcl:"jwk_password_file,optional"`
	JWKPasswordFileRange hcl.Range `hcl:"jwk_password_file,attr_value_range"`
	JWKPasswordEnv       *string   `hcl:"jwk_password_env,optional"`
	JWKPasswordEnvRange  hcl.Range `hcl:"jwk_password_env,attr_value_range"`
	RootFingerprint      *string   `hcl:"root_fingerprint,optional"`
	RootFingerprintRange hcl.Range `hcl:"root_fingerprint,attr_value_range"`
	AMTTLSValidity       *string   `hcl:"amt_tls_validity,optional"`
	AMTTLSValidityRange  hcl.Range `hcl:"amt_tls_validity,attr_value_range"`
	AgentValidity        *string   `hcl:"agent_validity,optional"`
	AgentValidityRange   hcl.Range `hcl:"agent_validity,attr_value_range"`
	ServerValidity       *string   `hcl:"server_validity,optional"`
	ServerValidityRange  hcl.Range `hcl:"server_validity,attr_value_range"`
	DefRange             hcl.Range `hcl:",def_range"`
}

func (b *builder) ca(raw *caRaw, c *CA) {
	if raw == nil {
		return
	}
	enum(b, raw.Mode, raw.ModeRange, "ca.mode", []CAMode{CAEmbedded, CAExternal},
		`use "embedded" for the CA inside amtrcs, or "external" with url for a step-ca`, &c.Mode)
	if raw.Provisioner != nil {
		if *raw.Provisioner == "" {
			b.errorf(raw.ProvisionerRange, "Empty provisioner", `ca.provisioner = "": want the name of a JWK provisioner of the CA; fix: set it, or remove it to use %q`, c.Provisioner)
		} else {
			c.Provisioner = *raw.Provisioner
		}
	}
	c.JWKPassword = b.secret(raw.JWKPasswordEnv, raw.JWKPasswordEnvRange, "ca.jwk_password_env", raw.JWKPasswordFile, raw.JWKPasswordFileRange, "ca.jwk_password_file")
	if raw.URL != nil {
		u, err := url.Parse(*raw.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			b.errorf(raw.URLRange, "Invalid CA URL", `ca.url = %q: want an https URL with a host, as step-ca serves only HTTPS; fix: write for example "https://ca.corp.example.com:9000"`, *raw.URL)
		} else {
			c.URL = *raw.URL
		}
	}
	if raw.RootFingerprint != nil {
		if h, p := sha256Hex(*raw.RootFingerprint); p != "" {
			b.errorf(raw.RootFingerprintRange, "Invalid root fingerprint", "ca.root_fingerprint = %q: %s; want the SHA-256 of the CA root in hex; fix: paste the output of `step certificate fingerprint root_ca.crt`", *raw.RootFingerprint, p)
		} else {
			c.RootFingerprint = h
		}
	}
	b.duration(raw.AMTTLSValidity, raw.AMTTLSValidityRange, "ca.amt_tls_validity", false, &c.AMTTLSValidity)
	b.duration(raw.AgentValidity, raw.AgentValidityRange, "ca.agent_validity", false, &c.AgentValidity)
	b.duration(raw.ServerValidity, raw.ServerValidityRange, "ca.server_validity", false, &c.ServerValidity)

	switch c.Mode {
	case CAExternal:
		if raw.URL == nil {
			b.errorf(orRange(raw.ModeRange, raw.DefRange), "External CA without URL", `ca.mode = "external" needs url: none is set; fix: add url = "https://ca.example.com:9000", or set mode = "embedded"`)
		}
		if raw.RootFingerprint == nil {
			b.errorf(orRange(raw.ModeRange, raw.DefRange), "External CA without root fingerprint", `ca.mode = "external" needs root_fingerprint to trust the CA on first contact: none is set; fix: add root_fingerprint = "<output of step certificate fingerprint root_ca.crt>"`)
		}
		if raw.JWKPasswordEnv == nil && raw.JWKPasswordFile == nil {
			b.errorf(orRange(raw.ModeRange, raw.DefRange), "External CA without provisioner password", `ca.mode = "external" needs the JWK provisioner's password: neither jwk_password_env nor jwk_password_file is set; fix: add jwk_password_file = "/etc/amtrcs/ca-password"`)
		}
	case CAEmbedded:
		for _, a := range []struct {
			set  bool
			rng  hcl.Range
			name string
		}{
			{raw.URL != nil, raw.URLRange, "url"},
			{raw.RootFingerprint != nil, raw.RootFingerprintRange, "root_fingerprint"},
			{raw.JWKPasswordEnv != nil, raw.JWKPasswordEnvRange, "jwk_password_env"},
			{raw.JWKPasswordFile != nil, raw.JWKPasswordFileRange, "jwk_password_file"},
		} {
			if a.set {
				b.warnf(a.rng, "Setting ignored by the embedded CA", `ca.%s is only used when ca.mode = "external", and mode is "embedded"; fix: remove %s, or set mode = "external"`, a.name, a.name)
			}
		}
	}
}

// orRange prefers the attribute's range, else the block's.
func orRange(attr, block hcl.Range) hcl.Range {
	if attr.Filename != "" {
		return attr
	}
	return block
}
