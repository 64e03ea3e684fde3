package llmfake

import (
	"math"
	"strings"
)

// Generate returns a value that satisfies a JSON Schema (decoded with
// encoding/json), for the common shapes of structured-output schemas:
//   - const, then enum: the (first) value;
//   - object: every property in "properties", generated recursively;
//   - boolean: true;
//   - number and integer: the middle of minimum/maximum (exclusive bounds
//     respected), else the bound given, else 0.5 (number) or 1 (integer);
//   - string: "fake", padded to minLength and cut to maxLength;
//   - array: minItems items (at least one when "items" is given);
//   - null: null;
//   - anyOf/oneOf: the first alternative; allOf: the first part; a type
//     list: its first non-null type; no type: object when "properties" is
//     set, else null.
//
// $ref, patterns, formats and conditionals are not understood.
func Generate(schema any) any {
	s, ok := schema.(map[string]any)
	if !ok {
		return nil // true/false schemas and garbage
	}
	if v, ok := s["const"]; ok {
		return v
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if alts, ok := s[k].([]any); ok && len(alts) > 0 {
			return Generate(alts[0])
		}
	}
	switch schemaType(s) {
	case "object":
		out := map[string]any{}
		if props, ok := s["properties"].(map[string]any); ok {
			for name, ps := range props {
				out[name] = Generate(ps)
			}
		}
		return out
	case "boolean":
		return true
	case "number":
		return number(s, false)
	case "integer":
		return number(s, true)
	case "string":
		str := "fake"
		if n, ok := num(s["minLength"]); ok && float64(len(str)) < n {
			str += strings.Repeat("x", int(n)-len(str))
		}
		if n, ok := num(s["maxLength"]); ok && float64(len(str)) > n {
			str = str[:int(math.Max(n, 0))]
		}
		return str
	case "array":
		n := 0
		if m, ok := num(s["minItems"]); ok {
			n = int(m)
		}
		if _, ok := s["items"]; ok && n == 0 {
			n = 1
		}
		if m, ok := num(s["maxItems"]); ok && float64(n) > m {
			n = int(m)
		}
		out := make([]any, n)
		for i := range out {
			out[i] = Generate(s["items"])
		}
		return out
	}
	return nil
}

// schemaType is the type a schema asks for ("" for null or unknown).
func schemaType(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		if t == "null" {
			return ""
		}
		return t
	case []any:
		for _, x := range t {
			if str, ok := x.(string); ok && str != "null" {
				return str
			}
		}
		return ""
	}
	if _, ok := s["properties"]; ok {
		return "object"
	}
	return ""
}

// number picks a value within a schema's bounds.
func number(s map[string]any, integer bool) any {
	lo, hasLo := num(s["minimum"])
	hi, hasHi := num(s["maximum"])
	step := 1e-6
	if integer {
		step = 1
	}
	if x, ok := num(s["exclusiveMinimum"]); ok && (!hasLo || x >= lo) {
		lo, hasLo = x+step, true
	}
	if x, ok := num(s["exclusiveMaximum"]); ok && (!hasHi || x <= hi) {
		hi, hasHi = x-step, true
	}
	var v float64
	switch {
	case hasLo && hasHi:
		v = lo + (hi-lo)/2
	case hasLo:
		v = lo
	case hasHi:
		v = hi
	case integer:
		v = 1
	default:
		v = 0.5
	}
	if integer {
		v = math.Ceil(v)
		if hasHi && v > hi {
			v = math.Floor(hi)
		}
		return int64(v)
	}
	return v
}

// num reads a JSON number.
func num(v any) (float64, bool) {
	f, ok := v.(float64)
	return f, ok
}
