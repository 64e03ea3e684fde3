// Package template renders the Jinja templates of service calls: the inputs
// of a service or script action and the human_log line of a service (spec
// github_services §4.4). It wraps github.com/nikolalohinski/gonja/v2 in a
// sandbox:
//
//   - only expressions, filters and the tags if, raw, filter and autoescape
//     are available; for, set, with, macro, call, include, import, extends,
//     from, block, do and trans are syntax errors, so a template can neither
//     read a file nor loop;
//   - the operators * and ** are refused (they would repeat text without
//     bound), and so are the filters and methods that can grow text
//     (center, indent, wordwrap, format, batch, ...): see Filters;
//   - an undefined variable, or an attribute or item of one, renders empty,
//     and so does a null value; {% if x %} on it is false;
//   - names and attributes starting with "_" (x.__class__) are never looked
//     up: they render empty;
//   - a template's source is at most MaxSource bytes and its output at most
//     MaxOutput bytes (longer output is an error, never a hang).
//
// Values render as the reference's Python str() does for the common cases:
// 42, 0.85, True/False. Every call builds its own environment, so the package
// keeps no mutable state.
package template

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Bounds of a template.
const (
	// MaxSource is the longest template source, in bytes.
	MaxSource = 16 << 10
	// MaxOutput is the longest rendered text, in bytes.
	MaxOutput = 64 << 10
	// maxValue bounds one string value of the variables (longer ones are cut),
	// so that no filter works on unbounded text.
	maxValue = 256 << 10
)

// ErrOutputTooLong is returned when a rendering exceeds MaxOutput.
var ErrOutputTooLong = fmt.Errorf("template output is longer than %d bytes", MaxOutput)

// Filters are the Jinja filters a template may use.
var Filters = []string{
	"abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape",
	"filesizeformat", "first", "float", "forceescape", "int", "items", "join", "last",
	"length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace",
	"reverse", "round", "safe", "select", "selectattr", "sort", "string", "striptags",
	"sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode", "wordcount",
}

// controlStructures are the tags a template may use.
var controlStructures = []string{"if", "raw", "filter", "autoescape"}

// strMethods are the Python string methods a template may call ("x.lower()").
var strMethods = []string{
	"capitalize", "casefold", "count", "endswith", "find", "isalnum", "isalpha", "isdigit",
	"islower", "isspace", "isupper", "lower", "lstrip", "removeprefix", "removesuffix",
	"rfind", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase",
	"title", "upper",
}

// HasMarkers reports whether s contains a template marker ({{, {% or {#); text
// without one is not a template and passes through unchanged.
func HasMarkers(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%") || strings.Contains(s, "{#")
}

// Error is a template that does not parse or render. Line and Col (1-based)
// locate the problem in the template when known (0 = unknown).
type Error struct {
	Template string
	Line     int
	Col      int
	Err      error
}

// Error describes the problem with the template and its position.
func (e *Error) Error() string {
	src := e.Template
	if len(src) > 120 {
		src = src[:117] + "..."
	}
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("template %q: line %d, column %d: %v", src, e.Line, e.Col, e.Err)
	case e.Line > 0:
		return fmt.Sprintf("template %q: line %d: %v", src, e.Line, e.Err)
	}
	return fmt.Sprintf("template %q: %v", src, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Template is a parsed template; it may be rendered many times, also
// concurrently.
type Template struct {
	src   string
	tpl   *exec.Template // nil: no markers, src renders as itself
	names []string       // identifiers used; the undefined ones are bound to undefined
}

// Parse parses src. Text without markers is a template that renders as itself.
func Parse(src string) (*Template, error) {
	if !HasMarkers(src) {
		return &Template{src: src}, nil
	}
	if len(src) > MaxSource {
		return nil, &Error{Template: src, Err: fmt.Errorf("longer than %d bytes", MaxSource)}
	}
	cfg := config.New()
	if tok := refusedToken(src, cfg); tok != nil {
		return nil, &Error{Template: src, Line: tok.Line, Col: tok.Col,
			Err: fmt.Errorf("the operator %s is not available in templates (it could repeat text without bound)", tok.Val)}
	}
	tpl, err := parse(src, cfg)
	if err != nil {
		return nil, positioned(src, err)
	}
	return &Template{src: src, tpl: tpl, names: names(src, cfg)}, nil
}

// parse builds the template with the sandboxed environment; a panic of the
// parser (malformed input it does not expect) is an error.
func parse(src string, cfg *config.Config) (tpl *exec.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			tpl, err = nil, fmt.Errorf("cannot parse: %v", r)
		}
	}()
	return exec.NewTemplate(rootName, cfg, newLoader(src), newEnvironment())
}

