package amtsim

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/amtrcs/amtrcs/agent/capture"
	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amt/wsman"
)

// Replay is a device made from a capture (package capture): it answers as
// the captured device did. Host-interface and manageability requests get
// the recorded reply to the same bytes, WS-MAN requests on 16992 the
// recorded response to the same action, resource URI and selectors. A
// request asked more often than it was recorded gets its last answer
// again; one never recorded gets an error naming it. The blanked local
// system account is replaced by a fresh random one, and digest
// authentication accepts any password for the users the capture saw.
type Replay struct {
	source string
	uuid   amt.UUID
	header capture.Header
	realm  string
	lsa    localAccount
	users  map[string]bool // digest users accepted besides the fresh account

	mu    sync.Mutex
	pthi  map[string]*answers
	mng   map[string]*answers
	wsman map[string]*answers
	tls   bool // the capture saw port 16993
	notes []string
}

type answers struct {
	replies []string
	next    int
}

func (a *answers) take() string {
	r := a.replies[min(a.next, len(a.replies)-1)]
	a.next++
	return r
}

func record(m map[string]*answers, key, reply string) {
	a := m[key]
	if a == nil {
		a = &answers{}
		m[key] = a
	}
	a.replies = append(a.replies, reply)
}

// LoadReplay reads a capture file into a replayed device.
func LoadReplay(path string) (*Replay, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("amtsim: replay: %w", err)
	}
	defer f.Close()
	c, err := capture.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("amtsim: replay %s: %w", path, err)
	}
	return NewReplay(path, c)
}

// NewReplay makes a replayed device of a parsed capture; source names it
// in errors.
func NewReplay(source string, c *capture.File) (*Replay, error) {
	r := &Replay{source: source, header: c.Header, realm: "Digest:AMTSIM", lsa: newLocalAccount(), users: map[string]bool{},
		pthi: map[string]*answers{}, mng: map[string]*answers{}, wsman: map[string]*answers{}}
	haveUUID := false
	for i, rec := range c.Records {
		if rec.Error != "" || rec.Reply == "" {
			continue
		}
		switch rec.Kind {
		case capture.KindPTHI:
			record(r.pthi, rec.Request, rec.Reply)
			if !haveUUID {
				raw, _ := hex.DecodeString(rec.Reply)
				if st, body, err := hostif.DecodeResponse(raw, amt.CmdGetUUID); err == nil && st == amt.HostSuccess && len(body) >= 16 {
					copy(r.uuid[:], body)
					haveUUID = true
				}
			}
		case capture.KindMng:
			record(r.mng, rec.Request, rec.Reply)
		case capture.KindTLS:
			r.tls = true
		case capture.KindHTTP:
			if err := r.recordHTTP(rec); err != nil {
				return nil, fmt.Errorf("amtsim: replay %s: record %d: %w", source, i+1, err)
			}
		}
	}
	if !haveUUID {
		return nil, fmt.Errorf("amtsim: replay %s: no successful GetUUID reply in the capture; want a capture of `amtrcs agent info` or `amtrcs agent`, which read it first", source)
	}
	users := make([]string, 0, len(r.users))
	for u := range r.users {
		users = append(users, u)
	}
	sort.Strings(users)
	note := "digest: any password is accepted for the fresh local system account"
	if len(users) > 0 {
		note += " and for " + strings.Join(users, ", ")
	}
	r.notes = append(r.notes, note+" (a replay checks no password)")
	if r.tls {
		r.notes = append(r.notes, "port 16993 was recorded as byte counts only (TLS the RCS terminates): it is not replayed")
	}
	return r, nil
}

var digestParam = regexp.MustCompile(`(\w+)="?([^",]*)"?`)

func digestParams(v string) map[string]string {
	p := map[string]string{}
	for _, m := range digestParam.FindAllStringSubmatch(v, -1) {
		p[strings.ToLower(m[1])] = m[2]
	}
	return p
}

func (r *Replay) recordHTTP(rec capture.Record) error {
	req, body, err := capture.ReadRequestText(rec.Request)
	if err != nil {
		return err
	}
	if u := digestParams(req.Header.Get("Authorization"))["username"]; u != "" && u != capture.Blank {
		r.users[u] = true
	}
	resp, _, err := capture.ReadResponseText(rec.Reply)
	if err != nil {
		return err
	}
	if realm := digestParams(resp.Header.Get("WWW-Authenticate"))["realm"]; realm != "" {
		r.realm = realm
	}
	if resp.StatusCode == http.StatusUnauthorized {
		// The replay runs its own digest exchange.
		return nil
	}
	key, err := wsmanKey(body)
	if err != nil {
		return err
	}
	record(r.wsman, key, rec.Reply)
	return nil
}

// wsmanKey is what a WS-MAN request is matched by: action, resource URI
// and selectors.
func wsmanKey(body []byte) (string, error) {
	h, err := wsman.DecodeEnvelope(bytes.NewReader(body), wsman.Limits{}, nil)
	if h == nil {
		return "", fmt.Errorf("WS-MAN request: %v; want a SOAP envelope", err)
	}
	sel := make([]string, 0, len(h.SelectorSet))
	for _, s := range h.SelectorSet {
		sel = append(sel, s.Name+"="+s.Text())
	}
	sort.Strings(sel)
	return "action " + h.Action + " resource " + h.ResourceURI + " selectors [" + strings.Join(sel, " ") + "]", nil
}

// ID is the UUID the captured device reported.
func (r *Replay) ID() amt.UUID { return r.uuid }

// Header is the capture's header line.
func (r *Replay) Header() capture.Header { return r.header }

