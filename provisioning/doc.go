// Package provisioning activates Intel AMT devices and keeps the secrets
// that activation creates: it runs each activation path as a list of steps
// over a Device (a host-interface client, a dialer for the firmware's
// WS-MAN ports, and what the host reported), records every step in the
// store, and resumes or rolls back a session after a crash.
//
// # The API the server and the agent build on
//
//	e, err := provisioning.New(st, provisioning.WorkshopCerts{W: workshop}, provisioning.Options{
//		Domains: provisioning.StaticDomains(domains...), DeviceIdentityRoots: roots})
//	dev := &provisioning.Device{Host: hostif.NewClient(t), Mng: hostif.NewManageability(m), Dial: relay, Hostname: "pc1", OSFQDN: "pc1.corp.example.com"}
//	if err := dev.ReadInfo(ctx); err != nil { ... }     // fills dev.Info over the host interface
//	rep, err := e.Preflight(ctx, dev, profile)           // reads only; *PreflightError lists every reason
//	res, err := e.Activate(ctx, dev, profile)            // picks the path: TLS (19+), host-based (7..18), CCM, upgrade
//	res, err = e.Resume(ctx, dev)                        // after a crash: continue, or start over
//	err = e.Deactivate(ctx, dev)                         // Unprovision over WS-MAN (ACM) or the host command (CCM)
//	res, err = e.HandleHello(ctx, msg, sourceAddr)       // legacy network setup, from the TCP 9971 listener
//
// Device.Dial opens the firmware's port 16992 (plain WS-MAN) or 16993
// (WS-MAN over TLS): on the agent path it is a stream relayed by the
// agent (LMS), for a legacy hello device a TCP connection to the hello's
// source address, and in tests the simulator's in-process DialLMS.
// CertSource gives the provisioning chains with a crypto.Signer for their
// key; Options.Domains maps a device's DNS suffix to the certificate of its
// domain (without one, the first certificate that passes the preflight).
// Profiles are stored with PutProfile and read with GetProfile; static
// passwords are sealed, never in the profile's JSON. A device's sealed
// admin password is named by AdminSecretName and read by the server's
// maintenance tasks with Engine.AdminPassword.
//
// Legacy network setup configures the profile inside the setup session,
// before CommitChanges closes the device's setup port; the device's TLS key
// and certificate, and with them a relaxed user-consent policy, are left to
// the TLS task (issue 7) and said so in Result.Notes.
//
// # Maintenance
//
// After activation the engine keeps devices right (reference §10), one
// file per task: ConfigureTLS and RenewTLS (tls.go: firmware key and CSR,
// certificate from Options.TLS.Issuer, then the device is reached on port
// 16993 and verified against the CA root pinned in its state), SyncClock,
// SyncNetwork (OS FQDN into AMT, and a new certificate for it),
// RotatePassword (a session of its own, PathRotatePassword, with the new
// password sealed before it is set) and CheckProvisioningCerts. Maintain
// runs a device task by name. What they learn is kept per device in a
// DeviceState (StateKey, in the maintenance bucket), which the health report
// reads. Scheduling is the server's (rcs/jobs).
//
// An Engine is safe for concurrent use; it runs at most one session per
// device at a time and answers ErrBusy to a second one.
//
// # Crash safety
//
// A device's new admin and MEBx passwords are sealed in the store, in one
// transaction with the session record (path and step) and the audit event,
// before the call that sets them in firmware; the session's start event
// goes in that same transaction. After each step the session record and an
// audit event are committed (the last step's with the session's end). All
// of these go through the store's group commit (store.Batch): each returns
// only once it is on disk, and concurrent sessions share the fsync, so a
// fleet pays about one fsync per commit round rather than per step. Even a
// lost step record would be harmless: Resume decides from the device's
// own state, not from the record alone: a post-provisioned device whose
// stored password authenticates gets the remaining configuration steps; a
// pre-provisioned one starts over; an in-provisioning one (TLS-based setup
// started, not committed) is stopped and started over.
//
// # A stored password is never replaced blind
//
// A device recorded as provisioned (its session ended well, or got past
// the step that provisions it, and the store holds its admin password) is
// changed only by a session that first proves the firmware with the stored
// password over digest authentication: Resume's continuation, the CCM to
// ACM upgrade, rotation, deactivation and the maintenance tasks all
// authenticate before they write. An activation of such a record, or a
// hello in its name, is refused with a *StateError (RuleStoredPassword)
// whose fix is to deactivate the device, or, once an admin has checked in
// MEBx that it was unprovisioned out of band, to Forget it. The report that
// names the device comes from an agent, and an agent can lie: this is what
// keeps an agent that relays one device under another's UUID from
// overwriting the other's password.
//
// On AMT 19+ the firmware's identity chain names the part: its CSME ROM
// certificate (chain position 3) is recorded per UUID at the first
// verified chain (trust on first use, DeviceState.Identity, with the
// session's next commit) and every later chain for that UUID must show
// it (checkIdentity), so a relayed other part is refused even when no
// stored password guards the device. Deactivation keeps the record; only
// Forget drops it. The ROM certificate's binding to the platform's UPID is
// not checked.
//
// # What this package must never do
//
//   - send a secret anywhere but to the device it belongs to: no password,
//     key, nonce or digest in a log line, an error, an audit event or JSON;
//   - set a password in firmware before it is sealed and committed;
//   - replace the stored password of a device recorded as provisioned
//     without first proving the firmware with it;
//   - let the provisioning key leave its crypto.Signer (the TLS-based path
//     terminates TLS here, over the relayed stream);
//   - write to a device during Preflight;
//   - hold its own copy of a firmware rule: the suffix rule is dnssuffix's,
//     the certificate rules csr's, the facts amt's.
package provisioning
