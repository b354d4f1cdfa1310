package wsman

import (
	"encoding/xml"
	"fmt"

	"github.com/amtrcs/amtrcs/amt"
)

// Returned is embedded, last, in every method output: AMT puts ReturnValue
// after the other output parameters.
type Returned struct {
	ReturnValue amt.ReturnCode `xml:"ReturnValue"`
}

func (r Returned) returnCode() amt.ReturnCode { return r.ReturnValue }

// ReturnOutput is the output of a method whose only output is ReturnValue
// (CommitChanges, AdminSetup, SetMEBxPassword and many more). Its element
// name is Method_OUTPUT in the class's namespace.
type ReturnOutput struct {
	XMLName xml.Name
	Returned
}

// NewReturnOutput is the output element of method of the class at
// resourceURI, for responders.
func NewReturnOutput(resourceURI, method string, code amt.ReturnCode) *ReturnOutput {
	return &ReturnOutput{XMLName: xml.Name{Space: resourceURI, Local: method + "_OUTPUT"}, Returned: Returned{ReturnValue: code}}
}

// check refuses an output element of another method or class: a relay that
// mixes responses must not make a failed call look successful.
func (o *ReturnOutput) check(resourceURI, method string) error {
	want := xml.Name{Space: resourceURI, Local: method + "_OUTPUT"}
	if o.XMLName != want {
		return fmt.Errorf("wsman: %s.%s: response element is {%s}%s, want {%s}%s", className(resourceURI), method, o.XMLName.Space, o.XMLName.Local, want.Space, want.Local)
	}
	return nil
}

// RequestStateChangeInput is the input of RequestStateChange, which CIM
// services (redirection, KVM) use to be enabled or disabled.
type RequestStateChangeInput struct {
	XMLName        xml.Name
	RequestedState int `xml:"RequestedState"`
}

// NewRequestStateChangeInput is the RequestStateChange_INPUT element of the
// class at resourceURI.
func NewRequestStateChangeInput(resourceURI string, state int) *RequestStateChangeInput {
	return &RequestStateChangeInput{XMLName: xml.Name{Space: resourceURI, Local: "RequestStateChange_INPUT"}, RequestedState: state}
}

// emptyInput is the input element of a method without parameters.
type emptyInput struct {
	XMLName xml.Name
}

func newEmptyInput(resourceURI, method string) *emptyInput {
	return &emptyInput{XMLName: xml.Name{Space: resourceURI, Local: method + "_INPUT"}}
}
