package wsman

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// Handler answers one WS-Management request. It returns the response body
// element (nil for an empty Body), or an error: a *Fault is sent as is, any
// other error as an InternalError fault whose text stays in the server log.
type Handler func(ctx context.Context, r *Request) (any, error)

// Request is a decoded request as a Handler sees it.
type Request struct {
	Header Header
	// Username is the digest user that authenticated ("" without Auth).
	Username string

	// body is the request's Body as the Mux recorded it while checking
	// the envelope, so that Decode does not parse the envelope again.
	body *bodyRecording
}

// Decode decodes the request's body element into v. A body that does not
// match v is a SchemaValidationError fault, which the handler can return.
func (r *Request) Decode(v any) error {
	var present bool
	var err error
	if r.body != nil {
		present, err = r.body.decodeBody(v)
	} else {
		// A Request the Mux did not make has no envelope.
		_, present, err = decodeEnvelope(bytes.NewReader(nil), Limits{}, v)
	}
	if err != nil {
		return faultf(SubcodeSchemaValidationError, "", "The request body does not match %T: %v", v, err)
	}
	if !present {
		return faultf(SubcodeSchemaValidationError, "", "The request body is empty; want %T", v)
	}
	return nil
}

// Mux dispatches requests on (ResourceURI, Action) to handlers, behind
// digest authentication and the decoding caps, and writes responses in the
// shape AMT firmware does.
type Mux struct {
	// Limits caps request bodies.
	Limits Limits
	// Auth, when set, authenticates every request.
	Auth *DigestAuth
	// Logger receives handler errors (never credentials); nil discards them.
	Logger *slog.Logger
	// PageSize is the number of items per PullResponse of enumerations
	// served by HandleEnumeration (default 20; Pull's MaxElements lowers it).
	PageSize int

	mu     sync.RWMutex
	routes map[string]map[string]Handler
	nextID atomic.Uint64
	enums  enumerations
}

var _ http.Handler = (*Mux)(nil)

// NewMux is an empty Mux with default limits and no authentication.
func NewMux() *Mux { return &Mux{} }

// Handle routes action on resourceURI to h, replacing any previous handler.
func (m *Mux) Handle(resourceURI, action string, h Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.routes == nil {
		m.routes = make(map[string]map[string]Handler)
	}
	if m.routes[resourceURI] == nil {
		m.routes[resourceURI] = make(map[string]Handler)
	}
	m.routes[resourceURI][action] = h
}

// HandleMethod routes the method of the class at resourceURI to h.
func (m *Mux) HandleMethod(resourceURI, method string, h Handler) {
	m.Handle(resourceURI, MethodAction(resourceURI, method), h)
}

func (m *Mux) route(resourceURI, action string) (Handler, *Fault) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	actions, ok := m.routes[resourceURI]
	if !ok {
		return nil, faultf(SubcodeDestinationUnreachable, "", "No route can be determined to reach the destination role defined by the WS-Addressing To: resource %q is not served.", resourceURI)
	}
	h, ok := actions[action]
	if !ok {
		return nil, faultf(SubcodeActionNotSupported, "", "The action %q is not supported by the service for %s.", action, className(resourceURI))
	}
	return h, nil
}

func (m *Mux) messageID() string {
	return messageID(m.nextID.Add(1))
}

// messageID is the firmware-shaped message ID for sequence number n: the
// last group is n in 12 upper-case hex digits (more when n needs them).
func messageID(n uint64) string {
	const prefix = "uuid:00000000-8086-8086-8086-"
	var b [len(prefix) + 16]byte
	copy(b[:], prefix)
	hex := strconv.AppendUint(b[len(prefix):len(prefix)], n, 16)
	digits := len(hex)
	width := max(digits, 12)
	out := b[:len(prefix)+width]
	// Right-align the digits, pad with zeros, upper-case as %X does.
	copy(out[len(prefix)+width-digits:], hex)
	for i := len(prefix); i < len(prefix)+width-digits; i++ {
		out[i] = '0'
	}
	for i := len(prefix); i < len(out); i++ {
		if c := out[i]; c >= 'a' && c <= 'f' {
			out[i] = c - 'a' + 'A'
		}
	}
	return string(out)
}

