package template

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/parser"
)

// testNames are the Jinja tests a template may use (x is defined, ...).
var testNames = []string{
	"boolean", "defined", "divisibleby", "eq", "equalto", "==", "escaped", "even", "false",
	"float", "ge", ">=", "gt", "greaterthan", ">", "in", "integer", "iterable", "le", "<=",
	"lower", "lt", "lessthan", "<", "mapping", "ne", "!=", "none", "number", "odd", "sameas",
	"sequence", "string", "true", "undefined", "upper",
}

// rootName is the name of the one template a loader serves.
const rootName = "template"

// errNoFiles is what include, import and extends would get: templates read
// no files (those tags are not even parsed; this is the second wall).
var errNoFiles = errors.New("templates cannot load other templates or files")

// loader serves the template being parsed and nothing else.
type loader struct{ src string }

func newLoader(src string) loaders.Loader { return &loader{src: src} }

// Read returns the template's own source; any other name is refused.
func (l *loader) Read(path string) (io.Reader, error) {
	if path != rootName {
		return nil, errNoFiles
	}
	return strings.NewReader(l.src), nil
}

// Resolve accepts only the template's own name.
func (l *loader) Resolve(path string) (string, error) {
	if path != rootName {
		return "", errNoFiles
	}
	return path, nil
}

// Inherit refuses: there is nothing to load relative to.
func (l *loader) Inherit(string) (loaders.Loader, error) { return nil, errNoFiles }

// newEnvironment builds the sandboxed environment: the allowed filters (attr
// and replace guarded), all tests, the allowed tags, no global functions and
// a few string methods.
func newEnvironment() *exec.Environment {
	filters := map[string]exec.FilterFunction{}
	for _, name := range Filters {
		if f, ok := builtins.Filters.Get(name); ok {
			filters[name] = undefinedAsNone(f)
		}
	}
	if f, ok := filters["attr"]; ok {
		filters["attr"] = guardAttr(f)
	}
	if f, ok := filters["replace"]; ok {
		filters["replace"] = guardReplace(f)
	}
	tests := map[string]exec.TestFunction{}
	for _, name := range testNames {
		if f, ok := builtins.Tests.Get(name); ok {
			tests[name] = testUndefinedAsNone(f)
		}
	}
	cs := map[string]parser.ControlStructureParser{}
	for _, name := range controlStructures {
		if p, ok := builtins.ControlStructures.Get(name); ok {
			cs[name] = p
		}
	}
	str := map[string]exec.Method[string]{}
	for _, name := range strMethods {
		if m, ok := builtins.Methods.Str.Get(name); ok {
			str[name] = m
		}
	}
	return &exec.Environment{
		Context:           exec.EmptyContext(),
		Filters:           exec.NewFilterSet(filters),
		Tests:             exec.NewTestSet(tests),
		ControlStructures: exec.NewControlStructureSet(cs),
		Methods: exec.Methods{
			Bool:  exec.NewMethodSet(map[string]exec.Method[bool]{}),
			Int:   exec.NewMethodSet(map[string]exec.Method[int]{}),
			Float: exec.NewMethodSet(map[string]exec.Method[float64]{}),
			Str:   exec.NewMethodSet(str),
			Dict:  exec.NewMethodSet(map[string]exec.Method[map[string]any]{}),
			List:  exec.NewMethodSet(map[string]exec.Method[[]any]{}),
		},
	}
}

// guardAttr refuses private attribute names in x|attr('_name'): the result is
// empty, like an undefined attribute.
func guardAttr(f exec.FilterFunction) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if len(params.Args) > 0 && strings.HasPrefix(params.Args[0].String(), "_") {
			return exec.AsValue("")
		}
		return f(e, in, params)
	}
}

// guardReplace refuses a replace whose result would exceed MaxOutput.
func guardReplace(f exec.FilterFunction) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if len(params.Args) >= 2 {
			s, old, repl := in.String(), params.Args[0].String(), params.Args[1].String()
			n := len(s) + 1
			if old != "" {
				n = strings.Count(s, old)
			}
			if grow := len(repl) - len(old); grow > 0 && len(s)+n*grow > MaxOutput {
				return exec.AsValue(ErrOutputTooLong)
			}
		}
		return f(e, in, params)
	}
}

// positionRE finds the position gonja writes into its errors.
var positionRE = regexp.MustCompile(`[Ll]ine:? ?(\d+)(?:[ ,]+[Cc]ol(?:umn)?:? ?(\d+))?`)

// unknownTagRE matches gonja's error for a tag it does not know.
var unknownTagRE = regexp.MustCompile(`^ControlStructure '([^']*)' not found`)

// positioned wraps a gonja error as an *Error with the position it names.
func positioned(src string, err error) error {
	var te *Error
	if errors.As(err, &te) {
		return te
	}
	out := &Error{Template: src, Err: errors.New(cleanMessage(err.Error()))}
	if m := positionRE.FindStringSubmatch(err.Error()); m != nil {
		out.Line, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			out.Col, _ = strconv.Atoi(m[2])
		}
	}
	return out
}

// cleanMessage drops gonja's wrapping prefixes (which repeat the template).
func cleanMessage(s string) string {
	for _, prefix := range []string{"unable to execute template: ", "unable to render template: "} {
		s = strings.TrimPrefix(s, prefix)
	}
	if i := strings.LastIndex(s, "': "); i >= 0 && strings.HasPrefix(s, "failed to parse template '") {
		s = s[i+3:]
	}
	if m := unknownTagRE.FindStringSubmatch(s); m != nil {
		s = fmt.Sprintf("the tag %q is not available in templates (available: %s)", m[1], strings.Join(controlStructures, ", "))
	}
	// A render error is a chain of evaluation steps ending with the cause:
	// keep the cause ("filter 'nosuch' not found").
	if strings.HasPrefix(s, "Unable to render expression") {
		if i := strings.LastIndex(s, ": "); i >= 0 {
			s = s[i+2:]
		}
	}
	return s
}