// Notes say where the replay differs from the captured device.
func (r *Replay) Notes() []string { return append([]string(nil), r.notes...) }

// Host is the replayed host interface.
func (r *Replay) Host() hostif.Transport { return hostif.TransportFunc(r.hostCall) }

// Manageability is the replayed manageability client.
func (r *Replay) Manageability() hostif.Transport { return hostif.TransportFunc(r.mngCall) }

func (r *Replay) hostCall(_ context.Context, req []byte) ([]byte, error) {
	reply, err := r.answer(r.pthi, "host interface", req)
	if err != nil {
		return nil, err
	}
	if st, _, derr := hostif.DecodeResponse(reply, amt.CmdGetLocalSystemAccount); derr == nil && st == amt.HostSuccess {
		// The capture holds the account blanked; this replay has its own.
		const off, field = amt.HostHeaderLen + 4, 33
		for i, v := range []string{r.lsa.User, r.lsa.Password} {
			start := off + i*field
			if start+field <= len(reply) {
				clear(reply[start : start+field])
				copy(reply[start:], v)
			}
		}
	}
	return reply, nil
}

func (r *Replay) mngCall(_ context.Context, req []byte) ([]byte, error) {
	return r.answer(r.mng, "manageability client", req)
}

func (r *Replay) answer(m map[string]*answers, client string, req []byte) ([]byte, error) {
	key := hex.EncodeToString(req)
	r.mu.Lock()
	a := m[key]
	var reply string
	if a != nil {
		reply = a.take()
	}
	r.mu.Unlock()
	if a == nil {
		what := fmt.Sprintf("request % X", truncBytes(req))
		if cmd, body, err := hostif.DecodeRequest(req); err == nil && client == "host interface" {
			what = fmt.Sprintf("%v with body % X", cmd, truncBytes(body))
		}
		return nil, fmt.Errorf("amtsim: replay %s: %s %s was not recorded; capture the PC doing this call (`amtrcs agent --capture`) to replay it", r.source, client, what)
	}
	return hex.DecodeString(reply)
}

func truncBytes(b []byte) []byte {
	if len(b) > 24 {
		return b[:24]
	}
	return b
}

// DialLMS serves 16992 from the capture; 16993 was recorded as byte counts
// only and is refused.
func (r *Replay) DialLMS(ctx context.Context, port int) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if port != PortHTTP {
		return nil, fmt.Errorf("amtsim: replay %s port %d: %w (a capture holds WS-MAN of port 16992 only: 16993 is TLS the RCS terminates, recorded as byte counts)", r.source, port, ErrPortClosed)
	}
	client, server := net.Pipe()
	go r.serveHTTP(server)
	return client, nil
}

func (r *Replay) serveHTTP(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		if err != nil {
			return
		}
		if err := r.respond(c, req, body); err != nil || req.Close {
			return
		}
	}
}

func (r *Replay) authorized(req *http.Request) bool {
	v := req.Header.Get("Authorization")
	if !strings.HasPrefix(strings.ToLower(v), "digest ") {
		return false
	}
	u := digestParams(v)["username"]
	return u == r.lsa.User || r.users[u]
}

func (r *Replay) respond(w io.Writer, req *http.Request, body []byte) error {
	if !r.authorized(req) {
		nonce := make([]byte, 16)
		_, _ = rand.Read(nonce)
		h := http.Header{}
		h.Set("WWW-Authenticate", fmt.Sprintf(`Digest realm="%s", nonce="%x", stale="false", qop="auth"`, r.realm, nonce))
		return writeResponse(w, http.StatusUnauthorized, h, nil)
	}
	key, err := wsmanKey(body)
	if err != nil {
		return writeResponse(w, http.StatusBadRequest, http.Header{"Content-Type": {"text/plain"}}, []byte("amtsim replay: "+err.Error()))
	}
	h, _ := wsman.DecodeEnvelope(bytes.NewReader(body), wsman.Limits{}, nil)
	r.mu.Lock()
	a := r.wsman[key]
	var text string
	if a != nil {
		text = a.take()
	}
	r.mu.Unlock()
	if a == nil {
		f := wsman.NewFault(wsman.SubcodeActionNotSupported, "")
		f.Reason = fmt.Sprintf("amtsim replay %s: WS-MAN %s was not recorded; capture the PC doing this call (`amtrcs agent --capture`) to replay it", r.source, key)
		var b bytes.Buffer
		_ = wsman.WriteResponse(&b, wsman.ResponseHeader{Action: wsman.ActionAddressingFault, RelatesTo: h.MessageID, MessageID: "uuid:replay-fault"}, f)
		return writeResponse(w, http.StatusBadRequest, http.Header{"Content-Type": {"application/soap+xml;charset=UTF-8"}}, b.Bytes())
	}
	resp, rbody, err := capture.ReadResponseText(text)
	if err != nil {
		return err
	}
	// The client pairs a response with its request by RelatesTo.
	rbody = relatesTo.ReplaceAll(rbody, []byte("${1}"+escapeXML(h.MessageID)+"${2}"))
	return writeResponse(w, resp.StatusCode, resp.Header, rbody)
}

var relatesTo = regexp.MustCompile(`(<(?:[\w.-]+:)?RelatesTo>)[^<]*(</(?:[\w.-]+:)?RelatesTo>)`)

func escapeXML(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return strings.ReplaceAll(b.String(), "$", "$$")
}

func writeResponse(w io.Writer, status int, h http.Header, body []byte) error {
	h = h.Clone()
	h.Del("Transfer-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	resp := &http.Response{StatusCode: status, ProtoMajor: 1, ProtoMinor: 1, Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
	return resp.Write(w)
}
