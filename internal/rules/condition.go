package rules

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/stewardhq/steward/internal/config"
)

// condKind says how a compiled condition is tested.
type condKind int

const (
	// condNever: the key names nothing this platform knows; never matches.
	condNever condKind = iota
	condConfidence
	condBoolean
	condEnum
	// condFact: a deterministic fact, tested by equality, any-of list, boolean
	// identity or a now() comparison.
	condFact
)

// Condition is one compiled `key: value` entry of a rule's when. It is built by
// [ParseCondition] and tested by [Condition.Match]; the zero value never matches.
type Condition struct {
	// Key and Value as written in the config.
	Key   string
	Value any

	kind condKind
	// name is the classification name of a classification condition.
	name string
	// op is the comparison operator of a confidence threshold or a now()
	// comparison; "" for the other forms.
	op        string
	threshold float64
	// want is the boolean a boolean classification must equal.
	want bool
	// anyOf lists the accepted enum values.
	anyOf []string
	// declared are the enum's declared values.
	declared []string
}

// Kind names how the condition is tested: "confidence", "boolean", "enum",
// "fact" (a deterministic fact) or "never" (the key names nothing this platform
// knows).
func (c Condition) Kind() string {
	switch c.kind {
	case condConfidence:
		return "confidence"
	case condBoolean:
		return "boolean"
	case condEnum:
		return "enum"
	case condFact:
		return "fact"
	default:
		return "never"
	}
}

// ParseCondition compiles one condition of a rule.
//
// A key classification.<name> tests the named classification (one of cs) by its
// type: a confidence takes a number (meaning >=) or an expression ">= 0.8",
// "> 0.8", "<= 0.5", "< 0.5", "== 1.0" (spaces allowed; an unsigned decimal); a
// boolean takes true or false; an enum takes one value or a list of values
// (any of). A key whose namespace (the text before the first dot) is one of
// deterministicKeys tests that fact: a boolean by identity, a list by any-of, a
// string "<op> now()" compares a time-valued fact with the current time, anything
// else by equality.
//
// The error reports a malformed condition (a config error): a threshold that is
// not a number or expression, a YAML boolean as a threshold, a non-boolean for a
// boolean, a non-string for an enum, a missing value, a key without a name.
// warnings report conditions that are well-formed but can never (or always) match:
// an unknown key or classification, an undeclared enum value, a threshold outside
// 0..1, an operator string on a fact.
func ParseCondition(key string, value any, cs []config.Classification, deterministicKeys []string) (c Condition, warnings []string, err error) {
	c = Condition{Key: key, Value: value}
	switch {
	case strings.TrimSpace(key) == "":
		return c, nil, fmt.Errorf("condition with an empty key")
	case key == "classification" || key == classificationPrefix:
		return c, nil, fmt.Errorf("condition key %q needs a classification name: classification.<name>", key)
	case strings.HasPrefix(key, classificationPrefix):
		name := key[len(classificationPrefix):]
		i := slices.IndexFunc(cs, func(x config.Classification) bool { return x.Name == name })
		if i < 0 {
			names := make([]string, len(cs))
			for k, x := range cs {
				names[k] = x.Name
			}
			return c, []string{fmt.Sprintf("condition %s: %q is not a classification of this platform (%s); it never matches",
				key, name, listOrNone(names))}, nil
		}
		c.name = name
		return parseClassificationCondition(c, cs[i])
	case isDeterministic(key, deterministicKeys):
		return parseFactCondition(c)
	default:
		return c, []string{fmt.Sprintf("condition %s: %q is neither a deterministic fact of this platform (%s) nor classification.<name>; it never matches",
			key, namespace(key), listOrNone(deterministicKeys))}, nil
	}
}

func parseClassificationCondition(c Condition, cl config.Classification) (Condition, []string, error) {
	var warnings []string
	switch typeOf(cl) {
	case config.Confidence:
		c.kind = condConfidence
		switch v := c.Value.(type) {
		case bool:
			return c, nil, fmt.Errorf("condition %s: a confidence threshold must be a number or an expression like \">= 0.8\", not the boolean %v", c.Key, v)
		case string:
			op, n, ok := parseThreshold(v)
			if !ok {
				return c, nil, fmt.Errorf("condition %s: invalid confidence condition %q (expected a number, or one of >=, >, <=, <, == followed by a number, e.g. \">= 0.8\")", c.Key, v)
			}
			c.op, c.threshold = op, n
		default:
			n, ok := toFloat(v)
			if !ok || math.IsNaN(n) {
				return c, nil, fmt.Errorf("condition %s: a confidence threshold must be a number or an expression like \">= 0.8\", got %s", c.Key, describeValue(v))
			}
			c.op, c.threshold = ">=", n
		}
		if c.threshold < 0 || c.threshold > 1 {
			warnings = append(warnings, fmt.Sprintf("condition %s: threshold %v is outside 0..1, the range of a confidence", c.Key, c.threshold))
		}
	case config.Boolean:
		c.kind = condBoolean
		b, ok := c.Value.(bool)
		if !ok {
			return c, nil, fmt.Errorf("condition %s: a boolean classification takes true or false (unquoted), got %s", c.Key, describeValue(c.Value))
		}
		c.want = b
	case config.Enum:
		c.kind = condEnum
		c.declared = cl.Values
		switch v := c.Value.(type) {
		case string:
			c.anyOf = []string{v}
		case []any:
			if len(v) == 0 {
				warnings = append(warnings, fmt.Sprintf("condition %s: an empty list never matches", c.Key))
			}
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return c, nil, fmt.Errorf("condition %s: enum values are strings, got %s (quote it)", c.Key, describeValue(e))
				}
				c.anyOf = append(c.anyOf, s)
			}
		default:
			return c, nil, fmt.Errorf("condition %s: an enum classification takes a value or a list of values (%s), got %s (quote it)",
				c.Key, strings.Join(cl.Values, ", "), describeValue(v))
		}
		for _, s := range c.anyOf {
			if !slices.Contains(cl.Values, s) {
				warnings = append(warnings, fmt.Sprintf("condition %s: %q is not one of the declared values (%s); it never matches",
					c.Key, s, strings.Join(cl.Values, ", ")))
			}
		}
	default:
		return c, nil, fmt.Errorf("condition %s: classification %q has unknown type %q", c.Key, cl.Name, cl.Type)
	}
	return c, warnings, nil
}

