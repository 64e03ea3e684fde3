package notefile

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// RenderNote renders a note the way the reference NoteStore (python-frontmatter
// over PyYAML safe_dump) writes it, byte for byte:
//
//	"---\n" + YAML(front) + "\n---\n\n" + body, the whole text trimmed
//
// The YAML is block style with keys sorted, Unicode kept, lines wrapped at 80
// columns like PyYAML, and strings that would read back as another type (uid
// '12345', timestamps, yes/no, null, the empty string) quoted. The body is
// written as given (only the whole document is trimmed). A note without body
// ends at the closing "---" with no trailing newline; empty front matter is
// "{}". testdata/pyyaml_golden.json pins the output against PyYAML itself.
//
// Values may be nil, bool, strings, Go integers and floats, json.Number (integral
// text renders as an int, other text as a float — decode JSON with UseNumber to
// keep 3 and 3.0 apart), time.Time (rendered as Python's isoformat, a quoted
// string), maps with string keys, slices and arrays, and pointers to those; any
// other value goes through its JSON encoding. A value JSON cannot encode is an
// error.
func RenderNote(front map[string]any, body string) ([]byte, error) {
	root, err := toNode(front, 0)
	if err != nil {
		return nil, err
	}
	var e emitter
	e.document(root)
	text := "---\n" + PyStrip(e.out.String()) + "\n---\n\n" + body
	return []byte(PyStrip(text)), nil
}

// PyStrip trims what Python's str.strip() trims (Unicode whitespace plus the
// ASCII separators \x1c-\x1f).
func PyStrip(s string) string {
	return strings.TrimFunc(s, isPySpace)
}

func isPySpace(r rune) bool {
	switch {
	case r >= '\t' && r <= '\r', r >= 0x1c && r <= 0x20, r == 0x85, r == 0xa0, r == 0x1680,
		r >= 0x2000 && r <= 0x200a, r == 0x2028, r == 0x2029, r == 0x202f, r == 0x205f, r == 0x3000:
		return true
	}
	return false
}

// yamlNode is a YAML node ready for emitting.
type yamlNode struct {
	kind  nodeKind
	value string // scalar text
	// plain says the scalar may be written plain: for strings, the plain text
	// reads back as a string (PyYAML's implicit resolution); other scalars always.
	plain bool
	items []*yamlNode // sequence items
	keys  []*yamlNode // mapping keys (sorted)
	vals  []*yamlNode // mapping values
}

type nodeKind int

const (
	scalarNode nodeKind = iota
	sequenceNode
	mappingNode
)

// maxDepth bounds nesting (a cyclic value would otherwise never end).
const maxDepth = 100

func strNode(s string) *yamlNode {
	return &yamlNode{kind: scalarNode, value: s, plain: resolvesAsString(s)}
}

func typedNode(text string) *yamlNode { return &yamlNode{kind: scalarNode, value: text, plain: true} }

// toNode converts a Go value into a node as PyYAML's SafeRepresenter would
// represent the equivalent Python value.
func toNode(v any, depth int) (*yamlNode, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("front matter nested deeper than %d levels", maxDepth)
	}
	switch x := v.(type) {
	case nil:
		return typedNode("null"), nil
	case string:
		return strNode(x), nil
	case bool:
		return typedNode(strconv.FormatBool(x)), nil
	case int:
		return typedNode(strconv.Itoa(x)), nil
	case int64:
		return typedNode(strconv.FormatInt(x, 10)), nil
	case float64:
		return typedNode(pyFloat(x)), nil
	case json.Number:
		return numberNode(x)
	case time.Time:
		return strNode(PyISOFormat(x)), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		n := &yamlNode{kind: mappingNode}
		for _, k := range keys {
			val, err := toNode(x[k], depth+1)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, strNode(k))
			n.vals = append(n.vals, val)
		}
		return n, nil
	case []any:
		n := &yamlNode{kind: sequenceNode}
		for _, it := range x {
			val, err := toNode(it, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, val)
		}
		return n, nil
	}
	return reflectNode(reflect.ValueOf(v), depth)
}

