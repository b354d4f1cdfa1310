package wsman

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// ElementPaths lists the path of every element of an XML document in
// document order, each as "/{ns}Local/{ns}Local...". Prefixes and values do
// not appear, so two messages with the same paths have the same shape. With
// localOnly the namespaces are left out.
//
// The simulator's tests compare its responses with the firmware's this way.
func ElementPaths(r io.Reader, localOnly bool) ([]string, error) {
	d, _, done := newDecoder(r, Limits{})
	defer done()
	var stack []string
	var paths []string
	for {
		t, err := d.Token()
		if errors.Is(err, io.EOF) {
			return paths, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			seg := t.Name.Local
			if !localOnly {
				seg = "{" + t.Name.Space + "}" + seg
			}
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			p := parent + "/" + seg
			stack = append(stack, p)
			paths = append(paths, p)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
}

// SubPaths keeps the paths under prefix (for example the Body's), with the
// prefix removed.
func SubPaths(paths []string, prefix string) []string {
	var out []string
	for _, p := range paths {
		if rest, ok := strings.CutPrefix(p, prefix); ok && rest != "" {
			out = append(out, rest)
		}
	}
	return out
}
