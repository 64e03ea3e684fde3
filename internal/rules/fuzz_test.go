package rules_test

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/rules"
)

// The reference grammars, with Go's unicode.IsSpace as whitespace.
var (
	thresholdGrammar = regexp.MustCompile(`^[\t\n\v\f\r \x{85}\p{Z}]*(>=|<=|>|<|==)[\t\n\v\f\r \x{85}\p{Z}]*([0-9]+\.?[0-9]*)[\t\n\v\f\r \x{85}\p{Z}]*$`)
	nowGrammar       = regexp.MustCompile(`^[\t\n\v\f\r \x{85}\p{Z}]*(>=|<=|>|<|==)[\t\n\v\f\r \x{85}\p{Z}]*now\(\)[\t\n\v\f\r \x{85}\p{Z}]*$`)
)

// FuzzParseCondition drives the condition parser with arbitrary keys and values of
// every YAML shape. It must never panic; confidence expressions are accepted
// exactly when they fit the reference grammar and then compare as written;
// "<op> now()" on a fact is recognised exactly by its grammar; anything else on a
// fact is equality.
func FuzzParseCondition(f *testing.F) {
	for _, s := range []string{">=0.8", " > 0.8 ", "<0.5", "==1.0", "<= 1.", "!=0.5", "not a number", "", "<now()", " >= now() ",
		"> now()", ".5", ">= -1", ">= 1e3", ">=\u00a00.5", "> 00000000000000000000000000000000000000000000000000000000000001",
		">=999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999",
		"2020-01-15T10:00:00+00:00", "\xff>=0.5"} {
		for kind := range uint8(8) {
			f.Add("classification.human", kind, s, 0.8, true)
		}
		f.Add("calendar.end", uint8(0), s, 0.0, false)
		f.Add("classification.priority", uint8(5), s, 1.0, false)
	}
	f.Add("domain", uint8(1), "", 3.0, false)
	f.Add("classification", uint8(0), "x", 0.0, false)
	f.Add("authentication.dkim_pass", uint8(2), "", 0.0, true)
	f.Add("labels", uint8(4), "bug", 0.0, false)
	f.Fuzz(func(t *testing.T, key string, kind uint8, s string, x float64, b bool) {
		var value any
		switch kind % 8 {
		case 0:
			value = s
		case 1:
			value = x
		case 2:
			value = b
		case 3:
			value = int(x)
		case 4:
			value = []any{s, x}
		case 5:
			value = []any{s}
		case 6:
			value = map[string]any{s: x}
		default:
			value = nil
		}
		keys := issueAndEmailKeys(t)
		c, _, err := rules.ParseCondition(key, value, fixtureClassifications(), keys)

		// Never panics, whatever the item holds.
		probes := []any{nil, s, x, b, int(x), []any{s}, map[string]any{"end": s}, "2020-01-01", time.Unix(0, 0)}
		for _, p := range probes {
			c.Match(rules.Facts{key: p, "calendar": map[string]any{"end": p}, "labels": []any{p}}, map[string]any{"human": p, "priority": p, "user_agreement_update": p}, now)
		}

		str, isString := value.(string)
		switch {
		case key == "classification.human" && isString:
			m := thresholdGrammar.FindStringSubmatch(str)
			if (m != nil) != (err == nil) {
				t.Fatalf("%q: grammar match %v, parse error %v", str, m != nil, err)
			}
			if m == nil {
				return
			}
			n, _ := strconv.ParseFloat(m[2], 64)
			for _, v := range []float64{0, 0.25, 0.5, 0.8, 1, n} {
				if v < 0 || v > 1 {
					continue
				}
				want := map[string]bool{">=": v >= n, ">": v > n, "<=": v <= n, "<": v < n, "==": v == n}[m[1]]
				if got := c.Match(nil, map[string]any{"human": v}, now); got != want {
					t.Fatalf("%q at %v = %v, want %v", str, v, got, want)
				}
			}
		case key == "calendar.end" && isString:
			if err != nil {
				t.Fatalf("%q on a fact: %v", str, err)
			}
			if m := nowGrammar.FindStringSubmatch(str); m != nil {
				past := c.Match(rules.Facts{"calendar": map[string]any{"end": "2000-01-01T00:00:00Z"}}, nil, now)
				future := c.Match(rules.Facts{"calendar": map[string]any{"end": "2999-01-01"}}, nil, now)
				wantPast := m[1] == "<" || m[1] == "<="
				wantFuture := m[1] == ">" || m[1] == ">="
				if past != wantPast || future != wantFuture {
					t.Fatalf("%q: past %v future %v", str, past, future)
				}
				return
			}
			if !c.Match(rules.Facts{"calendar": map[string]any{"end": str}}, nil, now) {
				t.Fatalf("%q is equality on a fact but does not match itself", str)
			}
		case key == "classification.priority":
			okShape := isString
			if l, isList := value.([]any); isList {
				okShape = true
				for _, e := range l {
					if _, isStr := e.(string); !isStr {
						okShape = false
					}
				}
			}
			if okShape != (err == nil) {
				t.Fatalf("enum condition %#v: parse error %v", value, err)
			}
		}
	})
}

func issueAndEmailKeys(t tb) []string {
	return append(append([]string{}, emailKeys(t)...), issueKeys(t)...)
}
