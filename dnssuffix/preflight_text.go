package dnssuffix

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints the report for a terminal: problems first (errors, then
// warnings, then information), then what was found right, each with its fix,
// and a summary line.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "DNS preflight, resolvers: %s\n", strings.Join(r.Resolvers, ", "))
	for _, sev := range []Severity{SeverityError, SeverityWarning, SeverityInfo, SeverityOK} {
		for _, f := range r.Findings {
			if f.Severity != sev {
				continue
			}
			fmt.Fprintf(&b, "\n%-7s %s [%s]\n        %s\n", strings.ToUpper(string(f.Severity)), f.Subject, f.Check, f.Message)
			if f.Fix != "" {
				fmt.Fprintf(&b, "        fix: %s\n", f.Fix)
			}
		}
	}
	verdict := "PASS"
	if r.Failed() {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "\n%s: %s, %s, %d info, %d ok\n", verdict,
		plural(r.Counts.Errors, "error"), plural(r.Counts.Warnings, "warning"), r.Counts.Info, r.Counts.OK)
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
