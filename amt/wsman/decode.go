package wsman

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Limits bound what a decoder accepts from the other side. The zero value of
// a field means its default.
type Limits struct {
	// MaxBodyBytes caps the bytes of one envelope (default 1 MiB; the
	// largest AMT response, a pull of certificates, is a few tens of KiB).
	MaxBodyBytes int64
	// MaxDepth caps element nesting (default 64; AMT's deepest message,
	// an endpoint reference inside a selector, is 10 deep).
	MaxDepth int
}

// Default limits.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxDepth     = 64
)

func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// Sentinel errors of the decoding caps; the returned errors wrap them with
// the limit and the fix.
var (
	ErrBodyTooLarge = errors.New("wsman: message body too large")
	ErrTooDeep      = errors.New("wsman: XML nested too deeply")
	ErrNotEnvelope  = errors.New("wsman: not a SOAP 1.2 envelope")
)

// limitedReader fails, rather than truncating, once more than n bytes were
// read: a silently cut envelope would decode as a confusing syntax error.
type limitedReader struct {
	r     io.Reader
	n     int64
	limit int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// Let the caller see EOF when the body ends exactly at the limit.
		var one [1]byte
		if k, err := l.r.Read(one[:]); k == 0 {
			return 0, err
		}
		return 0, fmt.Errorf("%w: more than %d bytes (Limits.MaxBodyBytes); the peer is not AMT firmware or the limit is too small", ErrBodyTooLarge, l.limit)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}

// depthReader counts element nesting as the tokens stream by, so a hostile
// peer cannot make the decoder build an arbitrarily deep stack. When rec is
// set it also keeps copies of raw tokens (see bodyRecording).
type depthReader struct {
	d     *xml.Decoder
	depth int
	max   int
	rec   *bodyRecording
	// last is a copy of the latest start element at the top two levels
	// (Envelope, Header, Body), kept while recording.
	last xml.StartElement
}

func (r *depthReader) Token() (xml.Token, error) {
	t, err := r.d.RawToken()
	switch s := t.(type) {
	case xml.StartElement:
		r.depth++
		if r.depth > r.max {
			return nil, fmt.Errorf("%w: more than %d levels (Limits.MaxDepth); AMT messages nest at most 10", ErrTooDeep, r.max)
		}
		if r.rec != nil && r.depth <= 2 {
			r.last = s.Copy()
		}
	case xml.EndElement:
		r.depth--
	}
	if r.rec != nil && r.rec.on && t != nil {
		// Raw tokens point into the decoder's buffer, and the namespace
		// translation above rewrites attribute names in place: keep copies.
		r.rec.toks = append(r.rec.toks, xml.CopyToken(t))
	}
	return t, err
}

// bodyRecording keeps the raw tokens of an envelope's Body elements, inside the
// Envelope start element whose namespace declarations they need, so that
// the Mux parses a request once and a handler's Request.Decode replays the
// body instead of parsing the whole envelope again.
type bodyRecording struct {
	on   bool
	toks []xml.Token
	// actions holds, for each Body, the Action header decoded before it,
	// which errors name as a full decode would.
	actions []string
}

// decodeBody decodes the recorded body into body exactly as decodeEnvelope
// would decode the envelope the tokens came from: the envelope was checked
// when it was recorded (syntax, depth, size), so only the body can fail.
func (rec *bodyRecording) decodeBody(body any) (bool, error) {
	d := xml.NewTokenDecoder(&replay{toks: rec.toks})
	if _, err := d.Token(); err != nil { // the Envelope
		return false, fmt.Errorf("wsman: read envelope: %w", err)
	}
	var fault *Fault
	present := false
	bodies := 0
	for {
		t, err := d.Token()
		if err != nil {
			return false, fmt.Errorf("wsman: read envelope: %w", err)
		}
		switch t.(type) {
		case xml.StartElement: // a Body: nothing else was recorded
			fault, present, err = decodeBody(d, body)
			if err != nil {
				return false, fmt.Errorf("wsman: decode body of %s: %w", rec.actions[bodies], err)
			}
			bodies++
		case xml.EndElement:
			if fault != nil {
				return false, fault
			}
			return present, nil
		}
	}
}

// replay hands out recorded tokens. A start element's attributes are copied
// again on the way out, as the decoder translates them in place and a
// handler may decode the same request more than once, or concurrently.
type replay struct {
	toks []xml.Token
}

func (r *replay) Token() (xml.Token, error) {
	if len(r.toks) == 0 {
		return nil, io.EOF
	}
	t := r.toks[0]
	r.toks = r.toks[1:]
	if s, ok := t.(xml.StartElement); ok && len(s.Attr) > 0 {
		t = s.Copy()
	}
	return t, nil
}

