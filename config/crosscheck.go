package config

import "github.com/hashicorp/hcl/v2"

// crossChecks are the rules that tie blocks together; they run once every
// block has been read.
func (b *builder) crossChecks(raw *fileRaw, c *Config) {
	// An open API reachable from the network would let anyone activate
	// devices and read sealed passwords.
	if !c.API.Authenticated() && !isLoopbackListen(c.Server.API) {
		rng := raw.Server.APIRange // only a server block can move the API off loopback
		b.errorf(rng, "Unauthenticated API off loopback", `server.api = %q accepts connections from the network, and the api block configures no authentication: want token_sha256, token_env or client_certificates; fix: add api { token_env = "AMTRCS_API_TOKEN" }, or listen on 127.0.0.1`, c.Server.API)
	}
	if c.Maintenance.TLSRenewBefore >= c.CA.AMTTLSValidity {
		var rng hcl.Range
		if raw.CA != nil && raw.CA.AMTTLSValidity != nil {
			rng = raw.CA.AMTTLSValidityRange
		} else if raw.Maintenance != nil {
			rng = raw.Maintenance.TLSRenewBeforeRange
		}
		b.errorf(rng, "TLS renewal window longer than validity",
			"maintenance.tls_renew_before (%s) is not shorter than ca.amt_tls_validity (%s): every certificate would be due for re-issue as soon as it is issued; want a renewal window shorter than the validity; fix: lengthen amt_tls_validity (for example \"8760h\") or shorten tls_renew_before",
			humanDuration(c.Maintenance.TLSRenewBefore), humanDuration(c.CA.AMTTLSValidity))
	}
}
