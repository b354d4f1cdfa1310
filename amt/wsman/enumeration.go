package wsman

import "encoding/xml"

// EnumerateRequest is the body of an Enumerate request.
type EnumerateRequest struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration Enumerate"`
}

// EnumerateResponse carries the context that the following Pulls quote.
type EnumerateResponse struct {
	XMLName            xml.Name `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration EnumerateResponse"`
	EnumerationContext string   `xml:"EnumerationContext"`
}

// PullRequest asks for the next items of an enumeration.
type PullRequest struct {
	XMLName            xml.Name `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration Pull"`
	EnumerationContext string   `xml:"EnumerationContext"`
	MaxElements        int      `xml:"MaxElements,omitempty"`
	MaxCharacters      int      `xml:"MaxCharacters,omitempty"`
}

// PullResponse carries items of type T (the class's instance struct). When
// EndOfSequence is nil, EnumerationContext is what the next Pull quotes.
type PullResponse[T any] struct {
	XMLName            xml.Name  `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration PullResponse"`
	EnumerationContext string    `xml:"EnumerationContext,omitempty"`
	Items              Items[T]  `xml:"Items"`
	EndOfSequence      *struct{} `xml:"EndOfSequence"`
}

// Items are the instances in a PullResponse; each element is decoded into T,
// whose XMLName tag checks the class.
type Items[T any] struct {
	Items []T `xml:",any"`
}

// NewPullResponse is a PullResponse with items; next is the context of the
// following Pull, or "" for the last page.
func NewPullResponse[T any](items []T, next string) *PullResponse[T] {
	p := &PullResponse[T]{Items: Items[T]{Items: items}}
	if next == "" {
		p.EndOfSequence = &struct{}{}
	} else {
		p.EnumerationContext = next
	}
	return p
}

// End reports whether this page is the last.
func (p *PullResponse[T]) End() bool { return p.EndOfSequence != nil }
