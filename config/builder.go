package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
)

// builder turns the decoded file into a Config, starting from Default and
// checking each value where it is read, so that every diagnostic carries the
// range of the attribute that caused it.
type builder struct {
	ctx   *hcl.EvalContext
	env   map[string]string
	diags hcl.Diagnostics
}

// errorf records an error. summary names the rule; detail says, in one line,
// the value seen, the value wanted and the fix.
func (b *builder) errorf(subject hcl.Range, summary, format string, args ...any) {
	b.add(hcl.DiagError, subject, summary, format, args...)
}

func (b *builder) warnf(subject hcl.Range, summary, format string, args ...any) {
	b.add(hcl.DiagWarning, subject, summary, format, args...)
}

func (b *builder) add(sev hcl.DiagnosticSeverity, subject hcl.Range, summary, format string, args ...any) {
	b.diags = append(b.diags, &hcl.Diagnostic{
		Severity: sev,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject.Ptr(),
	})
}

func (b *builder) build(raw *fileRaw) *Config {
	c := Default()
	if raw.DataDir != nil {
		if *raw.DataDir == "" {
			b.errorf(raw.DataDirRange, "Empty data directory", `data_dir = "": want a directory path such as "/var/lib/amtrcs"; fix: set a path or remove data_dir to use %q`, DefaultDataDir)
		} else {
			c.DataDir = *raw.DataDir
		}
	}
	b.kek(raw.KEK, &c.KEK)
	b.store(raw.Store, &c.Store)
	b.server(raw.Server, &c.Server)
	b.api(raw.API, &c.API)
	b.ca(raw.CA, &c.CA)
	b.dns(raw.DNS, &c.DNS)
	b.profiles(raw.Profiles, c)
	b.domains(raw.Domains, c)
	b.maintenance(raw.Maintenance, &c.Maintenance)
	b.crossChecks(raw, c)
	return c
}

// duration reads an optional duration attribute into dst, and reports whether
// it did. zeroOK allows "0" for schedules where 0 switches the task off; dst's
// value before the call is the default proposed in the fix.
func (b *builder) duration(v *string, rng hcl.Range, attr string, zeroOK bool, dst *time.Duration) bool {
	if v == nil {
		return false
	}
	d, problem := parseDuration(*v)
	if problem == "" && d == 0 && !zeroOK {
		problem = "it is zero"
	}
	if problem != "" {
		wanted := "a positive Go duration"
		if zeroOK {
			wanted = `a Go duration, or "0" to switch it off`
		}
		b.errorf(rng, "Invalid duration", `%s = %q: %s; want %s (units h, m, s; "336h" is 14 days); fix: write it in hours, such as %q`,
			attr, *v, problem, wanted, suggestDuration(*v, *dst))
		return false
	}
	*dst = d
	return true
}

// suggestDuration turns "14d" into "336h"; otherwise it proposes the default.
func suggestDuration(seen string, def time.Duration) string {
	if n, ok := strings.CutSuffix(seen, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && days > 0 && days < 100000 && fmt.Sprint(days) == n {
			return fmt.Sprintf("%dh", days*24)
		}
	}
	return formatHours(def)
}

