package wire

import (
	"io"
	"log"
	"time"

	"github.com/hashicorp/yamux"
)

// Paths of the agent gateway, served on the agent gateway listener and on
// the API listener alike.
const (
	EnrollPath  = "/api/v1/agents/enroll"
	ConnectPath = "/api/v1/agents/connect"
)

// EnrollRequest trades a one-time enrollment token for an agent credential.
type EnrollRequest struct {
	Token    string `json:"token"`
	Hostname string `json:"hostname,omitempty"`
}

// EnrollResponse carries the agent's own credential: the agent keeps it in
// its state file and presents it as a bearer token from then on. The RCS
// stores only its hash.
type EnrollResponse struct {
	AgentID    string `json:"agent_id"`
	Credential string `json:"credential"`
}

// MaxWebsocketMessage bounds one websocket message carrying yamux frames: a
// frame holds at most the stream window (256 KiB) plus its header.
const MaxWebsocketMessage = 1 << 20

// KeepAliveInterval is how often an agent pings the RCS: its own pings find
// a dead link within a minute, so the agent reconnects; the RCS answers
// them, and hangs up on an agent silent for AgentSilence.
const KeepAliveInterval = 15 * time.Second

// AgentSilence is how long the RCS waits without a byte from an agent (its
// pings included) before it takes the link for dead.
const AgentSilence = 4 * KeepAliveInterval

// MuxConfig is the yamux configuration both ends use. Keepalives find a
// dead link within a minute, so an agent reconnects and the RCS resumes.
func MuxConfig(logOutput io.Writer) *yamux.Config {
	c := yamux.DefaultConfig()
	c.KeepAliveInterval = KeepAliveInterval
	c.ConnectionWriteTimeout = 15 * time.Second
	c.StreamOpenTimeout = 30 * time.Second
	c.StreamCloseTimeout = time.Minute
	if logOutput == nil {
		// One logger for every session rather than one each.
		c.LogOutput, c.Logger = nil, discard
		return c
	}
	c.LogOutput = logOutput
	return c
}

var discard = log.New(io.Discard, "", 0)
