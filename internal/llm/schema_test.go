package llm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/llm"
)

func TestNewSchema(t *testing.T) {
	tests := []struct {
		name, doc, wantJSON, wantWire, err string
	}{
		{name: "fragment gets type object", doc: `{"properties":{"a":{"type":"boolean"}},"required":["a"]}`,
			wantJSON: `{"type":"object","properties":{"a":{"type":"boolean"}},"required":["a"]}`,
			wantWire: `{"type":"object","properties":{"a":{"type":"boolean"}},"required":["a"],"additionalProperties":false}`},
		{name: "empty fragment", doc: ` { } `, wantJSON: `{"type":"object"}`, wantWire: `{"type":"object","additionalProperties":false}`},
		{name: "explicit additionalProperties kept", doc: `{"type":"object","additionalProperties":true}`,
			wantJSON: `{"type":"object","additionalProperties":true}`, wantWire: `{"type":"object","additionalProperties":true}`},
		{name: "non-object root", doc: `{"type":"array"}`, err: `the root must be "type": "object"`},
		{name: "not an object", doc: `[1]`, err: "must be a JSON object"},
		{name: "not JSON", doc: `{`, err: "not valid JSON"},
		{name: "bad keyword", doc: `{"properties":{"a":{"type":"nonsense"}}}`, err: "does not compile"},
		{name: "file ref refused", doc: `{"properties":{"a":{"$ref":"file:///etc/passwd"}}}`, err: "only self-contained schemas"},
		{name: "http ref refused", doc: `{"properties":{"a":{"$ref":"https://example.com/s.json"}}}`, err: "only self-contained schemas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := llm.NewSchema("", []byte(tt.doc))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !llm.IsPermanent(err) || !errors.Is(err, llm.ErrInvalidSchema) {
					t.Errorf("err = %v, want permanent %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(s.JSON()) != tt.wantJSON || string(s.WireJSON()) != tt.wantWire || s.Name() != "structured_output" {
				t.Errorf("JSON %s, wire %s, name %s", s.JSON(), s.WireJSON(), s.Name())
			}
		})
	}
	if _, err := llm.NewSchema("has space", []byte(`{}`)); err == nil {
		t.Error("bad name accepted")
	}
	if s, err := llm.NewSchemaValue("classification", map[string]any{"properties": map[string]any{"x": map[string]any{"type": "number"}}}); err != nil || s.Name() != "classification" {
		t.Errorf("NewSchemaValue: %v", err)
	}
}

// Validation as the reference test_llm.py asserts it, plus the reference's
// looseness (integers are numbers, booleans are not, extra keys pass).
func TestSchemaParse(t *testing.T) {
	s := mustSchema(t, classSchema)
	tests := []struct {
		name, reply, want string // want "" = valid
	}{
		{"valid", validReply, ""},
		{"integer is a number", `{"human":0,"requires_response":false,"priority":"low"}`, ""},
		{"extra key", `{"human":0,"requires_response":false,"priority":"low","x":[1]}`, ""},
		{"think block", "<think>hmm</think>\n" + validReply, ""},
		{"missing field names it", `{"human":0,"priority":"low"}`, "requires_response"},
		{"wrong type", `{"human":0,"requires_response":"yes","priority":"low"}`, "want boolean"},
		{"boolean is not a number", `{"human":true,"requires_response":true,"priority":"low"}`, "want number"},
		{"outside enum", `{"human":0,"requires_response":true,"priority":"urgent"}`, "priority"},
		{"array root", `[]`, "want object"},
		{"empty", "  ", "empty"},
		{"trailing text", validReply + " hope that helps", "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, err := s.Parse(tt.reply)
			if tt.want == "" {
				if err != nil || obj == nil {
					t.Errorf("Parse = %v, %v", obj, err)
				}
				return
			}
			if err == nil || !errors.Is(err, llm.ErrInvalidOutput) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