// refusedToken returns the first * or ** operator token of src (nil = none).
func refusedToken(src string, cfg *config.Config) *tokens.Token {
	s := tokens.LexAll(src, cfg)
	for !s.End() {
		t := s.Current()
		if t == nil {
			break
		}
		if t.Type == tokens.Multiply || t.Type == tokens.Power {
			return t
		}
		s.Next()
	}
	return nil
}

// Names lists the identifiers the template uses (variables, and also
// attribute, filter and test names: a superset of the variables it reads), in
// order of first use. Text without markers uses none.
func (t *Template) Names() []string { return append([]string(nil), t.names...) }

// Uses reports whether the template mentions the identifier name.
func (t *Template) Uses(name string) bool {
	for _, n := range t.names {
		if n == name {
			return true
		}
	}
	return false
}

// Render renders the template with vars (see Values for what they may hold).
func (t *Template) Render(vars map[string]any) (out string, err error) {
	if t.tpl == nil {
		return t.src, nil
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = "", &Error{Template: t.src, Err: fmt.Errorf("cannot render: %v", r)}
		}
	}()
	w := &limitWriter{max: MaxOutput}
	data := Values(vars)
	for _, n := range t.names {
		if _, ok := data[n]; !ok {
			data[n] = undefined{}
		}
	}
	if err := t.tpl.Execute(w, exec.NewContext(data)); err != nil {
		if errors.Is(err, ErrOutputTooLong) || w.over {
			return "", &Error{Template: t.src, Err: ErrOutputTooLong}
		}
		return "", positioned(t.src, err)
	}
	return w.b.String(), nil
}

// Render parses and renders src with vars in one step.
func Render(src string, vars map[string]any) (string, error) {
	t, err := Parse(src)
	if err != nil {
		return "", err
	}
	return t.Render(vars)
}

// limitWriter collects output up to max bytes.
type limitWriter struct {
	b    strings.Builder
	max  int
	over bool
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		w.over = true
		return 0, ErrOutputTooLong
	}
	return w.b.Write(p)
}

// Values converts vars to what templates see: JSON-like values (maps, lists,
// strings, numbers, booleans) are kept; nulls and keys starting with "_" are
// dropped (so they are undefined and render empty); whole floats become
// integers (every JSON number decodes as a float: the fact 42 renders "42");
// strings longer than an internal bound are cut.
func Values(vars map[string]any) map[string]any {
	out := make(map[string]any, len(vars))
	for k, v := range vars {
		if strings.HasPrefix(k, "_") || v == nil {
			continue
		}
		if c, ok := value(v, 0); ok {
			out[k] = c
		}
	}
	return out
}

// maxDepth bounds how deep nested values are copied.
const maxDepth = 32

// value converts one value (ok = false: drop it).
func value(v any, depth int) (any, bool) {
	if depth > maxDepth {
		return nil, false
	}
	switch x := v.(type) {
	case nil:
		return nil, false
	case string:
		if len(x) > maxValue {
			x = x[:maxValue]
		}
		return x, true
	case bool, int, int64, int32, uint, uint64, uint32:
		return x, true
	case float32:
		return value(float64(x), depth)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return pyFloat(x), true
		}
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			// A whole number: JSON decoding made every number a float, and
			// the fact 42 renders 42, not 42.0.
			return int64(x), true
		}
		return x, true
	case map[string]any:
		return dict(Values(x)), true // drops "_" keys and nulls
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			c, ok := value(e, depth+1)
			if !ok {
				c = ""
			}
			out = append(out, c)
		}
		return out, true
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i], _ = value(e, depth+1)
		}
		return out, true
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = e
		}
		return dict(Values(m)), true
	case fmt.Stringer:
		return value(x.String(), depth)
	}
	return fmt.Sprint(v), true
}

// pyFloat renders a float like Python's str(): shortest form, with ".0" on
// whole numbers.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return s
}

// Names lists the filters a template may use, sorted (for error messages and
// documentation).
func Names() []string {
	out := append([]string(nil), Filters...)
	sort.Strings(out)
	return out
}
