package rcs

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/provisioning"
)

// reportTimeout bounds how long a connected agent may take to send its
// report before the gateway hangs up.
const reportTimeout = 30 * time.Second

// gateway keeps the connected agents, one per device.
type gateway struct {
	s     *Server
	sweep sync.Once // starts sweepSilent with the first agent
	mu    sync.Mutex
	conns map[string]*agentConn

	internMu sync.Mutex
	names    map[string]string // root-hash names, see compact
	hashes   map[string][]byte // root hashes by their bytes
}

func newGateway(s *Server) *gateway {
	return &gateway{s: s, conns: map[string]*agentConn{}, names: map[string]string{}, hashes: map[string][]byte{}}
}

// maxInterned bounds the strings compact shares: the factory root hashes
// of every firmware version and a few custom ones fit many times over, and
// agents cannot grow the table past it.
const maxInterned = 4096

// compact shrinks a report kept for as long as its agent stays connected:
// the hash table's entries in an array of their own size (decoding grew
// it by doubling), their names and hashes shared with every other report
// that has them, as the factory entries of a fleet all do. Nothing
// modifies a report's hashes in place, so sharing them is safe.
func (g *gateway) compact(r *wire.Report) {
	e := make([]amt.RootHash, len(r.Info.Hashes.Entries))
	copy(e, r.Info.Hashes.Entries)
	g.internMu.Lock()
	defer g.internMu.Unlock()
	for i := range e {
		if n, ok := g.names[e[i].Name]; ok {
			e[i].Name = n
		} else if len(g.names) < maxInterned {
			g.names[e[i].Name] = e[i].Name
		}
		if h, ok := g.hashes[string(e[i].Hash)]; ok {
			e[i].Hash = h
		} else if len(g.hashes) < maxInterned {
			g.hashes[string(e[i].Hash)] = e[i].Hash
		}
	}
	r.Info.Hashes.Entries = e
}

// agentConn is one connected agent: its yamux session, its control stream
// and what it reported.
type agentConn struct {
	agentID string
	report  wire.Report
	sess    *yamux.Session
	link    *agentLink
	ctl     net.Conn
	ctlMu   sync.Mutex
	lw      *wire.LineWriter
	pthi    *relayedPTHI
	mng     *relayedPTHI
}

// send writes an event on the control stream; a dead stream is the
// session's problem, noticed by its reader.
func (a *agentConn) send(ev wire.Event) {
	a.ctlMu.Lock()
	defer a.ctlMu.Unlock()
	_ = a.ctl.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_ = a.lw.Write(ev)
}

