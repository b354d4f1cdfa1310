package config

import (
	"io"
	"strconv"

	"github.com/hashicorp/hcl/v2"
)

// WriteDiagnostics prints diagnostics as HCL does, with the source lines
// around each one and the offending part underlined. files are the sources
// by file name (LoadFile returns them); width wraps the text, 0 for none.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, width uint, color bool) error {
	return hcl.NewDiagnosticTextWriter(w, files, width, color).WriteDiagnostics(diags)
}

// Files wraps one in-memory source for WriteDiagnostics, for callers of Load.
func Files(filename string, src []byte) map[string]*hcl.File {
	return map[string]*hcl.File{filename: {Bytes: src}}
}

// Diagnostic is the JSON form of an hcl.Diagnostic.
type Diagnostic struct {
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
	Severity string `json:"severity"` // "error" or "warning"
	Summary  string `json:"summary"`
	Detail   string `json:"detail,omitempty"`
}

// JSONDiagnostics converts diagnostics for --json reports.
func JSONDiagnostics(diags hcl.Diagnostics) []Diagnostic {
	out := make([]Diagnostic, 0, len(diags))
	for _, d := range diags {
		j := Diagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			j.Severity = "warning"
		}
		if d.Subject != nil {
			j.File, j.Line, j.Column = d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column
		}
		out = append(out, j)
	}
	return out
}

// String writes a diagnostic on one line, file:line:col: severity: summary:
// detail, the form of golden files and plain logs.
func (d Diagnostic) String() string {
	s := ""
	if d.File != "" {
		s = d.File + ":" + strconv.Itoa(d.Line) + ":" + strconv.Itoa(d.Column) + ": "
	}
	s += d.Severity + ": " + d.Summary
	if d.Detail != "" {
		s += ": " + d.Detail
	}
	return s
}
