package rules_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/github"
	"github.com/stewardhq/steward/internal/rules"
)

// missingValue marks a table row whose key is absent (MISSING), as opposed to a
// present null.
type missingValue struct{}

var missing = missingValue{}

func emailKeys(t tb) []string { return inboxManifest(t).DeterministicKeys }

func issueKeys(t tb) []string {
	p, ok := github.Manifest().Platform("issues")
	if !ok {
		t.Fatal("no issues platform")
	}
	return p.DeterministicKeys
}

// matchOne parses key: cond and tests it against one value placed where the key
// reads it (the classification for classification.* keys, the facts otherwise).
func matchOne(t *testing.T, keys []string, key string, cond, value any) bool {
	t.Helper()
	c, _, err := rules.ParseCondition(key, cond, fixtureClassifications(), keys)
	if err != nil {
		t.Fatalf("ParseCondition(%s: %v): %v", key, cond, err)
	}
	classification := map[string]any{}
	facts := rules.Facts{}
	if _, isMissing := value.(missingValue); !isMissing {
		if name, ok := strings.CutPrefix(key, "classification."); ok {
			classification[name] = value
		} else {
			setFact(facts, key, value)
		}
	}
	return c.Match(facts, classification, now)
}

// setFact stores a value under a possibly dotted key as nested mappings.
func setFact(f rules.Facts, key string, v any) {
	parts := strings.Split(key, ".")
	m := map[string]any(f)
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

func TestConfidenceConditions(t *testing.T) {
	tests := []struct {
		name  string
		cond  any
		value any
		want  bool
	}{
		{">=0.8 at 0.8", ">=0.8", 0.8, true},
		{">=0.8 at 0.7", ">=0.8", 0.7, false},
		{">0.8 at 0.9", ">0.8", 0.9, true},
		{">0.8 at 0.8 is strict", ">0.8", 0.8, false},
		{"<=0.5 at 0.5", "<=0.5", 0.5, true},
		{"<=0.5 at 0.6", "<=0.5", 0.6, false},
		{"<0.5 at 0.4", "<0.5", 0.4, true},
		{"<0.5 at 0.3", "<0.5", 0.3, true},
		{"<0.5 at 0.5 is strict", "<0.5", 0.5, false},
		{"==1.0 at 1.0", "==1.0", 1.0, true},
		{"==1.0 at 0.9", "==1.0", 0.9, false},
		{"spaces around", " >= 0.8 ", 0.8, true},
		{"space after operator", "> 0.8", 0.81, true},
		{"trailing dot", ">= 1.", 1.0, true},
		{"integer threshold", ">= 1", 1.0, true},
		{"bare number means >=, above", 0.8, 0.9, true},
		{"bare number means >=, equal", 0.8, 0.8, true},
		{"bare number means >=, below", 0.8, 0.7, false},
		{"bare integer", 1, 0.99, false},
		{"integer answer", ">0.5", 1, true},
		{"json.Number answer", ">0.8", json.Number("0.9"), true},
		// Fixes over the reference: a boolean is not a number, an out-of-range
		// confidence is invalid, a string never is a number.
		{"true is not 1", 0.5, true, false},
		{"false is not 0", "<0.5", false, false},
		{"out of range above never matches", 0.8, 5.0, false},
		{"out of range below never matches", "<0.5", -1.0, false},
		{"a numeric string is not a number", ">0.5", "0.9", false},
		{"null never matches", ">=0", nil, false},
		{"missing never matches", ">=0", missing, false},
		{"a list answer never matches", ">=0", []any{0.9}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchOne(t, nil, "classification.human", tt.cond, tt.value); got != tt.want {
				t.Fatalf("classification.human: %v at %v = %v, want %v", tt.cond, tt.value, got, tt.want)
			}
		})
	}
}

func TestBooleanConditions(t *testing.T) {
	tests := []struct {
		name        string
		cond, value any
		want        bool
	}{
		{"true/true", true, true, true},
		{"false/false", false, false, true},
		{"true/false", true, false, false},
		{"false/true", false, true, false},
		{"1 is not true", true, 1, false},
		{"1.0 is not true", true, 1.0, false},
		{"0 is not false", false, 0, false},
		{`"yes" is not true`, true, "yes", false},
		{`"true" is not true`, true, "true", false},
		{"null", false, nil, false},
		{"missing", false, missing, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchOne(t, nil, "classification.user_agreement_update", tt.cond, tt.value); got != tt.want {
				t.Fatalf("%v at %v = %v, want %v", tt.cond, tt.value, got, tt.want)
			}
		})
	}
}