// ServeHTTP answers one POST of a SOAP envelope.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "WS-Management accepts POST only", http.StatusMethodNotAllowed)
		return
	}
	var user string
	if m.Auth != nil {
		var ok bool
		if user, ok = m.Auth.Authenticate(w, r); !ok {
			return
		}
	}
	lim := m.Limits.withDefaults()
	raw := getBuffer()
	defer putBuffer(raw)
	if _, err := raw.ReadFrom(&limitedReader{r: r.Body, n: lim.MaxBodyBytes, limit: lim.MaxBodyBytes}); err != nil {
		m.writeFault(w, &Header{}, m.decodeFault(err))
		return
	}
	rec := new(bodyRecording)
	h, _, err := decodeRecording(bytes.NewReader(raw.Bytes()), lim, nil, rec)
	if err != nil {
		m.writeFault(w, &Header{}, m.decodeFault(err))
		return
	}
	handler, fault := m.route(h.ResourceURI, h.Action)
	if fault != nil {
		m.writeFault(w, h, fault)
		return
	}
	req := &Request{Header: *h, Username: user, body: rec}
	body, err := handler(r.Context(), req)
	if err != nil {
		var f *Fault
		if !errors.As(err, &f) {
			if m.Logger != nil {
				m.Logger.Warn("wsman handler failed", "resource", h.ResourceURI, "action", h.Action, "err", err)
			}
			f = NewFault(SubcodeInternalError, "")
		}
		m.writeFault(w, h, f)
		return
	}
	b := getBuffer()
	defer putBuffer(b)
	if err := appendResponse(b, ResponseHeader{Action: ResponseAction(h.Action), RelatesTo: h.MessageID, MessageID: m.messageID(), ResourceURI: h.ResourceURI}, body); err != nil {
		if m.Logger != nil {
			m.Logger.Error("wsman response encoding failed", "resource", h.ResourceURI, "action", h.Action, "err", err)
		}
		m.writeFault(w, h, NewFault(SubcodeInternalError, ""))
		return
	}
	writeSOAP(w, http.StatusOK, b.Bytes())
}

func (m *Mux) decodeFault(err error) *Fault {
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return faultf(SubcodeEncodingLimit, DetailMaxEnvelopeSize, "%v", err)
	case errors.Is(err, ErrTooDeep):
		return faultf(SubcodeEncodingLimit, "", "%v", err)
	}
	return faultf(SubcodeSchemaValidationError, "", "The request is not a SOAP 1.2 envelope: %v", err)
}

func (m *Mux) writeFault(w http.ResponseWriter, h *Header, f *Fault) {
	b := getBuffer()
	defer putBuffer(b)
	// A fault has no element that can fail to encode.
	_ = appendResponse(b, ResponseHeader{Action: f.action(), RelatesTo: h.MessageID, MessageID: m.messageID()}, f)
	status := http.StatusBadRequest
	if f.Code == "Receiver" {
		status = http.StatusInternalServerError
	}
	writeSOAP(w, status, b.Bytes())
}

func writeSOAP(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// MaxEnumerations bounds the enumerations a Mux keeps open; the oldest is
// dropped first, as a client that never finishes must not hold memory.
const MaxEnumerations = 256

type enumState struct {
	resource string
	items    []any
	seq      uint64
}

type enumerations struct {
	mu   sync.Mutex
	open map[string]*enumState
	seq  uint64
}

func (e *enumerations) start(resource string, items []any) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.open == nil {
		e.open = make(map[string]*enumState)
	}
	if len(e.open) >= MaxEnumerations {
		var oldest string
		var oldestSeq uint64
		for k, s := range e.open {
			if oldest == "" || s.seq < oldestSeq {
				oldest, oldestSeq = k, s.seq
			}
		}
		delete(e.open, oldest)
	}
	e.seq++
	e.open[id] = &enumState{resource: resource, items: items, seq: e.seq}
	return id
}

// next takes up to n items of enumeration id; more reports whether items
// remain (the context stays open) or not (it is closed).
func (e *enumerations) next(id, resource string, n int) (items []any, more bool, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, found := e.open[id]
	if !found || s.resource != resource {
		return nil, false, false
	}
	if n >= len(s.items) {
		delete(e.open, id)
		return s.items, false, true
	}
	items, s.items = s.items[:n], s.items[n:]
	return items, true, true
}

func (e *enumerations) release(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.open[id]
	delete(e.open, id)
	return ok
}

// HandleEnumeration serves Enumerate, Pull and Release on resourceURI over
// the instances that list returns when the enumeration starts. Each item is
// an instance struct (for example *GeneralSettings).
func (m *Mux) HandleEnumeration(resourceURI string, list func(ctx context.Context, r *Request) ([]any, error)) {
	m.Handle(resourceURI, ActionEnumerate, func(ctx context.Context, r *Request) (any, error) {
		items, err := list(ctx, r)
		if err != nil {
			return nil, err
		}
		return &EnumerateResponse{EnumerationContext: m.enums.start(resourceURI, items)}, nil
	})
	m.Handle(resourceURI, ActionPull, func(_ context.Context, r *Request) (any, error) {
		var p PullRequest
		if err := r.Decode(&p); err != nil {
			return nil, err
		}
		n := m.PageSize
		if n <= 0 {
			n = 20
		}
		if p.MaxElements > 0 && p.MaxElements < n {
			n = p.MaxElements
		}
		items, more, ok := m.enums.next(p.EnumerationContext, resourceURI, n)
		if !ok {
			return nil, NewFault(SubcodeInvalidEnumerationContext, "")
		}
		next := ""
		if more {
			next = p.EnumerationContext
		}
		return NewPullResponse(items, next), nil
	})
	m.Handle(resourceURI, ActionRelease, func(_ context.Context, r *Request) (any, error) {
		var rel struct {
			EnumerationContext string `xml:"EnumerationContext"`
		}
		if err := r.Decode(&rel); err != nil {
			return nil, err
		}
		if !m.enums.release(rel.EnumerationContext) {
			return nil, NewFault(SubcodeInvalidEnumerationContext, "")
		}
		return nil, nil
	})
}