// openChannel opens a relayed stream to ch on the agent's host.
func (a *agentConn) openChannel(ctx context.Context, ch wire.Channel) (net.Conn, error) {
	st, err := a.sess.OpenStream()
	if err != nil {
		return nil, fmt.Errorf("agent %s: open a %s stream: %w", a.agentID, ch, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = st.SetDeadline(deadline)
	if err := wire.WriteChannel(st, ch); err != nil {
		st.Close()
		return nil, fmt.Errorf("agent %s: %s stream: %w", a.agentID, ch, err)
	}
	if err := wire.ReadAnswer(st); err != nil {
		st.Close()
		return nil, fmt.Errorf("agent %s: %s: %w", a.agentID, ch, err)
	}
	_ = st.SetDeadline(time.Time{})
	return st, nil
}

// device is the engine's view of the agent's host: PTHI and LMS relayed
// through the agent.
func (a *agentConn) device() *provisioning.Device {
	return &provisioning.Device{
		Info:     a.report.Info,
		Hostname: a.report.Hostname,
		OSFQDN:   a.report.FQDN,
		Host:     hostif.NewClient(a.pthi),
		Mng:      hostif.NewManageability(a.mng),
		Dial: func(ctx context.Context, port int) (net.Conn, error) {
			ch, err := wire.LMSChannel(port)
			if err != nil {
				return nil, err
			}
			return a.openChannel(ctx, ch)
		},
	}
}

// relayedPTHI is a hostif.Transport over a stream of MEI frames to the
// agent (PTHI or the manageability client), opened on first use and
// reopened after a failure.
type relayedPTHI struct {
	a  *agentConn
	ch wire.Channel
	mu sync.Mutex
	t  *wire.FramedTransport
}

func (p *relayedPTHI) Call(ctx context.Context, req []byte) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.t == nil {
		c, err := p.a.openChannel(ctx, p.ch)
		if err != nil {
			return nil, err
		}
		p.t = wire.NewFramedTransport(c)
		p.t.Timeout = wire.RelayCallTimeout // the agent times the firmware itself
	}
	resp, err := p.t.Call(ctx, req)
	if err != nil {
		p.t = nil // the transport closed its stream
	}
	return resp, err
}

// handleConnect upgrades an agent's request to the websocket that carries
// its yamux session, reads its report and hands it to the job runner. Once
// the agent is registered the handler returns: the connection is
// hijacked, and what an idle agent costs the RCS is its session alone (see
// watch), not the HTTP connection's goroutine, its stack and the request.
func (g *gateway) handleConnect(w http.ResponseWriter, r *http.Request) {
	s := g.s
	p, err := s.authenticate(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if p.Kind != kindAgent {
		writeError(w, apiErr(http.StatusForbidden, "agent gateway", "an admin credential", "an agent credential", "run amtrcs agent with an enrollment token; admins use the REST API"))
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		s.log.Warn("agent gateway: websocket upgrade failed", "agent", p.AgentID, "err", err)
		return
	}
	c.SetReadLimit(wire.MaxWebsocketMessage)
	link := newAgentLink(websocket.NetConn(s.ctx, c, websocket.MessageBinary), time.Now())
	// The link sees every read (the silence sweep); Coalesce sends each
	// yamux frame's header and body as one websocket message.
	sess, err := yamux.Server(wire.Coalesce(link), serverMuxConfig())
	if err != nil {
		link.Close()
		return
	}
	ac, ok := g.open(p.AgentID, sess)
	if !ok {
		sess.Close()
		return
	}
	ac.link = link
	id := ac.report.Info.UUID.String()
	g.register(id, ac)
	s.holdAgent(id)
	// The session's end (the agent gone, silent, replaced, or the server
	// closing) unregisters it: no goroutine waits for it.
	link.whenClosed(func() {
		g.unregister(id, ac)
		s.log.Info("agent disconnected", "agent", ac.agentID, "device", id)
	})
	if s.ctx.Err() != nil {
		sess.Close() // registered after closeAll ran
		return
	}
	s.log.Info("agent connected", "agent", p.AgentID, "device", id, "version", ac.report.Info.Version.String(), "host", ac.report.Hostname)
	if err := s.recordReport(ac.report, p.AgentID); err != nil {
		s.log.Error("record the agent's report", "device", id, "err", err)
	}
	s.jobs.onReport(id, ac)
	s.maint.agentBack(id)
}

// serverMuxConfig is the agents' yamux configuration on the RCS's side: no
// keepalive goroutine and timer per session (the agent pings, and one
// sweep hangs up on the silent, see sweepSilent), and a backlog sized for
// the few streams the RCS opens to one agent at a time rather than 256.
func serverMuxConfig() *yamux.Config {
	c := wire.MuxConfig(nil)
	c.EnableKeepAlive = false
	c.AcceptBacklog = 16
	return c
}

// open reads the agent's report from its control stream and checks that
// its credential may speak for the device; false when the agent was
// refused or silent (the refusal sent, the session still to close).
func (g *gateway) open(agentID string, sess *yamux.Session) (*agentConn, bool) {
	s := g.s
	actx, cancel := context.WithTimeout(s.ctx, reportTimeout)
	ctl, err := sess.AcceptStreamWithContext(actx)
	cancel()
	if err != nil {
		s.log.Warn("agent gateway: no control stream", "agent", agentID, "err", err)
		return nil, false
	}
	_ = ctl.SetReadDeadline(time.Now().Add(reportTimeout))
	report, err := wire.ReadReport(wire.NewLineReader(ctl))
	if err != nil {
		s.log.Warn("agent gateway: bad report", "agent", agentID, "err", err)
		_ = wire.NewLineWriter(ctl).Write(wire.Event{Time: s.now(), Kind: wire.EventFailed, Error: err.Error(), Fix: "update the agent to this server's version"})
		return nil, false
	}
	_ = ctl.SetReadDeadline(time.Time{})
	// The receive buffer grew to the report's size; the agent sends
	// nothing more on this stream, so an idle agent need not keep it.
	ctl.Shrink()
	g.compact(&report)
	if err := s.bindReport(agentID, report); err != nil {
		ae := toAPIError(err)
		s.log.Warn("agent gateway: report refused", "agent", agentID, "device", report.Info.UUID.String(), "rule", ae.Rule, "err", err)
		_ = wire.NewLineWriter(ctl).Write(wire.Event{Time: s.now(), Kind: wire.EventFailed, Error: ae.Message, Fix: ae.Fix, Status: ae.Status})
		// The agent hangs up when it has read the refusal; a silent one
		// is hung up on.
		_ = ctl.Close()
		t := time.NewTimer(reportTimeout)
		defer t.Stop()
		select {
		case <-sess.CloseChan():
		case <-t.C:
		case <-s.ctx.Done():
		}
		return nil, false
	}
	ac := &agentConn{agentID: agentID, report: report, sess: sess, ctl: ctl, lw: wire.NewLineWriter(ctl)}
	ac.pthi = &relayedPTHI{a: ac, ch: wire.ChannelPTHI}
	ac.mng = &relayedPTHI{a: ac, ch: wire.ChannelManageability}
	return ac, true
}

// sweepSilent hangs up, every keepalive interval, on the agents silent for
// wire.AgentSilence: one timer for the whole gateway where each session
// had its own keepalive goroutine. It returns when the server closes.
func (g *gateway) sweepSilent() {
	t := time.NewTicker(wire.KeepAliveInterval)
	defer t.Stop()
	for {
		select {
		case <-g.s.ctx.Done():
			return
		case <-t.C:
		}
		for _, ac := range g.silent(time.Now().Add(-wire.AgentSilence)) {
			g.s.log.Warn("agent silent; hanging up", "agent", ac.agentID, "device", ac.report.Info.UUID.String(), "silent_for", wire.AgentSilence.String())
			ac.sess.Close()
		}
	}
}

// silent lists the connected agents whose last byte came before since.
func (g *gateway) silent(since time.Time) []*agentConn {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*agentConn
	for _, ac := range g.conns {
		if ac.link != nil && ac.link.lastRead().Before(since) {
			out = append(out, ac)
		}
	}
	return out
}

func (g *gateway) register(id string, ac *agentConn) {
	g.sweep.Do(func() { go g.sweepSilent() })
	g.mu.Lock()
	old := g.conns[id]
	g.conns[id] = ac
	g.mu.Unlock()
	if old != nil {
		// The agent came back on a new connection: the old one is dead
		// or a duplicate.
		old.sess.Close()
	}
}

func (g *gateway) unregister(id string, ac *agentConn) {
	g.mu.Lock()
	last := g.conns[id] == ac
	if last {
		delete(g.conns, id)
	}
	g.mu.Unlock()
	if last {
		g.s.dropAgent(id)
	}
}

// devices lists the devices whose agents are connected here.
func (g *gateway) devices() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ids := make([]string, 0, len(g.conns))
	for id := range g.conns {
		ids = append(ids, id)
	}
	return ids
}

func (g *gateway) conn(id string) *agentConn {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conns[id]
}

// send forwards an event to the device's agent, if it is connected.
func (g *gateway) send(id string, ev wire.Event) {
	if ac := g.conn(id); ac != nil {
		ac.send(ev)
	}
}

// disconnect ends the live sessions of an agent (a revoked one, or one an
// admin moved to another device).
func (g *gateway) disconnect(agentID string) {
	g.mu.Lock()
	var conns []*agentConn
	for _, c := range g.conns {
		if c.agentID == agentID {
			conns = append(conns, c)
		}
	}
	g.mu.Unlock()
	for _, c := range conns {
		c.sess.Close()
	}
}

func (g *gateway) closeAll() {
	g.mu.Lock()
	conns := make([]*agentConn, 0, len(g.conns))
	for _, c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	for _, c := range conns {
		c.sess.Close()
	}
}

// handleEnroll trades a one-time token for an agent credential.
func (g *gateway) handleEnroll(w http.ResponseWriter, r *http.Request) {
	var req wire.EnrollRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if len(req.Hostname) > 253 {
		req.Hostname = req.Hostname[:253]
	}
	id, cred, err := g.s.enroll(req.Token, req.Hostname)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.EnrollResponse{AgentID: id, Credential: cred})
}