func TestEnumConditions(t *testing.T) {
	tests := []struct {
		name        string
		cond, value any
		want        bool
	}{
		{"exact", "high", "high", true},
		{"mismatch", "high", "low", false},
		{"any-of, first", []any{"high", "critical"}, "high", true},
		{"any-of, second", []any{"high", "critical"}, "critical", true},
		{"any-of, absent", []any{"high", "critical"}, "low", false},
		{"a number never matches", "high", 999, false},
		{"case matters", "high", "High", false},
		{"null", "high", nil, false},
		{"missing", "high", missing, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchOne(t, nil, "classification.priority", tt.cond, tt.value); got != tt.want {
				t.Fatalf("%v at %v = %v, want %v", tt.cond, tt.value, got, tt.want)
			}
		})
	}
	// An undeclared value never matches, even if the condition names it too.
	c, warns, err := rules.ParseCondition("classification.priority", "urgent", fixtureClassifications(), nil)
	if err != nil || len(warns) != 1 || !strings.Contains(warns[0], "not one of the declared values (low, medium, high, critical)") {
		t.Fatalf("undeclared enum value: err %v, warnings %q", err, warns)
	}
	if c.Match(nil, map[string]any{"priority": "urgent"}, now) {
		t.Fatal("an undeclared enum value matched")
	}
}

func TestFactConditions(t *testing.T) {
	past, future := "2020-01-15T10:00:00+00:00", "2099-01-15T10:00:00+00:00"
	tests := []struct {
		name        string
		key         string
		cond, value any
		want        bool
	}{
		{"boolean identity", "is_noreply", true, true, true},
		{"boolean mismatch", "is_noreply", true, false, false},
		{"1 is not true (a fix)", "has_attachments", 1, true, false},
		{"true is not 1", "has_attachments", true, 1, false},
		{`"true" is not true`, "is_noreply", true, "true", false},
		{"string equality", "domain", "example.com", "example.com", true},
		{"string mismatch", "domain", "example.com", "other.com", false},
		{"strings are case-sensitive", "from_address", "Bob@x.com", "bob@x.com", false},
		{"list is any-of", "domain", []any{"a.com", "example.com"}, "example.com", true},
		{"list without it", "domain", []any{"a.com", "b.com"}, "example.com", false},
		{"numbers by value", "calendar.guest_count", 3, 3, true},
		{"int equals float", "calendar.guest_count", 3, 3.0, true},
		{"float equals int", "calendar.guest_count", 3.0, 3, true},
		{"other number", "calendar.guest_count", 5, 3, false},
		{"a numeric string is not a number", "calendar.guest_count", 3, "3", false},
		{"dotted key", "authentication.dkim_pass", true, true, true},
		{"dotted key false", "authentication.spf_pass", true, false, false},
		{"mapping equality", "authentication", map[string]any{"dkim_pass": true, "spf_pass": false}, map[string]any{"dkim_pass": true, "spf_pass": false}, true},
		{"mapping inequality", "authentication", map[string]any{"dkim_pass": true}, map[string]any{"dkim_pass": true, "spf_pass": false}, false},
		{"null never matches", "domain", "example.com", nil, false},
		{"missing never matches", "domain", "example.com", missing, false},
		{"operator text is equality, not a comparison", "calendar.guest_count", ">1", 3, false},
		{"<now() past", "calendar.end", "<now()", past, true},
		{"<now() future", "calendar.end", "<now()", future, false},
		{">now() future", "calendar.end", ">now()", future, true},
		{">now() past", "calendar.end", ">now()", past, false},
		{"spaces around now()", "calendar.end", " < now() ", past, true},
		{"date only is midnight UTC", "calendar.end", "<now()", "2020-01-01", true},
		{"basic date form", "calendar.end", "<now()", "20200101", true},
		{"Z suffix", "calendar.end", "<now()", "2026-03-04T11:59:59Z", true},
		{"space separator", "calendar.end", "<now()", "2026-03-04 11:59:59+00:00", true},
		{"fractional seconds", "calendar.end", ">now()", "2026-03-04T12:00:00.5+00:00", true},
		{"naive is UTC, past", "calendar.end", "<now()", "2026-03-04T11:59:59", true},
		{"naive is UTC, future", "calendar.end", "<now()", "2026-03-04T12:00:01", false},
		{"offset is honoured", "calendar.end", "<now()", "2026-03-04T13:00:00+02:00", true},
		{"offset without colon", "calendar.end", ">now()", "2026-03-04T13:00:00-0200", true},
		{">= now() at now", "calendar.end", ">=now()", "2026-03-04T12:00:00Z", true},
		{"<= now() at now", "calendar.end", "<=now()", "2026-03-04T12:00:00Z", true},
		{"a time value", "calendar.end", "<now()", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"not a date", "calendar.end", "<now()", "not-a-date", false},
		{"a number is not a date", "calendar.end", "<now()", 20200101, false},
		{"unquoted YAML date equals the same day", "calendar.start", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "2026-03-01", true},
		{"unquoted YAML date vs another instant", "calendar.start", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "2026-03-01T14:00:00+00:00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchOne(t, emailKeys(t), tt.key, tt.cond, tt.value); got != tt.want {
				t.Fatalf("%s: %v at %v = %v, want %v", tt.key, tt.cond, tt.value, got, tt.want)
			}
		})
	}
}

