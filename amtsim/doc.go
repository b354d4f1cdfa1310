// Package amtsim is the Intel AMT firmware simulator: virtual devices that
// enforce the provisioning rules of the firmware reference
// (/work/shared/reference/amt-firmware.md) and answer through the same three
// ways in as real hardware: the host interface (PTHI, hostif.Firmware) and
// WS-MAN as LMS serves it locally (ports 16992 and 16993), TLS-based setup
// on AMT 19, and legacy network setup with hello messages.
//
// A Device is cheap when idle (no goroutine, listener, key or certificate);
// a Fleet holds many and serves them to other processes over one loopback
// "host port". amtrcs tests, demos and benchmarks run against it, so every
// refusal answers with the return code or TLS alert real firmware gives and
// records the rule, the value seen, the value wanted and the fix in the
// device's event log.
//
// It must never be imported by the RCS packages (only by their tests), never
// listen on anything but loopback, and never log a password, digest secret,
// nonce or key. The passwords and keys in a saved state file are the
// simulator's own test secrets, not anybody's real credentials.
package amtsim
