package wsman

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
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
// peer cannot make the decoder build an arbitrarily deep stack.
type depthReader struct {
	d     *xml.Decoder
	depth int
	max   int
}

func (r *depthReader) Token() (xml.Token, error) {
	t, err := r.d.RawToken()
	switch t.(type) {
	case xml.StartElement:
		r.depth++
		if r.depth > r.max {
			return nil, fmt.Errorf("%w: more than %d levels (Limits.MaxDepth); AMT messages nest at most 10", ErrTooDeep, r.max)
		}
	case xml.EndElement:
		r.depth--
	}
	return t, err
}

func newDecoder(r io.Reader, lim Limits) *xml.Decoder {
	lim = lim.withDefaults()
	raw := xml.NewDecoder(&limitedReader{r: r, n: lim.MaxBodyBytes, limit: lim.MaxBodyBytes})
	return xml.NewTokenDecoder(&depthReader{d: raw, max: lim.MaxDepth})
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
	d := newDecoder(r, lim)
	var h Header
	root, err := nextStart(d)
	if err != nil {
		return nil, false, fmt.Errorf("wsman: read envelope: %w", err)
	}
	if root.Name.Space != NSSOAP || root.Name.Local != "Envelope" {
		return nil, false, fmt.Errorf("%w: root element is {%s}%s, want {%s}Envelope", ErrNotEnvelope, root.Name.Space, root.Name.Local, NSSOAP)
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
				if err := d.DecodeElement(&h, &t); err != nil {
					return nil, false, fmt.Errorf("wsman: decode header: %w", err)
				}
				h.trim()
			case t.Name.Space == NSSOAP && t.Name.Local == "Body":
				fault, present, err = decodeBody(d, body)
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
