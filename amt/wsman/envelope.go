package wsman

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Header is the SOAP header of a WS-Management message, request or response.
// Decoding trims the white space some firmware leaves around values (an
// Action on its own line, for example).
type Header struct {
	To               string     `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing To"`
	RelatesTo        string     `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing RelatesTo"`
	Action           string     `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
	MessageID        string     `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
	ReplyTo          replyTo    `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing ReplyTo"`
	ResourceURI      string     `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
	SelectorSet      []Selector `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet>Selector"`
	OperationTimeout string     `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
}

type replyTo struct {
	Address string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Address"`
}

// Selector returns the value of the selector called name, and whether the
// header has it.
func (h *Header) Selector(name string) (string, bool) {
	for _, s := range h.SelectorSet {
		if s.Name == name {
			return s.Text(), true
		}
	}
	return "", false
}

func (h *Header) trim() {
	for _, p := range []*string{&h.To, &h.RelatesTo, &h.Action, &h.MessageID, &h.ReplyTo.Address, &h.ResourceURI, &h.OperationTimeout} {
		*p = strings.TrimSpace(*p)
	}
}

// Selector picks one instance of a class: InstanceID, Name, or (for
// association classes) an endpoint reference.
type Selector struct {
	Name  string             `xml:"Name,attr"`
	Value string             `xml:",chardata"`
	EPR   *EndpointReference `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing EndpointReference,omitempty"`
}

// Text is the selector's value without surrounding white space.
func (s Selector) Text() string { return strings.TrimSpace(s.Value) }

// EndpointReference points at an instance: the address, the class resource
// URI and the selectors. AMT returns one for each object a method creates.
type EndpointReference struct {
	Address             string              `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Address"`
	ReferenceParameters ReferenceParameters `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing ReferenceParameters"`
}

// ReferenceParameters are the resource URI and selectors of an endpoint
// reference.
type ReferenceParameters struct {
	ResourceURI string      `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI,omitempty"`
	SelectorSet SelectorSet `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet"`
}

// SelectorSet is the list of selectors of an endpoint reference.
type SelectorSet struct {
	Selectors []Selector `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Selector"`
}

// NewEPR is an anonymous-address reference to the instance of resourceURI
// that the selectors pick.
func NewEPR(resourceURI string, selectors ...Selector) EndpointReference {
	return EndpointReference{
		Address:             AnonymousAddress,
		ReferenceParameters: ReferenceParameters{ResourceURI: resourceURI, SelectorSet: SelectorSet{Selectors: selectors}},
	}
}

// Selector returns the value of the selector called name.
func (e EndpointReference) Selector(name string) (string, bool) {
	for _, s := range e.ReferenceParameters.SelectorSet.Selectors {
		if s.Name == name {
			return s.Text(), true
		}
	}
	return "", false
}

// InstanceID is the value of the reference's InstanceID selector.
func (e EndpointReference) InstanceID() string {
	v, _ := e.Selector("InstanceID")
	return v
}

// Message is a request: the header fields the sender chooses and the body
// element (nil for an empty Body).
type Message struct {
	Action           string
	ResourceURI      string
	Selectors        []Selector
	MessageID        string
	To               string // default "/wsman"
	OperationTimeout string // default "PT60S"
	Body             any
}

// buffers holds the envelopes being built, so that a busy server or client
// does not grow a fresh buffer for each message.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer keeps a rare huge message from pinning its memory.
const maxPooledBuffer = 64 << 10

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	buffers.Put(b)
}

// bufWriters are the write buffers of the XML encoder: xml.NewEncoder uses
// a *bufio.Writer it is given as is, instead of allocating 4 KiB per body.
var bufWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}

// encodeXML appends the XML encoding of v to b.
func encodeXML(b *bytes.Buffer, v any, start *xml.StartElement) error {
	bw := bufWriters.Get().(*bufio.Writer)
	bw.Reset(b)
	var err error
	if start != nil {
		err = xml.NewEncoder(bw).EncodeElement(v, *start)
	} else {
		err = xml.NewEncoder(bw).Encode(v)
	}
	bw.Reset(nil)
	bufWriters.Put(bw)
	return err
}

