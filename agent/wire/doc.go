// Package wire is the protocol between an amtrcs agent and the RCS, and the
// byte-level conventions it shares with the simulator's host port:
//
//   - every relayed stream starts with a channel line naming what it carries
//     (ChannelPTHI, or ChannelLMS16992 / ChannelLMS16993), answered by
//     "OK\n" or "ERR <reason>\n";
//   - a PTHI channel carries length-prefixed frames (u32 little-endian
//     length, then one host-interface message), one response per request;
//   - an LMS channel carries the raw bytes of that firmware port;
//   - the control stream, opened by the agent, carries one JSON Report from
//     the agent, then JSON Event lines from the RCS.
//
// It is a codec: it never dials, listens or decides anything. Every reader
// bounds what it accepts, since both ends may face a hostile peer, and
// nothing here ever carries a device password or a provisioning key: the
// agent relays bytes it cannot read (TLS) or that the RCS asked for.
package wire
