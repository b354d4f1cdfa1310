package wsman

import (
	"encoding/xml"
	"fmt"
	"reflect"
	"strings"
)

// ordered is an instance whose child elements are written in a given
// order: a Put body in its class's schema order, where the firmware
// answers a Get alphabetically. One struct type serves both.
type ordered struct {
	v     any // a pointer to a struct with an XMLName "namespace Name" tag
	order []string
}

// inOrder writes the instance v points at with its elements in order;
// every element of the type must be listed (TestPutBodyFields).
func inOrder(v any, order []string) ordered { return ordered{v: v, order: order} }

// MarshalXML implements xml.Marshaler: the instance's start element, then
// each listed element as encoding/xml would write it as a field
// (omitempty and repeated elements included), then the end element.
func (o ordered) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	rv := reflect.ValueOf(o.v).Elem()
	rt := rv.Type()
	root, ok := rt.FieldByName("XMLName")
	if !ok {
		return fmt.Errorf("wsman: %s has no XMLName", rt)
	}
	ns, local, _ := strings.Cut(root.Tag.Get("xml"), " ")
	start := xml.StartElement{Name: xml.Name{Space: ns, Local: local}}
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for _, name := range o.order {
		f, opts, ok := fieldByElement(rt, name)
		if !ok {
			return fmt.Errorf("wsman: %s has no element %s", rt, name)
		}
		fv := rv.FieldByIndex(f.Index)
		if strings.Contains(opts, "omitempty") && fv.IsZero() {
			continue
		}
		if fv.Kind() == reflect.Slice && fv.Len() == 0 && strings.Contains(opts, "omitempty") {
			continue
		}
		if err := e.EncodeElement(fv.Interface(), xml.StartElement{Name: xml.Name{Local: name}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// fieldByElement finds the field whose xml tag names element name, and
// the tag's options.
func fieldByElement(rt reflect.Type, name string) (reflect.StructField, string, bool) {
	for i := range rt.NumField() {
		f := rt.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("xml"), ",")
		if tag == name {
			return f, opts, true
		}
	}
	return reflect.StructField{}, "", false
}
