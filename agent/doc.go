// Package agent is the PC side of amtrcs: it reads the AMT host interface
// (Linux MEI, the simulator's host port, or an in-process simulated device),
// reports what it read to the RCS over one websocket carrying yamux streams,
// and relays the streams the RCS opens (PTHI frames, LMS ports 16992 and
// 16993) to the firmware, printing the progress the RCS sends back.
//
// It must never hold a device password or a provisioning key, and never
// decide anything about provisioning: the RCS runs TLS to the firmware
// through it and chooses every call. Its only secret is its own agent
// credential, kept in its state file with mode 0600 and never logged.
package agent
