package config

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"

	"github.com/hashicorp/hcl/v2"
)

// API says how clients of the REST API authenticate. With no token and no
// client certificates the API is open, which the checks allow only on a
// loopback listener.
type API struct {
	// TokenSHA256 are the SHA-256 hashes of accepted bearer tokens, so the
	// file never holds a token.
	TokenSHA256 [][sha256.Size]byte
	// TokenEnv names an environment variable holding one more token.
	TokenEnv string
	// ClientCertificates accepts TLS client certificates issued by the
	// internal CA.
	ClientCertificates bool
}

// Authenticated reports whether any client authentication is configured.
func (a API) Authenticated() bool {
	return len(a.TokenSHA256) > 0 || a.TokenEnv != "" || a.ClientCertificates
}

// TokenMatches reports whether token hashes to one of TokenSHA256, in
// constant time per entry. The token from TokenEnv is the caller's to compare.
func (a API) TokenMatches(token string) bool {
	h := sha256.Sum256([]byte(token))
	ok := 0
	for _, want := range a.TokenSHA256 {
		ok |= subtle.ConstantTimeCompare(h[:], want[:])
	}
	return ok == 1
}

type apiRaw struct {
	TokenSHA256        hcl.Expression `hcl:"token_sha256,optional"`
	TokenEnv           *string        `hcl:"token_env,optional"`
	TokenEnvRange      hcl.Range      `hcl:"token_env,attr_value_range"`
	ClientCertificates *bool          `hcl:"client_certificates,optional"`
}

func (b *builder) api(raw *apiRaw, a *API) {
	if raw == nil {
		return
	}
	items, _ := b.stringList(raw.TokenSHA256)
	for _, it := range items {
		h, p := sha256Hex(it.val)
		if p != "" {
			// The value may be a token pasted by mistake: never echo it.
			b.errorf(it.rng, "Invalid token hash", "a token_sha256 element (%d characters) is not a SHA-256 in hex: %s; want 64 hex digits, the hash of the token, never the token; fix: write the output of `printf %%s TOKEN | sha256sum`", len(it.val), p)
			continue
		}
		var sum [sha256.Size]byte
		_, _ = hex.Decode(sum[:], []byte(h))
		a.TokenSHA256 = append(a.TokenSHA256, sum)
	}
	a.TokenEnv = b.envName(raw.TokenEnv, raw.TokenEnvRange, "api.token_env")
	if raw.ClientCertificates != nil {
		a.ClientCertificates = *raw.ClientCertificates
	}
}
