// Package rcs is the amtrcs server: the REST API (devices, profiles,
// domains, jobs, audit, agent tokens), the agent gateway (a websocket per
// agent carrying yamux streams, through which the provisioning engine reads
// the host interface and reaches the firmware ports), the legacy hello
// listener, and the job runner that starts activations and deactivations.
//
// It decides when to provision and reports what happened; how to provision
// belongs to package provisioning, which it calls. What it must never do:
// put a secret (device password, provisioning key, token, agent
// credential) in a log line, an error, an audit event or a response, except
// GET /api/v1/devices/{id}/password which returns one admin password to an
// admin token and audits that it did; store a token or credential other
// than as its SHA-256; import the simulator.
package rcs
