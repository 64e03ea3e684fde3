package rules_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"pgregory.net/rapid"

	"github.com/stewardhq/steward/integrations/github"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/rules"
)

func TestDecodeClassification(t *testing.T) {
	tests := []struct {
		name    string
		raw     any
		want    config.Classification
		wantErr string
	}{
		{name: "shorthand is a confidence", raw: "is it human?",
			want: config.Classification{Name: "c", Prompt: "is it human?", Type: config.Confidence}},
		{name: "full confidence defaults the type", raw: map[string]any{"prompt": "p"},
			want: config.Classification{Name: "c", Prompt: "p", Type: config.Confidence}},
		{name: "boolean", raw: map[string]any{"prompt": "p", "type": "boolean"},
			want: config.Classification{Name: "c", Prompt: "p", Type: config.Boolean}},
		{name: "enum keeps values in order", raw: map[string]any{"prompt": "p", "type": "enum", "values": []any{"low", "medium", "high", "critical"}},
			want: config.Classification{Name: "c", Prompt: "p", Type: config.Enum, Values: []string{"low", "medium", "high", "critical"}}},
		{name: "null values on a confidence are absent", raw: map[string]any{"prompt": "p", "values": nil},
			want: config.Classification{Name: "c", Prompt: "p", Type: config.Confidence}},
		{name: "enum without values", raw: map[string]any{"prompt": "p", "type": "enum"}, wantErr: "'values' is required when type is 'enum'"},
		{name: "enum with empty values", raw: map[string]any{"prompt": "p", "type": "enum", "values": []any{}}, wantErr: "'values' is required when type is 'enum'"},
		{name: "confidence with values", raw: map[string]any{"prompt": "p", "values": []any{"a"}}, wantErr: "'values' is only valid when type is 'enum'"},
		{name: "boolean with empty values", raw: map[string]any{"prompt": "p", "type": "boolean", "values": []any{}}, wantErr: "'values' is only valid when type is 'enum'"},
		{name: "unknown type", raw: map[string]any{"prompt": "p", "type": "score"}, wantErr: "type must be one of confidence, boolean, enum"},
		{name: "missing prompt", raw: map[string]any{"type": "boolean"}, wantErr: "'prompt' is required"},
		{name: "empty shorthand", raw: "  ", wantErr: "'prompt' is required"},
		{name: "unknown key", raw: map[string]any{"prompt": "p", "promt": "x"}, wantErr: `unknown key "promt"`},
		{name: "non-string value", raw: map[string]any{"prompt": "p", "type": "enum", "values": []any{"a", true}}, wantErr: "quote it"},
		{name: "duplicate value", raw: map[string]any{"prompt": "p", "type": "enum", "values": []any{"a", "a"}}, wantErr: "listed twice"},
		{name: "a number is neither form", raw: 3, wantErr: "expected a prompt string or a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rules.DecodeClassification("c", tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestClassificationsDefaultsAndReplacement(t *testing.T) {
	mp := inboxManifest(t)
	cs, fromDefaults := rules.Classifications(config.Platform{Name: "inbox"}, mp)
	if !fromDefaults {
		t.Fatal("an empty block should use the defaults")
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name+":"+string(c.Type))
	}
	if got := strings.Join(names, ","); got != "human:confidence,user_agreement_update:boolean,requires_response:boolean,priority:enum" {
		t.Fatalf("email defaults = %s", got)
	}
	if !reflect.DeepEqual(cs[3].Values, []string{"low", "medium", "high", "critical"}) {
		t.Fatalf("priority values = %v", cs[3].Values)
	}
	// A configured set replaces the defaults entirely: no merge.
	own := []config.Classification{{Name: "newsletter", Prompt: "is it a newsletter?", Type: config.Boolean}}
	cs, fromDefaults = rules.Classifications(config.Platform{Name: "inbox", Classifications: own}, mp)
	if fromDefaults || len(cs) != 1 || cs[0].Name != "newsletter" {
		t.Fatalf("configured set: %v (defaults %v)", cs, fromDefaults)
	}
	// The GitHub defaults: documentation_only is a boolean without a 0..1 scale
	// in its prompt (the reference's prompt had one).
	prs, _ := github.Manifest().Platform("pull_requests")
	cs, _ = rules.Classifications(config.Platform{Name: "pull_requests"}, prs)
	if len(cs) != 3 || cs[2].Name != "documentation_only" || cs[2].Type != config.Boolean || strings.Contains(cs[2].Prompt, "0 =") {
		t.Fatalf("PR defaults = %+v", cs)
	}
	for _, c := range cs {
		if err := rules.ValidateClassification(c); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSchemaPerType(t *testing.T) {
	tests := []struct {
		name string
		cs   []config.Classification
		want string
	}{
		{"confidence is a number bounded 0..1",
			[]config.Classification{{Name: "human", Prompt: "p", Type: config.Confidence}},
			`{"type":"object","properties":{"human":{"maximum":1,"minimum":0,"type":"number"}},"required":["human"]}`},
		{"absent type is confidence",
			[]config.Classification{{Name: "human", Prompt: "p"}},
			`{"type":"object","properties":{"human":{"maximum":1,"minimum":0,"type":"number"}},"required":["human"]}`},
		{"boolean",
			[]config.Classification{{Name: "uau", Prompt: "p", Type: config.Boolean}},
			`{"type":"object","properties":{"uau":{"type":"boolean"}},"required":["uau"]}`},
		{"enum lists the values in order",
			[]config.Classification{{Name: "priority", Prompt: "p", Type: config.Enum, Values: []string{"low", "medium", "high", "critical"}}},
			`{"type":"object","properties":{"priority":{"enum":["low","medium","high","critical"],"type":"string"}},"required":["priority"]}`},
		{"empty", nil, `{"type":"object","properties":{},"required":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rules.SchemaJSON(tt.cs)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("SchemaJSON = %s\nwant        %s", got, tt.want)
			}
			m, err := rules.Schema(tt.cs)
			if err != nil {
				t.Fatal(err)
			}
			if !sameJSON(t, m, got) {
				t.Fatalf("Schema and SchemaJSON differ: %v vs %s", m, got)
			}
		})
	}
	// Mixed: three properties, all required, in configuration order.
	got, err := rules.SchemaJSON(fixtureClassifications())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Properties map[string]any `json:"properties"`
		Required   []string       `json:"required"`
	}
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Properties) != 4 || strings.Join(doc.Required, ",") != "human,user_agreement_update,requires_response,priority" {
		t.Fatalf("mixed schema = %s", got)
	}
	if bytes.Index(got, []byte(`"human"`)) > bytes.Index(got, []byte(`"priority"`)) {
		t.Fatalf("properties out of order: %s", got)
	}
	if _, err := rules.Schema([]config.Classification{{Name: "x", Prompt: "p", Type: "score"}}); err == nil {
		t.Fatal("an unknown type must not give a schema")
	}
}

func sameJSON(t *testing.T, a any, b []byte) bool {
	t.Helper()
	ab, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var x, y any
	if err := json.Unmarshal(ab, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

func TestValidateResult(t *testing.T) {
	cs := fixtureClassifications()
	ok := func() map[string]any {
		return map[string]any{"human": 0.5, "user_agreement_update": false, "requires_response": true, "priority": "low"}
	}
	with := func(k string, v any) map[string]any { m := ok(); m[k] = v; return m }
	without := func(k string) map[string]any { m := ok(); delete(m, k); return m }
	tests := []struct {
		name    string
		result  map[string]any
		wantErr string
	}{
		{"valid", ok(), ""},
		{"bounds are inclusive", with("human", 1.0), ""},
		{"zero", with("human", 0), ""},
		{"extra keys are allowed", with("mood", "sunny"), ""},
		{"out of range above", with("human", 1.5), `"human" must be between 0 and 1`},
		{"out of range below", with("human", -0.1), `"human" must be between 0 and 1`},
		{"a boolean is not a confidence", with("human", true), `"human" must be a number`},
		{"a string is not a confidence", with("human", "0.9"), `"human" must be a number`},
		{"1 is not true", with("user_agreement_update", 1), `"user_agreement_update" must be true or false`},
		{"undeclared enum value", with("priority", "urgent"), `"priority" must be one of low, medium, high, critical`},
		{"null enum", with("priority", nil), `"priority" must be one of`},
		{"missing", without("requires_response"), `"requires_response" is missing`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := rules.ValidateResult(cs, tt.result)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestSchemaAgreesWithValidateResult checks, with a real draft 2020-12 validator,
// that the JSON Schema sent to the LLM accepts exactly the answers
// ValidateResult accepts.
func TestSchemaAgreesWithValidateResult(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cs := genClassifications().Draw(t, "classifications")
		schemaJSON, err := rules.SchemaJSON(cs)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
		if err != nil {
			t.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource("classifications.json", doc); err != nil {
			t.Fatal(err)
		}
		sch, err := c.Compile("classifications.json")
		if err != nil {
			t.Fatal(err)
		}
		result := map[string]any{}
		for _, cl := range cs {
			if rapid.IntRange(0, 9).Draw(t, "omit") == 0 {
				continue
			}
			result[cl.Name] = genAnswer(cl).Draw(t, cl.Name)
		}
		if rapid.Bool().Draw(t, "extra") {
			result["zz_extra"] = genAnyValue().Draw(t, "extra value")
		}
		raw, err := json.Marshal(result)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		var decoded map[string]any
		if err := json.Unmarshal(raw, &decoded); err != nil {
			t.Fatal(err)
		}
		schemaErr := sch.Validate(inst)
		ourErr := rules.ValidateResult(cs, decoded)
		if (schemaErr == nil) != (ourErr == nil) {
			t.Fatalf("result %s: schema says %v, ValidateResult says %v", raw, schemaErr, ourErr)
		}
	})
}

func TestHash(t *testing.T) {
	base := fixtureClassifications()
	h := rules.Hash(base)
	if len(h) != 16 {
		t.Fatalf("hash %q is not 16 hex characters", h)
	}
	if rules.Hash(fixtureClassifications()) != h {
		t.Fatal("same config, different hash")
	}
	// Pinned: a hash change re-classifies every stored item, so it must not
	// drift between releases by accident.
	if h != "dd87bacd5ac0b5b9" {
		t.Fatalf("hash of the fixture = %s; if the change is deliberate, bump hashVersion and re-pin", h)
	}
	// An absent type is the confidence default.
	noType := fixtureClassifications()
	noType[0].Type = ""
	if rules.Hash(noType) != h {
		t.Fatal("an absent type should hash as confidence")
	}
	mutations := map[string]func([]config.Classification) []config.Classification{
		"name":   func(cs []config.Classification) []config.Classification { cs[0].Name = "humane"; return cs },
		"prompt": func(cs []config.Classification) []config.Classification { cs[0].Prompt += " "; return cs },
		"type": func(cs []config.Classification) []config.Classification {
			cs[1].Type = config.Confidence
			return cs
		},
		"values": func(cs []config.Classification) []config.Classification { cs[3].Values = cs[3].Values[:3]; return cs },
		"value order": func(cs []config.Classification) []config.Classification {
			cs[3].Values[0], cs[3].Values[1] = cs[3].Values[1], cs[3].Values[0]
			return cs
		},
		"order": func(cs []config.Classification) []config.Classification { cs[0], cs[1] = cs[1], cs[0]; return cs },
		"one more": func(cs []config.Classification) []config.Classification {
			return append(cs, config.Classification{Name: "x", Prompt: "y"})
		},
		"one less": func(cs []config.Classification) []config.Classification { return cs[:3] },
		"text shifted": func(cs []config.Classification) []config.Classification {
			cs[0].Name += "i"
			cs[0].Prompt = cs[0].Prompt[1:]
			return cs
		},
	}
	for name, mutate := range mutations {
		cs := mutate(cloneClassifications(base))
		if rules.Hash(cs) == h {
			t.Errorf("changing the %s kept the hash", name)
		}
	}
	if rules.Hash(nil) == h || rules.Hash(nil) != rules.Hash([]config.Classification{}) {
		t.Error("empty configs should share one hash, distinct from others")
	}
}

func TestHashProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := genClassifications().Draw(t, "a")
		b := genClassifications().Draw(t, "b")
		same := reflect.DeepEqual(normalizeTypes(a), normalizeTypes(b))
		if same != (rules.Hash(a) == rules.Hash(b)) {
			t.Fatalf("equal configs %v, equal hashes %v:\n%v\n%v", same, rules.Hash(a) == rules.Hash(b), a, b)
		}
	})
}

func normalizeTypes(cs []config.Classification) []config.Classification {
	out := cloneClassifications(cs)
	for i := range out {
		if out[i].Type == "" {
			out[i].Type = config.Confidence
		}
		if len(out[i].Values) == 0 {
			out[i].Values = nil
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func cloneClassifications(cs []config.Classification) []config.Classification {
	out := make([]config.Classification, len(cs))
	for i, c := range cs {
		c.Values = append([]string(nil), c.Values...)
		out[i] = c
	}
	return out
}

// genClassifications draws a valid classification list with unique names.
func genClassifications() *rapid.Generator[[]config.Classification] {
	return rapid.Custom(func(t *rapid.T) []config.Classification {
		names := rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"human", "spam", "priority", "urgent", "mood", "a", "b"}), 0, 5, rapid.ID[string]).Draw(t, "names")
		out := make([]config.Classification, 0, len(names))
		for _, n := range names {
			c := config.Classification{Name: n, Prompt: rapid.SampledFrom([]string{"p", "q", "is it?"}).Draw(t, "prompt")}
			switch rapid.IntRange(0, 3).Draw(t, "type") {
			case 0:
				c.Type = config.Confidence
			case 1:
				c.Type = ""
			case 2:
				c.Type = config.Boolean
			default:
				c.Type = config.Enum
				c.Values = rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"low", "high", "x", ""}), 1, 3, rapid.ID[string]).Draw(t, "values")
			}
			out = append(out, c)
		}
		return out
	})
}

// genAnswer draws a plausible or implausible LLM answer for one classification.
func genAnswer(c config.Classification) *rapid.Generator[any] {
	return rapid.Custom(func(t *rapid.T) any {
		switch rapid.IntRange(0, 3).Draw(t, "shape") {
		case 0: // well-typed
			switch c.Type {
			case config.Boolean:
				return rapid.Bool().Draw(t, "b")
			case config.Enum:
				return rapid.SampledFrom(c.Values).Draw(t, "e")
			default:
				return rapid.Float64Range(0, 1).Draw(t, "f")
			}
		case 1: // boundary numbers
			return rapid.SampledFrom([]any{0.0, 1.0, -0.0, 1.0000001, -0.0000001, 2, -1, 0.5}).Draw(t, "n")
		default:
			return genAnyValue().Draw(t, "any")
		}
	})
}

// genAnyValue draws any JSON-like value.
func genAnyValue() *rapid.Generator[any] {
	return rapid.OneOf(
		rapid.Just[any](nil),
		rapid.Map(rapid.Bool(), func(b bool) any { return b }),
		rapid.Map(rapid.Float64Range(-10, 10), func(f float64) any { return f }),
		rapid.Map(rapid.IntRange(-100, 100), func(i int) any { return i }),
		rapid.Map(rapid.SampledFrom([]string{"low", "medium", "high", "critical", "unknown", "", "yes", "true", "0.9"}), func(s string) any { return s }),
		rapid.Map(rapid.StringN(0, 20, -1), func(s string) any { return s }),
		rapid.Just[any]([]any{"high"}),
		rapid.Just[any](map[string]any{"k": 1.0}),
	)
}
