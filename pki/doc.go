// Package pki is the internal certificate authority of amtrcs. It issues the
// TLS server certificates that AMT devices serve after configuration, the
// client certificates of agents, and the RCS's own server certificate, from
// either an authority embedded in amtrcs (smallstep's authority, with its own
// bbolt file and its keys sealed under the store's KEK) or an external
// step-ca reached with a JWK provisioner and one-time tokens.
//
// Every certificate it issues has the validity window the caller asked for,
// checked after signing: the embedded smallstep authority ignores
// SignOptions validity, so the window is set by a certificate modifier, and
// what an external CA returns is held to the request.
//
// What this package must never do:
//   - write a CA private key unsealed, log it, or put it in an error;
//   - trust an external CA whose root does not match the configured
//     fingerprint, or return a certificate that does not chain to the root;
//   - issue a certificate whose names, key usage or validity differ from the
//     profile of its kind (AMT TLS, agent, server);
//   - import a package above it (provisioning, rcs, cmd).
package pki