// bufReaders keeps the read buffers of streamed bodies (a response from the
// network): the decoder would otherwise allocate 4 KiB for each message.
var bufReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// decoderInput is what the tokenizer reads r through, and a function that
// gives back what it borrowed. A body already in memory within the limit is
// read directly: the limit cannot trip and it reads byte by byte cheaply.
func decoderInput(r io.Reader, lim Limits) (io.Reader, func()) {
	var n int
	switch v := r.(type) {
	case *bytes.Reader:
		n = v.Len()
	case *strings.Reader:
		n = v.Len()
	case *bytes.Buffer:
		n = v.Len()
	default:
		n = -1
	}
	if n >= 0 && int64(n) <= lim.MaxBodyBytes {
		return r, func() {}
	}
	br := bufReaders.Get().(*bufio.Reader)
	br.Reset(&limitedReader{r: r, n: lim.MaxBodyBytes, limit: lim.MaxBodyBytes})
	return br, func() {
		br.Reset(nil)
		bufReaders.Put(br)
	}
}

// newDecoder decodes r within lim; done must be called when the decoder is
// no longer used.
func newDecoder(r io.Reader, lim Limits) (d *xml.Decoder, dr *depthReader, done func()) {
	lim = lim.withDefaults()
	in, done := decoderInput(r, lim)
	dr = &depthReader{d: xml.NewDecoder(in), max: lim.MaxDepth}
	return xml.NewTokenDecoder(dr), dr, done
}

// DecodeEnvelope reads one envelope from r within lim. It returns the header
// and decodes the first element of the Body into body (skipped when body is
// nil). A SOAP fault in the Body is returned as a *Fault error, with the
// header. An empty Body leaves body untouched.
func DecodeEnvelope(r io.Reader, lim Limits, body any) (*Header, error) {
	h, _, err := decodeEnvelope(r, lim, body)
	return h, err
}

// decodeEnvelope also reports whether the Body had an element.
func decodeEnvelope(r io.Reader, lim Limits, body any) (*Header, bool, error) {
	return decodeRecording(r, lim, body, nil)
}

// decodeRecording is decodeEnvelope that, with rec, records the Envelope
// and Body elements for a later rec.decodeBody.
func decodeRecording(r io.Reader, lim Limits, body any, rec *bodyRecording) (*Header, bool, error) {
	d, dr, done := newDecoder(r, lim)
	defer done()
	dr.rec = rec
	var h Header
	root, err := nextStart(d)
	if err != nil {
		return nil, false, fmt.Errorf("wsman: read envelope: %w", err)
	}
	if root.Name.Space != NSSOAP || root.Name.Local != "Envelope" {
		return nil, false, fmt.Errorf("%w: root element is {%s}%s, want {%s}Envelope", ErrNotEnvelope, root.Name.Space, root.Name.Local, NSSOAP)
	}
	if rec != nil {
		// The root's namespace declarations are needed to replay the body.
		rec.toks = append(rec.toks[:0], dr.last)
		rec.actions = rec.actions[:0]
	}
	var fault *Fault
	present := false
	for {
		t, err := d.Token()
		if err != nil {
			return nil, false, fmt.Errorf("wsman: read envelope: %w", err)
		}
		switch t := t.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Space == NSSOAP && t.Name.Local == "Header":
				if err := decodeHeader(d, &h); err != nil {
					return nil, false, fmt.Errorf("wsman: decode header: %w", err)
				}
				h.trim()
			case t.Name.Space == NSSOAP && t.Name.Local == "Body":
				if rec != nil {
					rec.toks = append(rec.toks, dr.last)
					rec.actions = append(rec.actions, h.Action)
					rec.on = true
				}
				fault, present, err = decodeBody(d, body)
				if rec != nil {
					rec.on = false
				}
				if err != nil {
					return &h, false, fmt.Errorf("wsman: decode body of %s: %w", h.Action, err)
				}
			default:
				if err := d.Skip(); err != nil {
					return nil, false, fmt.Errorf("wsman: read envelope: %w", err)
				}
			}
		case xml.EndElement:
			// The decoder has checked that this closes the Envelope; what
			// follows it must be only white space, comments or EOF.
			if err := expectEOF(d); err != nil {
				return nil, false, err
			}
			if rec != nil {
				rec.toks = append(rec.toks, xml.EndElement{Name: rec.toks[0].(xml.StartElement).Name})
			}
			if fault != nil {
				fault.Action = h.Action
				return &h, false, fault
			}
			return &h, present, nil
		}
	}
}