// formatHours writes a duration the way this package's documentation does:
// "336h" rather than time.Duration's "336h0m0s".
func formatHours(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// enum reads an optional enumerated attribute into dst.
func enum[T ~string](b *builder, v *string, rng hcl.Range, attr string, wanted []T, fix string, dst *T) {
	if v == nil {
		return
	}
	for _, w := range wanted {
		if string(w) == *v {
			*dst = w
			return
		}
	}
	q := make([]string, len(wanted))
	for i, w := range wanted {
		q[i] = fmt.Sprintf("%q", string(w))
	}
	b.errorf(rng, "Unknown value", "%s = %q is not one of the allowed values: want %s; fix: %s", attr, *v, strings.Join(q, " or "), fix)
}

// listen reads an optional listen address into dst; emptyOK allows "" to
// switch a listener off.
func (b *builder) listen(v *string, rng hcl.Range, attr, example string, emptyOK bool, dst *string) {
	if v == nil {
		return
	}
	if *v == "" && emptyOK {
		*dst = ""
		return
	}
	problem := "it is empty"
	if *v != "" {
		problem = listenProblem(*v)
	}
	if problem != "" {
		off := ""
		if emptyOK {
			off = `, or "" to switch it off`
		}
		b.errorf(rng, "Invalid listen address", `%s = %q: %s; want HOST:PORT with a numeric port%s; fix: write for example %q, or ":%s" for every interface`,
			attr, *v, problem, off, example, example[strings.LastIndex(example, ":")+1:])
		return
	}
	*dst = *v
}

// envName reads an optional environment variable name. Its messages never
// repeat the value: a common mistake is to write env.NAME (the secret itself)
// where the name is wanted.
func (b *builder) envName(v *string, rng hcl.Range, attr string) string {
	if v == nil {
		return ""
	}
	if p := envNameProblem(*v); p != "" {
		b.errorf(rng, "Invalid environment variable name", `%s is not a variable name (value not shown, it may be a secret): %s; want the NAME of a variable, such as "AMTRCS_KEK", not env.NAME, which is its value; fix: write the name in quotes`, attr, p)
		return ""
	}
	if _, ok := b.env[*v]; !ok {
		b.warnf(rng, "Environment variable not set", "%s names a variable that is not set in this environment, and amtrcs will read it at start; fix: export it before starting amtrcs", attr)
	}
	return *v
}

// path reads an optional file path; an empty string is an error because it
// silently means "no file".
func (b *builder) path(v *string, rng hcl.Range, attr string) string {
	if v == nil {
		return ""
	}
	if *v == "" {
		b.errorf(rng, "Empty path", `%s = "": want a file path; fix: set the path, or remove %s`, attr, attr)
	}
	return *v
}

// secret reads a pair of env/file attributes into a SecretSource; setting
// both is an error because which one wins would be a guess.
func (b *builder) secret(envV *string, envR hcl.Range, envAttr string, fileV *string, fileR hcl.Range, fileAttr string) SecretSource {
	s := SecretSource{Env: b.envName(envV, envR, envAttr), File: b.path(fileV, fileR, fileAttr)}
	if envV != nil && fileV != nil {
		b.errorf(fileR, "Two secret sources", "both %s and %s are set: want exactly one source for the secret; fix: remove one of them", envAttr, fileAttr)
	}
	return s
}

// item is one string from a list attribute, with the range of that element
// so diagnostics can point into the list.
type item struct {
	val string
	rng hcl.Range
}

// listStatus says what stringList found.
type listStatus int

const (
	listAbsent  listStatus = iota // no attribute, or null
	listOK                        // decoded
	listInvalid                   // a diagnostic was recorded
)

// stringList decodes a list of strings, keeping each element's range when the
// list is written literally, so diagnostics can point into the list.
func (b *builder) stringList(expr hcl.Expression) ([]item, listStatus) {
	if expr == nil {
		return nil, listAbsent
	}
	v, diags := expr.Value(b.ctx)
	if diags.HasErrors() {
		b.diags = append(b.diags, diags...)
		return nil, listInvalid
	}
	if v.IsNull() {
		return nil, listAbsent
	}
	var items []item
	if exprs, d := hcl.ExprList(expr); !d.HasErrors() {
		for _, e := range exprs {
			var s string
			if d := gohcl.DecodeExpression(e, b.ctx, &s); d.HasErrors() {
				b.diags = append(b.diags, d...)
				return nil, listInvalid
			}
			items = append(items, item{s, e.Range()})
		}
		return items, listOK
	}
	var all []string
	if d := gohcl.DecodeExpression(expr, b.ctx, &all); d.HasErrors() {
		b.diags = append(b.diags, d...)
		return nil, listInvalid
	}
	for _, s := range all {
		items = append(items, item{s, expr.Range()})
	}
	return items, listOK
}

// pos writes a range's start as file:line:col, to point at an earlier
// definition from a message.
func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
