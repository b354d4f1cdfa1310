// Package amt holds the facts of Intel AMT firmware that the rest of amtrcs
// is built on: the default root-hash catalog, the version profiles and what
// each allows, the firmware's rules for the certificates of a provisioning
// chain, enums and return codes with their names, and RuleError, the one
// shape of every refusal.
//
// It is pure data and functions: it must never do I/O, and never import a
// package of amtrcs. The simulator and the RCS both read these facts and
// apply these rules, so each lives here once and is pinned by tests against
// documented values, not derived by code.
package amt