func decodeBody(d *xml.Decoder, body any) (*Fault, bool, error) {
	var fault *Fault
	present := false
	for {
		t, err := d.Token()
		if err != nil {
			return nil, false, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			switch {
			case present:
				// AMT sends one body element; ignore any extension after it.
				err = d.Skip()
			case t.Name.Space == NSSOAP && t.Name.Local == "Fault":
				var f faultXML
				if err = d.DecodeElement(&f, &t); err == nil {
					fault = f.fault()
				}
			case body != nil:
				err = d.DecodeElement(body, &t)
			default:
				err = d.Skip()
			}
			if err != nil {
				return nil, false, fmt.Errorf("element {%s}%s: %w", t.Name.Space, t.Name.Local, err)
			}
			present = true
		case xml.EndElement:
			return fault, present && fault == nil, nil
		}
	}
}

func nextStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		t, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return xml.StartElement{}, fmt.Errorf("%w: no root element", ErrNotEnvelope)
			}
			return xml.StartElement{}, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData, xml.Comment, xml.ProcInst, xml.Directive:
		}
	}
}

func expectEOF(d *xml.Decoder) error {
	for {
		t, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("wsman: after envelope: %w", err)
		}
		if _, ok := t.(xml.StartElement); ok {
			return fmt.Errorf("%w: a second root element follows the Envelope", ErrNotEnvelope)
		}
	}
}

// decodeHeader decodes the children of a Header element into h as
// d.DecodeElement(h, start) does, without reflection: every request and
// response has a header, and most of a request is its header. Like
// encoding/xml it matches names with their namespaces, keeps the direct
// character data of a value (skipping nested elements), lets a repeated
// element overwrite the value, appends the selectors of every SelectorSet,
// and skips what it does not know. FuzzDecodeHeader holds it to that.
func decodeHeader(d *xml.Decoder, h *Header) error {
	return eachChild(d, func(t xml.StartElement) error {
		var field *string
		switch t.Name.Space {
		case NSAddressing:
			switch t.Name.Local {
			case "To":
				field = &h.To
			case "RelatesTo":
				field = &h.RelatesTo
			case "Action":
				field = &h.Action
			case "MessageID":
				field = &h.MessageID
			case "ReplyTo":
				return decodeReplyTo(d, &h.ReplyTo)
			}
		case NSWSMan:
			switch t.Name.Local {
			case "ResourceURI":
				field = &h.ResourceURI
			case "OperationTimeout":
				field = &h.OperationTimeout
			case "SelectorSet":
				return decodeSelectorSet(d, &h.SelectorSet)
			}
		}
		if field == nil {
			return d.Skip()
		}
		var err error
		*field, err = elementText(d)
		return err
	})
}

func decodeReplyTo(d *xml.Decoder, r *replyTo) error {
	return eachChild(d, func(t xml.StartElement) error {
		if t.Name.Space != NSAddressing || t.Name.Local != "Address" {
			return d.Skip()
		}
		var err error
		r.Address, err = elementText(d)
		return err
	})
}

func decodeSelectorSet(d *xml.Decoder, set *[]Selector) error {
	return eachChild(d, func(t xml.StartElement) error {
		if t.Name.Space != NSWSMan || t.Name.Local != "Selector" {
			return d.Skip()
		}
		var s Selector
		if err := d.DecodeElement(&s, &t); err != nil {
			return err
		}
		*set = append(*set, s)
		return nil
	})
}

// eachChild walks the children of an element whose start was just read,
// up to and including its end. child gets each child's start and must read
// that child to its end (decode or skip it), so that the walk stays at one
// depth.
func eachChild(d *xml.Decoder, child func(t xml.StartElement) error) error {
	for {
		t, err := d.Token()
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.StartElement:
			if err := child(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// elementText reads the rest of an element whose start was just read and
// returns its own character data, as encoding/xml fills a string field.
func elementText(d *xml.Decoder) (string, error) {
	var text string
	var buf []byte
	n := 0
	for {
		t, err := d.Token()
		if err != nil {
			return "", err
		}
		switch t := t.(type) {
		case xml.StartElement:
			if err := d.Skip(); err != nil {
				return "", err
			}
		case xml.CharData:
			// One piece of text is the common case: convert it directly.
			switch n++; n {
			case 1:
				text = string(t)
			case 2:
				buf = append(append(buf, text...), t...)
			default:
				buf = append(buf, t...)
			}
		case xml.EndElement:
			if n > 1 {
				return string(buf), nil
			}
			return text, nil
		}
	}
}