// TestListValuedFacts covers GitHub issue labels: a list fact matches when it
// contains the value (the reference's equality made label conditions unusable).
func TestListValuedFacts(t *testing.T) {
	labels := []any{"bug", "ui"}
	tests := []struct {
		name string
		cond any
		want bool
	}{
		{"contains", "bug", true},
		{"does not contain", "docs", false},
		{"any of a list", []any{"urgent", "ui"}, true},
		{"none of a list", []any{"urgent", "docs"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchOne(t, issueKeys(t), "labels", tt.cond, labels); got != tt.want {
				t.Fatalf("labels: %v = %v, want %v", tt.cond, got, tt.want)
			}
			if got := matchOne(t, issueKeys(t), "labels", tt.cond, []string{"bug", "ui"}); got != tt.want {
				t.Fatalf("labels ([]string): %v = %v, want %v", tt.cond, got, tt.want)
			}
		})
	}
	if matchOne(t, issueKeys(t), "labels", "bug", []any{}) {
		t.Fatal("no labels matched bug")
	}
}

// TestMalformedConditions: each is a config error (the reference logged and
// never matched at run time, or read a YAML boolean as 1/0).
func TestMalformedConditions(t *testing.T) {
	tests := []struct {
		key     string
		cond    any
		wantErr string
	}{
		{"classification.human", "!=0.5", "invalid confidence condition"},
		{"classification.human", "not a number", "invalid confidence condition"},
		{"classification.human", "", "invalid confidence condition"},
		{"classification.human", "=0.5", "invalid confidence condition"},
		{"classification.human", ">= .5", "invalid confidence condition"},
		{"classification.human", "> -0.5", "invalid confidence condition"},
		{"classification.human", ">= 8e-1", "invalid confidence condition"},
		{"classification.human", "0.8", "invalid confidence condition"},
		{"classification.human", "<now()", "invalid confidence condition"},
		{"classification.human", true, "not the boolean true"},
		{"classification.human", []any{0.8}, "must be a number"},
		{"classification.human", map[string]any{"gt": 0.8}, "must be a number"},
		{"classification.human", nil, "must be a number"},
		{"classification.user_agreement_update", 1, "takes true or false"},
		{"classification.user_agreement_update", "true", "takes true or false"},
		{"classification.user_agreement_update", nil, "takes true or false"},
		{"classification.priority", 3, "takes a value or a list of values (low, medium, high, critical)"},
		{"classification.priority", true, "quote it"},
		{"classification.priority", []any{"high", 1}, "enum values are strings"},
		{"classification.priority", map[string]any{"a": "b"}, "takes a value or a list"},
		{"domain", nil, "has no value"},
		{"classification", 0.5, "needs a classification name"},
		{"classification.", 0.5, "needs a classification name"},
		{"", true, "empty key"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+describe(tt.cond), func(t *testing.T) {
			_, _, err := rules.ParseCondition(tt.key, tt.cond, fixtureClassifications(), emailKeys(t))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func describe(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestConditionWarnings(t *testing.T) {
	tests := []struct {
		key      string
		cond     any
		wantWarn string
		kind     string
	}{
		{"classification.nonexistent", true, `"nonexistent" is not a classification of this platform (human, user_agreement_update, requires_response, priority)`, "never"},
		{"body", "hi", `"body" is neither a deterministic fact`, "never"},
		{"authenticaton.dkim_pass", true, "neither a deterministic fact", "never"},
		{"classification.human", 2, "outside 0..1", "confidence"},
		{"classification.human", ">= 1.5", "outside 0..1", "confidence"},
		{"classification.priority", []any{}, "empty list never matches", "enum"},
		{"domain", "> a", "compared as text", "fact"},
		{"domain", "!= a", "compared as text", "fact"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			c, warns, err := rules.ParseCondition(tt.key, tt.cond, fixtureClassifications(), emailKeys(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(warns) != 1 || !strings.Contains(warns[0], tt.wantWarn) {
				t.Fatalf("warnings = %q, want one containing %q", warns, tt.wantWarn)
			}
			if c.Kind() != tt.kind {
				t.Fatalf("kind = %s, want %s", c.Kind(), tt.kind)
			}
		})
	}
	// A condition on an unconfigured classification never fires, even when the
	// answer holds that key.
	c, _, _ := rules.ParseCondition("classification.nonexistent", true, fixtureClassifications(), nil)
	if c.Match(rules.Facts{"nonexistent": true}, map[string]any{"nonexistent": true}, now) {
		t.Fatal("unknown classification matched")
	}
	// An unknown key never fires, even when the resolver has it.
	c, _, _ = rules.ParseCondition("body", "hi", nil, emailKeys(t))
	if c.Match(rules.Facts{"body": "hi"}, nil, now) {
		t.Fatal("unknown key matched")
	}
	// Well-formed conditions produce no warning.
	for _, wc := range when("classification.human", ">= 0.8", "domain", "a.com", "calendar.end", "<now()", "is_noreply", true) {
		if _, warns, err := rules.ParseCondition(wc.Key, wc.Value, fixtureClassifications(), emailKeys(t)); err != nil || len(warns) != 0 {
			t.Fatalf("%s: err %v warnings %q", wc.Key, err, warns)
		}
	}
	var zero rules.Condition
	if zero.Match(rules.Facts{"": 1}, map[string]any{"": 1}, now) {
		t.Fatal("the zero condition matched")
	}
}

func TestFactsResolver(t *testing.T) {
	f := rules.Facts{
		"domain":         "example.com",
		"authentication": map[string]any{"dkim_pass": true, "spf_pass": false},
		"calendar":       nil,
		"nested":         map[string]string{"a": "b"},
		"dotted.name":    1,
		"null":           nil,
	}
	tests := []struct {
		key    string
		want   any
		wantOK bool
	}{
		{"domain", "example.com", true},
		{"authentication.dkim_pass", true, true},
		{"authentication.spf_pass", false, true},
		{"authentication.unknown", nil, false},
		{"calendar.end", nil, false},
		{"calendar", nil, true},
		{"null", nil, true},
		{"nested.a", "b", true},
		{"dotted.name", 1, true},
		{"domain.x", nil, false},
		{"unknown", nil, false},
		{"", nil, false},
		{"authentication.dkim_pass.x", nil, false},
	}
	for _, tt := range tests {
		v, ok := f.Resolve(tt.key)
		if ok != tt.wantOK || v != tt.want {
			t.Errorf("Resolve(%q) = %v, %v; want %v, %v", tt.key, v, ok, tt.want, tt.wantOK)
		}
	}
	// MISSING is distinct from null, false, 0 and "": those are present values.
	present := rules.Facts{"f": false, "z": 0, "e": "", "n": nil}
	for _, k := range []string{"f", "z", "e", "n"} {
		if _, ok := present.Resolve(k); !ok {
			t.Errorf("%s resolved as MISSING", k)
		}
	}
	var nilFacts rules.Facts
	if _, ok := nilFacts.Resolve("domain"); ok {
		t.Error("nil facts resolved a key")
	}
	fn := rules.ResolverFunc(func(key string) (any, bool) { return key, key == "domain" })
	if v, ok := fn.Resolve("domain"); !ok || v != "domain" {
		t.Error("ResolverFunc")
	}
}
