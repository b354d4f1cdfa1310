// Package config is the amtrcs configuration: the HCL schema of the whole
// product, its defaults, loading (with env.NAME available in expressions),
// and the semantic checks whose diagnostics point at file:line:col.
//
// What it hands out is typed and checked: durations are time.Duration,
// suffixes are lowercase without a trailing dot, enums are their own types,
// so callers never parse a string from the file again.
//
// It must never hold or print a secret: passwords, tokens and keys are named
// by where they live (an environment variable, a file, a KMS URI), and are
// read by the caller when needed. The only project package it imports is
// dnssuffix, whose ValidateName is the one definition of a DNS name; it must
// never import one above that, and it does no I/O besides reading the file
// it is given.
package config
