// Package store is the database of amtrcs: a bucket (or table) per record
// type (devices, profiles, sessions, ...), secrets sealed with AES-256-GCM
// under a key-encryption key (KEK), and an append-only audit log, over one
// of two backends: a bbolt file (Open, the embedded default) or a
// PostgreSQL database that several servers share (OpenPostgres). The
// backends store bytes; sealing, JSON, id checks, the audit log's guards and
// the schema migrations are common to both, so the two keep one contract,
// which one suite of tests checks on each.
//
// Entities are stored as JSON under their id. Several writes that belong
// together (a device's new sealed admin password, the session step that will
// set it in firmware, and the audit record saying so) go through one Update
// so they commit atomically and durably, or not at all. Batch is the same
// transaction through a group commit on bbolt: concurrent writers share one
// commit and one fsync, and each returns only once its writes are on disk
// (on PostgreSQL each Batch is a transaction of its own, acknowledged by a
// synchronous commit).
//
// What this package must never do:
//   - write a secret in plaintext: secrets go through PutSecret or Seal, which
//     bind each sealed value to its name; Put refuses the secrets, audit and
//     meta buckets so nothing bypasses that;
//   - log, return in an error, or record in the audit log a secret or the KEK
//     (callers must never pass secrets in an audit Event; Audit refuses detail
//     keys that name a secret and values that repeat a secret written in the
//     same transaction, but it cannot recognise every secret);
//   - modify or delete an audit record: there is no API for it;
//   - open a store with a KEK other than the one it was created with: Open
//     checks the KEK against a sealed check value before it writes anything;
//   - import another amtrcs package: store sits at the bottom of the graph.
package store