func parseFactCondition(c Condition) (Condition, []string, error) {
	c.kind = condFact
	switch v := c.Value.(type) {
	case nil:
		return c, nil, fmt.Errorf("condition %s has no value (a null never matches)", c.Key)
	case string:
		if op, ok := parseNowComparison(v); ok {
			c.op = op
			return c, nil, nil
		}
		if looksLikeComparison(v) {
			return c, []string{fmt.Sprintf("condition %s: %q is compared as text; facts support only equality, lists, booleans and \"<op> now()\"", c.Key, v)}, nil
		}
	}
	return c, nil, nil
}

// Match reports whether the condition holds. facts resolves deterministic keys
// (nil: nothing resolves); classification is the LLM's answer. A missing or null
// value never matches, nor does a value of the wrong type, an out-of-range
// confidence or an undeclared enum value. now is the current time for "<op>
// now()" comparisons.
func (c Condition) Match(facts Resolver, classification map[string]any, now time.Time) bool {
	switch c.kind {
	case condConfidence, condBoolean, condEnum:
		v, ok := classification[c.name]
		if !ok || v == nil {
			return false
		}
		return c.matchClassification(v)
	case condFact:
		if facts == nil {
			return false
		}
		v, ok := facts.Resolve(c.Key)
		if !ok || v == nil {
			return false
		}
		return c.matchFact(v, now)
	default:
		return false
	}
}

func (c Condition) matchClassification(v any) bool {
	switch c.kind {
	case condConfidence:
		f, ok := confidenceValue(v)
		if !ok || f < 0 || f > 1 {
			return false
		}
		return compare(c.op, f, c.threshold)
	case condBoolean:
		b, ok := v.(bool)
		return ok && b == c.want
	case condEnum:
		s, ok := v.(string)
		return ok && slices.Contains(c.declared, s) && slices.Contains(c.anyOf, s)
	}
	return false
}

func (c Condition) matchFact(v any, now time.Time) bool {
	if c.op != "" { // "<op> now()"
		t, ok := asTime(v)
		if !ok {
			return false
		}
		switch c.op {
		case ">":
			return t.After(now)
		case ">=":
			return !t.Before(now)
		case "<":
			return t.Before(now)
		case "<=":
			return !t.After(now)
		default:
			return t.Equal(now)
		}
	}
	if _, isBool := c.Value.(bool); isBool {
		return equal(v, c.Value)
	}
	// A list-valued fact (GitHub labels) matches when one of its elements does.
	var candidates []any
	if l, ok := asList(v); ok {
		candidates = l
	} else {
		candidates = []any{v}
	}
	var wanted []any
	if l, ok := c.Value.([]any); ok {
		wanted = l
	} else {
		wanted = []any{c.Value}
	}
	for _, x := range candidates {
		if x == nil {
			continue
		}
		for _, w := range wanted {
			if equal(x, w) {
				return true
			}
		}
	}
	return false
}

func compare(op string, a, b float64) bool {
	switch op {
	case ">":
		return a > b
	case ">=":
		return a >= b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case "==":
		return a == b
	}
	return false
}

// parseOperator reads an optional run of spaces and a comparison operator
// (>=, <=, >, <, ==) and returns the operator and the rest after any spaces.
func parseOperator(s string) (op, rest string, ok bool) {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	for _, o := range [...]string{">=", "<=", "==", ">", "<"} {
		if strings.HasPrefix(s, o) {
			return o, strings.TrimLeftFunc(s[len(o):], unicode.IsSpace), true
		}
	}
	return "", s, false
}

// parseThreshold parses a confidence expression: spaces, an operator, spaces, an
// unsigned decimal digits[.digits] (also "1."; no sign, no leading dot, no
// exponent), spaces.
func parseThreshold(s string) (op string, n float64, ok bool) {
	op, rest, ok := parseOperator(s)
	if !ok {
		return "", 0, false
	}
	rest = strings.TrimRightFunc(rest, unicode.IsSpace)
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 {
		return "", 0, false
	}
	if i < len(rest) && rest[i] == '.' {
		i++
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
	}
	if i != len(rest) {
		return "", 0, false
	}
	n, err := strconv.ParseFloat(rest, 64)
	if err != nil && !math.IsInf(n, 0) { // a huge number is +Inf: well-formed, never matches
		return "", 0, false
	}
	return op, n, true
}

// parseNowComparison recognises "<op> now()" (lower-case now, spaces allowed).
func parseNowComparison(s string) (string, bool) {
	op, rest, ok := parseOperator(s)
	if !ok || strings.TrimRightFunc(rest, unicode.IsSpace) != "now()" {
		return "", false
	}
	return op, true
}

// looksLikeComparison reports whether a fact condition starts like an operator
// expression (which facts do not support, except against now()).
func looksLikeComparison(s string) bool {
	t := strings.TrimLeftFunc(s, unicode.IsSpace)
	return strings.HasPrefix(t, ">") || strings.HasPrefix(t, "<") || strings.HasPrefix(t, "==") || strings.HasPrefix(t, "!=")
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