// reflectNode handles the kinds toNode has no fast path for.
func reflectNode(rv reflect.Value, depth int) (*yamlNode, error) {
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return typedNode("null"), nil
		}
		return toNode(rv.Elem().Interface(), depth+1)
	case reflect.String:
		return strNode(rv.String()), nil
	case reflect.Bool:
		return typedNode(strconv.FormatBool(rv.Bool())), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return typedNode(strconv.FormatInt(rv.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return typedNode(strconv.FormatUint(rv.Uint(), 10)), nil
	case reflect.Float32:
		// Through its shortest decimal text, so float32(0.1) is 0.1, not 0.10000000149011612.
		f, _ := strconv.ParseFloat(strconv.FormatFloat(rv.Float(), 'g', -1, 32), 64)
		return typedNode(pyFloat(f)), nil
	case reflect.Float64:
		return typedNode(pyFloat(rv.Float())), nil
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			m := make(map[string]any, rv.Len())
			it := rv.MapRange()
			for it.Next() {
				m[it.Key().String()] = it.Value().Interface()
			}
			return toNode(m, depth+1)
		}
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return &yamlNode{kind: sequenceNode}, nil
		}
		items := make([]any, rv.Len())
		for i := range items {
			items[i] = rv.Index(i).Interface()
		}
		return toNode(items, depth+1)
	}
	// Structs and the rest: as their JSON encoding says.
	data, err := json.Marshal(rv.Interface())
	if err != nil {
		return nil, fmt.Errorf("front matter value of type %s: %w", rv.Type(), err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, fmt.Errorf("front matter value of type %s: %w", rv.Type(), err)
	}
	return toNode(generic, depth+1)
}

// numberNode renders a JSON number as Python's json module would have read it:
// an int when the text has no fraction or exponent, else a float.
func numberNode(n json.Number) (*yamlNode, error) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return typedNode(s), nil
		}
		if isDecimalInt(s) { // beyond int64: Python ints are unbounded
			return typedNode(strings.TrimPrefix(s, "+")), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("front matter number %q: %w", s, err)
	}
	return typedNode(pyFloat(f)), nil
}

func isDecimalInt(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// pyFloat is PyYAML's representation of a Python float: repr() lower-cased, with
// ".0" added before an exponent that has no fraction (1e+16 → 1.0e+16).
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return ".nan"
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	}
	// Shortest round-trip digits, as Python's repr uses.
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	mant, expText, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expText)
	digits := strings.Replace(mant, ".", "", 1)
	var out string
	if exp >= -4 && exp < 16 {
		decpt := exp + 1
		switch {
		case decpt <= 0:
			out = "0." + strings.Repeat("0", -decpt) + digits
		case decpt >= len(digits):
			out = digits + strings.Repeat("0", decpt-len(digits)) + ".0"
		default:
			out = digits[:decpt] + "." + digits[decpt:]
		}
	} else {
		out = digits[:1]
		if len(digits) > 1 {
			out += "." + digits[1:]
		} else {
			out += ".0" // PyYAML's fix-up of repr's "1e+16"
		}
		es := "+"
		if exp < 0 {
			es, exp = "-", -exp
		}
		out += "e" + es + fmt.Sprintf("%02d", exp)
	}
	return sign + out
}

// PyISOFormat is Python's datetime.isoformat() of an aware datetime:
// 2025-02-15T10:30:00+00:00, with .ffffff only when the microseconds are not 0.
func PyISOFormat(t time.Time) string {
	t = t.Truncate(time.Microsecond)
	layout := "2006-01-02T15:04:05"
	if t.Nanosecond() != 0 {
		layout += ".000000"
	}
	_, off := t.Zone()
	if off%60 != 0 {
		layout += "-07:00:00"
	} else {
		layout += "-07:00"
	}
	return t.Format(layout)
}

// implicitResolver is one of PyYAML's (YAML 1.1) implicit scalar resolvers.
type implicitResolver struct {
	first string // first characters it applies to; "\x00" stands for the empty string
	re    *regexp.Regexp
}

// implicitResolvers are PyYAML's resolvers for plain scalars other than str.
// A string any of them matches must be quoted to read back as a string. They
// are immutable after initialisation.
var implicitResolvers = []implicitResolver{
	{"yYnNtTfFoO", regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)},
	{"-+0123456789.", regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)},
	{"-+0123456789", regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)},
	{"<", regexp.MustCompile(`^(?:<<)$`)},
	{"~nN\x00", regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)},
	{"0123456789", regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`)},
	{"=", regexp.MustCompile(`^(?:=)$`)},
}

// resolvesAsString reports whether s, written plain, reads back as a string.
func resolvesAsString(s string) bool {
	first := "\x00"
	if s != "" {
		first = string([]rune(s)[:1])
	}
	for _, r := range implicitResolvers {
		if !strings.Contains(r.first, first) {
			continue
		}
		// Python's $ also matches before a final newline.
		if r.re.MatchString(s) || strings.HasSuffix(s, "\n") && r.re.MatchString(s[:len(s)-1]) {
			return false
		}
	}
	return true
}
