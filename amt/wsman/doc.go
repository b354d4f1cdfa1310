// Package wsman speaks WS-Management to Intel AMT firmware, and lets the
// simulator answer in the same shape: SOAP 1.2 envelopes with WS-Addressing
// headers, typed messages for the AMT, IPS and CIM classes amtrcs uses, a
// digest-authenticated client, and a server Mux with digest authentication.
//
// It is driven by encoding/xml with caps on body size and element depth
// enforced while decoding, because the bytes come from devices and networks
// we do not control. It must never log or return a password, a digest HA1
// or a nonce, and it holds no provisioning policy: which calls to make, and
// in which order, belongs to the provisioning package.
package wsman
