package template

import (
	"strings"

	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// undefined is the value of a name the variables do not define, and of an
// attribute or item of it (Jinja's ChainableUndefined): it renders empty, is
// false, and filters and tests see it as none (so default applies and
// "is defined" is false).
type undefined map[string]any

// String renders nothing.
func (undefined) String() string { return "" }

// GetAttribute of undefined is undefined.
func (u undefined) GetAttribute(string) (*exec.Value, bool) { return exec.AsValue(undefined{}), true }

// GetItem of undefined is undefined.
func (u undefined) GetItem(any) (*exec.Value, bool) { return exec.AsValue(undefined{}), true }

// dict is a mapping of the variables: a missing key or one starting with "_"
// is undefined rather than an error further down the chain.
type dict map[string]any

// GetAttribute returns the value at name.
func (d dict) GetAttribute(name string) (*exec.Value, bool) { return d.at(name), true }

// GetItem returns the value at a string key.
func (d dict) GetItem(key any) (*exec.Value, bool) {
	k, ok := key.(string)
	if !ok {
		return exec.AsValue(undefined{}), true
	}
	return d.at(k), true
}

func (d dict) at(k string) *exec.Value {
	if strings.HasPrefix(k, "_") {
		return exec.AsValue(undefined{})
	}
	v, ok := d[k]
	if !ok || v == nil {
		return exec.AsValue(undefined{})
	}
	return exec.AsValue(v)
}

// isUndefined reports whether v holds undefined.
func isUndefined(v *exec.Value) bool {
	if v == nil || v.IsNil() || !v.Val.CanInterface() {
		return false
	}
	_, ok := v.Interface().(undefined)
	return ok
}

// undefinedAsNone makes a filter see undefined as none.
func undefinedAsNone(f exec.FilterFunction) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if isUndefined(in) {
			in = exec.AsValue(nil)
		}
		return f(e, in, params)
	}
}

// testUndefinedAsNone makes a test see undefined as none. Tests come in two
// signatures (gonja keeps the older one); anything else is returned as is.
func testUndefinedAsNone(f exec.TestFunction) exec.TestFunction {
	switch fn := f.(type) {
	case func(*exec.Context, *exec.Value, *exec.VarArgs) (bool, error):
		return func(ctx *exec.Context, in *exec.Value, params *exec.VarArgs) (bool, error) {
			if isUndefined(in) {
				in = exec.AsValue(nil)
			}
			return fn(ctx, in, params)
		}
	case func(*exec.Evaluator, *exec.Value, *exec.VarArgs) (bool, error):
		return func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) (bool, error) {
			if isUndefined(in) {
				in = exec.AsValue(nil)
			}
			return fn(e, in, params)
		}
	}
	return f
}

// names lists the identifiers of src (every Name token, whatever its role:
// binding an attribute or filter name as an undefined variable is harmless).
func names(src string, cfg *config.Config) []string {
	seen := map[string]bool{}
	var out []string
	s := tokens.LexAll(src, cfg)
	for !s.End() {
		t := s.Current()
		if t == nil {
			break
		}
		if t.Type == tokens.Name && !seen[t.Val] {
			seen[t.Val] = true
			out = append(out, t.Val)
		}
		s.Next()
	}
	return out
}
