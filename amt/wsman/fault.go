package wsman

import (
	"bytes"
	"fmt"
	"strings"
)

// Fault subcodes (DSP0226 and WS-Addressing) that AMT firmware returns and
// that the Mux produces. Compare with errors.Is(err, wsman.ErrAccessDenied).
const (
	SubcodeAccessDenied              = "AccessDenied"
	SubcodeDestinationUnreachable    = "DestinationUnreachable"
	SubcodeActionNotSupported        = "ActionNotSupported"
	SubcodeInvalidSelectors          = "InvalidSelectors"
	SubcodeInvalidEnumerationContext = "InvalidEnumerationContext"
	SubcodeEncodingLimit             = "EncodingLimit"
	SubcodeSchemaValidationError     = "SchemaValidationError"
	SubcodeInternalError             = "InternalError"
	SubcodeAlreadyExists             = "AlreadyExists"
	SubcodeTimedOut                  = "TimedOut"
	SubcodeInvalidRepresentation     = "InvalidRepresentation"
)

// Sentinel faults for errors.Is: a *Fault matches one when their subcodes'
// local names are equal.
var (
	ErrAccessDenied              = &Fault{Subcode: SubcodeAccessDenied}
	ErrDestinationUnreachable    = &Fault{Subcode: SubcodeDestinationUnreachable}
	ErrActionNotSupported        = &Fault{Subcode: SubcodeActionNotSupported}
	ErrInvalidSelectors          = &Fault{Subcode: SubcodeInvalidSelectors}
	ErrInvalidEnumerationContext = &Fault{Subcode: SubcodeInvalidEnumerationContext}
	ErrEncodingLimit             = &Fault{Subcode: SubcodeEncodingLimit}
	ErrSchemaValidation          = &Fault{Subcode: SubcodeSchemaValidationError}
	ErrInternal                  = &Fault{Subcode: SubcodeInternalError}
)

// Fault detail URIs (DSP0226) that say more about a subcode.
const (
	DetailInsufficientSelectors = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InsufficientSelectors"
	DetailUnexpectedSelectors   = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors"
	DetailMaxEnvelopeSize       = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/MaxEnvelopeSize"
	DetailInvalidValue          = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue"
)

// Fault is a SOAP 1.2 fault as a Go error.
type Fault struct {
	// Code is "Sender" or "Receiver" (the local name of the SOAP code).
	Code string
	// Subcode is the local name of the WS-Man or WS-Addressing subcode,
	// for example "AccessDenied".
	Subcode string
	// Reason is the human-readable text.
	Reason string
	// Detail is the wsman:FaultDetail URI or the detail text, if any.
	Detail string
	// Action is the action header of the fault message (set when decoded).
	Action string
}

func (f *Fault) Error() string {
	var b strings.Builder
	b.WriteString("wsman fault ")
	if f.Subcode != "" {
		b.WriteString(f.Subcode)
	} else {
		b.WriteString("(no subcode)")
	}
	if f.Code != "" {
		b.WriteString(" (" + f.Code + ")")
	}
	if f.Reason != "" {
		b.WriteString(": " + f.Reason)
	}
	if f.Detail != "" {
		b.WriteString(" [" + f.Detail + "]")
	}
	return b.String()
}

// Is matches faults by subcode, so errors.Is(err, ErrAccessDenied) works on
// any AccessDenied fault whatever its reason text.
func (f *Fault) Is(target error) bool {
	t, ok := target.(*Fault)
	return ok && t.Subcode == f.Subcode
}

type faultSpec struct {
	ns     string // namespace of the subcode QName
	code   string
	reason string
}

// faultSpecs gives each subcode its namespace, SOAP code and the reason text
// of DSP0226, for faults the Mux writes.
var faultSpecs = map[string]faultSpec{
	SubcodeAccessDenied:              {NSWSMan, "Sender", "The sender was not authorized to access the resource."},
	SubcodeDestinationUnreachable:    {NSAddressing, "Sender", "No route can be determined to reach the destination role defined by the WS-Addressing To."},
	SubcodeActionNotSupported:        {NSAddressing, "Sender", "The action is not supported by the service."},
	SubcodeInvalidSelectors:          {NSWSMan, "Sender", "The Selectors for the resource were not valid."},
	SubcodeInvalidEnumerationContext: {NSEnumeration, "Receiver", "The supplied enumeration context is invalid."},
	SubcodeEncodingLimit:             {NSWSMan, "Sender", "An internal encoding limit was exceeded in a request or would be violated if the message were processed."},
	SubcodeSchemaValidationError:     {NSWSMan, "Sender", "The supplied SOAP violates the corresponding XML Schema definition."},
	SubcodeInternalError:             {NSWSMan, "Receiver", "The service cannot comply with the request due to internal processing errors."},
	SubcodeAlreadyExists:             {NSWSMan, "Sender", "The sender attempted to create a resource which already exists."},
	SubcodeTimedOut:                  {NSWSMan, "Receiver", "The operation has timed out."},
	SubcodeInvalidRepresentation:     {NSWSMan, "Sender", "The XML content was invalid."},
}