// Encode writes m as a SOAP 1.2 envelope in the shape AMT consoles send.
func (m *Message) Encode(w io.Writer) error {
	b := getBuffer()
	defer putBuffer(b)
	if err := m.appendTo(b); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

func (m *Message) appendTo(b *bytes.Buffer) error {
	to := m.To
	if to == "" {
		to = "/wsman"
	}
	timeout := m.OperationTimeout
	if timeout == "" {
		timeout = "PT60S"
	}
	b.WriteString(requestOpen)
	writeElem(b, "a:Action", m.Action)
	writeElem(b, "a:To", to)
	writeElem(b, "w:ResourceURI", m.ResourceURI)
	writeElem(b, "a:MessageID", m.MessageID)
	b.WriteString(`<a:ReplyTo><a:Address>` + AnonymousAddress + `</a:Address></a:ReplyTo>`)
	writeElem(b, "w:OperationTimeout", timeout)
	if len(m.Selectors) > 0 {
		b.WriteString(`<w:SelectorSet>`)
		for _, s := range m.Selectors {
			if err := writeSelector(b, s); err != nil {
				return err
			}
		}
		b.WriteString(`</w:SelectorSet>`)
	}
	b.WriteString(`</Header><Body>`)
	if m.Body != nil {
		if err := encodeXML(b, m.Body, nil); err != nil {
			return fmt.Errorf("wsman: encode %s body: %w", m.Action, err)
		}
	}
	b.WriteString(`</Body></Envelope>`)
	return nil
}

const requestOpen = `<?xml version="1.0" encoding="UTF-8"?>` +
	`<Envelope xmlns="` + NSSOAP + `" xmlns:a="` + NSAddressing + `" xmlns:w="` + NSWSMan + `" xmlns:xsi="` + NSXSI + `"><Header>`

func writeSelector(b *bytes.Buffer, s Selector) error {
	b.WriteString(`<w:Selector Name="`)
	escape(b, s.Name)
	b.WriteString(`">`)
	escape(b, s.Value)
	if s.EPR != nil {
		if err := encodeXML(b, s.EPR, &xml.StartElement{Name: xml.Name{Space: NSAddressing, Local: "EndpointReference"}}); err != nil {
			return fmt.Errorf("wsman: encode selector %s: %w", s.Name, err)
		}
	}
	b.WriteString(`</w:Selector>`)
	return nil
}

func writeElem(b *bytes.Buffer, name, value string) {
	b.WriteByte('<')
	b.WriteString(name)
	b.WriteByte('>')
	escape(b, value)
	b.WriteString("</")
	b.WriteString(name)
	b.WriteByte('>')
}

func escape(b *bytes.Buffer, s string) {
	// Most values (URIs, IDs, numbers) need no escaping; skip the copy to
	// []byte that xml.EscapeText would need.
	if !needsEscape(s) {
		b.WriteString(s)
		return
	}
	// EscapeText only fails when the writer does; a bytes.Buffer does not.
	_ = xml.EscapeText(b, []byte(s))
}

// needsEscape reports whether xml.EscapeText would change s: markup
// characters, white space it writes as a character reference, and bytes
// outside printable ASCII (invalid UTF-8 or characters it replaces).
func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '<', c == '>', c == '&', c == '\'', c == '"':
			return true
		case c < 0x20, c >= 0x7f:
			return true
		}
	}
	return false
}

// ResponseHeader is what a responder chooses for the header of a response.
type ResponseHeader struct {
	Action      string
	RelatesTo   string
	MessageID   string
	ResourceURI string
}

// envelopeOpen declares the prefixes AMT firmware declares, so that the
// simulator's responses read like the firmware's.
const envelopeOpen = `<?xml version="1.0" encoding="UTF-8"?>` +
	`<a:Envelope xmlns:a="` + NSSOAP + `" xmlns:b="` + NSAddressing + `" xmlns:c="` + NSWSMan +
	`" xmlns:d="` + NSTrust + `" xmlns:e="` + NSSecurity + `" xmlns:f="` + NSCIMBinding +
	`" xmlns:g="` + NSEnumeration + `" xmlns:xsi="` + NSXSI + `">`

// WriteResponse writes a response envelope in the shape AMT firmware sends:
// header To, RelatesTo, Action (mustUnderstand), MessageID, ResourceURI, then
// body (nil for an empty Body, a *Fault for a fault).
func WriteResponse(w io.Writer, h ResponseHeader, body any) error {
	b := getBuffer()
	defer putBuffer(b)
	if err := appendResponse(b, h, body); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

func appendResponse(b *bytes.Buffer, h ResponseHeader, body any) error {
	b.WriteString(envelopeOpen)
	b.WriteString(`<a:Header>`)
	writeElem(b, "b:To", AnonymousAddress)
	writeElem(b, "b:RelatesTo", h.RelatesTo)
	b.WriteString(`<b:Action a:mustUnderstand="true">`)
	escape(b, h.Action)
	b.WriteString(`</b:Action>`)
	writeElem(b, "b:MessageID", h.MessageID)
	if h.ResourceURI != "" {
		writeElem(b, "c:ResourceURI", h.ResourceURI)
	}
	b.WriteString(`</a:Header><a:Body>`)
	switch v := body.(type) {
	case nil:
	case *Fault:
		v.appendXML(b)
	default:
		if err := encodeXML(b, body, nil); err != nil {
			return fmt.Errorf("wsman: encode %s response body: %w", h.Action, err)
		}
	}
	b.WriteString(`</a:Body></a:Envelope>`)
	return nil
}

// UnmarshalXML trims the white space around a selector's value, which
// firmware indents when the selector holds an endpoint reference.
func (s *Selector) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	type plain Selector
	var p plain
	if err := d.DecodeElement(&p, &start); err != nil {
		return err
	}
	*s = Selector(p)
	s.Value = strings.TrimSpace(s.Value)
	return nil
}
