package config

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

// Load parses and checks one configuration file. filename is used in
// diagnostics only; env is the environment that env.NAME reads (nil is an
// empty one), so tests and callers decide what the file can see. An empty src
// yields Default(). The returned config is nil when diags has errors;
// warnings come with a usable config.
func Load(filename string, src []byte, env map[string]string) (*Config, hcl.Diagnostics) {
	p := hclparse.NewParser()
	var f *hcl.File
	var diags hcl.Diagnostics
	if strings.HasSuffix(filename, ".json") {
		f, diags = p.ParseJSON(src, filename)
	} else {
		f, diags = p.ParseHCL(src, filename)
	}
	if diags.HasErrors() {
		return nil, tidy(diags)
	}
	var raw fileRaw
	ctx := evalContext(env)
	diags = append(diags, gohcl.DecodeBody(f.Body, ctx, &raw)...)
	if diags.HasErrors() {
		// Semantic checks over a half-decoded file would report the
		// consequences of these errors, not new ones.
		return nil, tidy(diags)
	}
	b := &builder{ctx: ctx, env: env}
	cfg := b.build(&raw)
	diags = tidy(append(diags, b.diags...))
	if diags.HasErrors() {
		return nil, diags
	}
	return cfg, diags
}

// LoadFile reads and loads the file at path. It also returns the parsed
// files, keyed by name, for WriteDiagnostics to print source snippets. An
// empty path means no file: Default() with no diagnostics.
func LoadFile(path string, env map[string]string) (*Config, hcl.Diagnostics, map[string]*hcl.File) {
	files := map[string]*hcl.File{}
	if path == "" {
		return Default(), nil, files
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read configuration file",
			Detail:   fmt.Sprintf("%v: the configuration must be a readable file; fix the path, or give no file to run with the built-in defaults", err),
		}}, files
	}
	files[path] = &hcl.File{Bytes: src}
	cfg, diags := Load(path, src, env)
	return cfg, diags, files
}

// Environ returns the process environment as a map, for Load.
func Environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			env[k] = v
		}
	}
	return env
}

func evalContext(env map[string]string) *hcl.EvalContext {
	obj := cty.EmptyObjectVal
	if len(env) > 0 {
		vals := make(map[string]cty.Value, len(env))
		for k, v := range env {
			vals[k] = cty.StringVal(v)
		}
		obj = cty.ObjectVal(vals)
	}
	return &hcl.EvalContext{Variables: map[string]cty.Value{"env": obj}}
}

// tidy makes diagnostics safe and useful to print: it drops the evaluation
// context (the text writer would print the values of every variable in the
// expression, and env values may be secrets), explains a missing env.NAME,
// and sorts by position.
func tidy(diags hcl.Diagnostics) hcl.Diagnostics {
	envMissing := false
	for _, d := range diags {
		if name, ok := missingEnv(d); ok {
			envMissing = true
			d.Summary = "Environment variable not set"
			d.Detail = fmt.Sprintf("env.%s reads the environment variable %s, which is not set: export %s before running amtrcs, or write the value in the file", name, name, name)
			d.Subject = d.Expression.Range().Ptr()
		}
	}
	kept := diags[:0]
	for _, d := range diags {
		// A missing variable also makes the value unknown, which gohcl
		// reports again as unsuitable: one cause, one message.
		if envMissing && d.Summary == "Unsuitable value type" && strings.Contains(d.Detail, "must be known") {
			continue
		}
		if fix, ok := hclFixes[d.Summary]; ok && !strings.Contains(d.Detail, "; fix:") {
			d.Detail = strings.TrimSuffix(d.Detail, ".") + "; fix: " + fix
		}
		d.EvalContext = nil
		d.Expression = nil
		kept = append(kept, d)
	}
	diags = kept
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		if a == nil || b == nil {
			return a == nil && b != nil
		}
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
	return diags
}

// hclFixes complete the decoder's own messages, which name the rule and the
// value but not the way out.
var hclFixes = map[string]string{
	"Unsupported argument":           "remove it, or correct its name (examples/amtrcs.hcl lists every setting)",
	"Unsupported block type":         "remove the block, or correct its name (examples/amtrcs.hcl lists every block)",
	"Unsuitable value type":          `write true or false and numbers without quotes, text in "double quotes", lists as ["a", "b"]`,
	"Incorrect attribute value type": `write true or false and numbers without quotes, text in "double quotes", lists as ["a", "b"]`,
	"Missing name for domain":        `give the block a name: domain "corp" { ... }`,
	"Missing name for profile":       `give the block a name: profile "office" { ... }`,
	"Duplicate kek block":            "keep one kek block",
	"Duplicate server block":         "merge the server blocks into one",
	"Duplicate api block":            "merge the api blocks into one",
	"Duplicate ca block":             "merge the ca blocks into one",
	"Duplicate dns block":            "merge the dns blocks into one",
	"Duplicate maintenance block":    "merge the maintenance blocks into one",
	"Duplicate redirection block":    "merge the redirection blocks into one",
	"Duplicate network block":        "merge the network blocks into one",
	"Duplicate tls block":            "merge the tls blocks into one",
}

// missingEnv recognises HCL's complaint about a missing attribute or key of
// the env object and returns the variable's name.
func missingEnv(d *hcl.Diagnostic) (string, bool) {
	if d.Expression == nil || (d.Summary != "Unsupported attribute" && d.Summary != "Invalid index") {
		return "", false
	}
	for _, tr := range d.Expression.Variables() {
		if tr.RootName() != "env" || len(tr) < 2 {
			continue
		}
		switch step := tr[1].(type) {
		case hcl.TraverseAttr:
			return step.Name, true
		case hcl.TraverseIndex:
			if step.Key.Type() == cty.String && step.Key.IsKnown() && !step.Key.IsNull() {
				return step.Key.AsString(), true
			}
		}
	}
	return "", false
}