// NewFault is the fault for subcode with the standard code and reason; detail
// may be empty.
func NewFault(subcode, detail string) *Fault {
	s, ok := faultSpecs[subcode]
	if !ok {
		s = faultSpecs[SubcodeInternalError]
	}
	return &Fault{Code: s.code, Subcode: subcode, Reason: s.reason, Detail: detail}
}

// action is the header action of a fault message: WS-Addressing faults have
// their own.
func (f *Fault) action() string {
	if s, ok := faultSpecs[f.Subcode]; ok && s.ns == NSAddressing {
		return ActionAddressingFault
	}
	return ActionFault
}

// prefix maps a subcode namespace to the prefix envelopeOpen declares.
func faultPrefix(ns string) string {
	switch ns {
	case NSAddressing:
		return "b"
	case NSEnumeration:
		return "g"
	}
	return "c"
}

func (f *Fault) appendXML(b *bytes.Buffer) {
	code := f.Code
	if code == "" {
		code = "Receiver"
	}
	b.WriteString(`<a:Fault><a:Code><a:Value>a:`)
	escape(b, code)
	b.WriteString(`</a:Value>`)
	if f.Subcode != "" {
		ns := NSWSMan
		if s, ok := faultSpecs[f.Subcode]; ok {
			ns = s.ns
		}
		b.WriteString(`<a:Subcode><a:Value>` + faultPrefix(ns) + `:`)
		escape(b, f.Subcode)
		b.WriteString(`</a:Value></a:Subcode>`)
	}
	b.WriteString(`</a:Code><a:Reason><a:Text xml:lang="en-US">`)
	escape(b, f.Reason)
	b.WriteString(`</a:Text></a:Reason>`)
	if f.Detail != "" {
		b.WriteString(`<a:Detail><c:FaultDetail>`)
		escape(b, f.Detail)
		b.WriteString(`</c:FaultDetail></a:Detail>`)
	}
	b.WriteString(`</a:Fault>`)
}

// faultXML is the wire form of a SOAP 1.2 fault.
type faultXML struct {
	Code struct {
		Value   string `xml:"http://www.w3.org/2003/05/soap-envelope Value"`
		Subcode struct {
			Value string `xml:"http://www.w3.org/2003/05/soap-envelope Value"`
		} `xml:"http://www.w3.org/2003/05/soap-envelope Subcode"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Code"`
	Reason struct {
		Text []string `xml:"http://www.w3.org/2003/05/soap-envelope Text"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Reason"`
	Detail struct {
		FaultDetail string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd FaultDetail"`
		Text        string `xml:",chardata"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Detail"`
}

// localName drops the prefix of a QName value: the prefix is only meaningful
// with the declarations in scope, and the local names are unique enough.
func localName(qname string) string {
	qname = strings.TrimSpace(qname)
	if i := strings.LastIndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}

func (x *faultXML) fault() *Fault {
	f := &Fault{
		Code:    localName(x.Code.Value),
		Subcode: localName(x.Code.Subcode.Value),
		Detail:  strings.TrimSpace(x.Detail.FaultDetail),
	}
	if len(x.Reason.Text) > 0 {
		f.Reason = strings.TrimSpace(x.Reason.Text[0])
	}
	if f.Detail == "" {
		f.Detail = strings.TrimSpace(x.Detail.Text)
	}
	return f
}

var _ error = (*Fault)(nil)

// faultf builds a fault with a specific reason (for the Mux's refusals).
func faultf(subcode, detail, format string, args ...any) *Fault {
	f := NewFault(subcode, detail)
	f.Reason = fmt.Sprintf(format, args...)
	return f
}
