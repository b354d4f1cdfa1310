// Package amt holds the facts of Intel AMT firmware that the rest of amtrcs
// is built on: the default root-hash catalog, the version profiles and what
// each allows, enums and return codes with their names.
//
// It is pure data and functions: it must never do I/O. The simulator and the
// RCS both read these facts, so a fact lives here once and is pinned by
// tests against documented values, not derived by code.
package amt
