package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// MaxAttempts is how many replies [Conversation.SendStructured] asks for
// before it gives up with ErrInvalidOutput (the reference's MAX_RETRIES).
const MaxAttempts = 3

// DefaultSchemaName is the response_format json_schema name used when a
// schema is given none (the reference always sent this one).
const DefaultSchemaName = "structured_output"

// schemaURL is where a compiled schema lives inside its compiler. Nothing is
// ever loaded from it: the compiler's loader refuses every URL, so a "$ref" to
// a file or a web address fails at NewSchema instead of reading it.
const schemaURL = "mem:///steward/schema.json"

// schemaName is what OpenAI accepts as a json_schema name.
var schemaName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Schema is the shape a structured reply must have: a JSON Schema (draft
// 2020-12) whose root is an object. It is compiled once and safe for
// concurrent use.
//
// Validation is as loose as the reference's: properties the schema does not
// name are allowed (and kept), integers are numbers, booleans are not. The
// copy sent to the backend is stricter at the root (additionalProperties:
// false, added when the schema does not say) because OpenAI's strict mode
// requires it; constrained decoders (Ollama, llama.cpp, vLLM) then never emit
// extra keys, and one that ignores the schema does not cost a retry for them.
type Schema struct {
	name     string
	doc      json.RawMessage // as validated locally
	wire     json.RawMessage // as sent in response_format
	compiled *jsonschema.Schema
}

// refuseLoader is the schema compiler's loader: schemas are self-contained.
type refuseLoader struct{}

// Load refuses every URL.
func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema references %s: only self-contained schemas are supported", url)
}

// NewSchema compiles a JSON Schema document. name is the response_format
// json_schema name ("" = DefaultSchemaName; letters, digits, '_' and '-', at
// most 64). A document without a root "type" is taken as an object schema
// (the reference accepted the fragment {"properties":..., "required":...});
// any other root type is refused, since replies are decoded into a map.
// Properties keep the order they have in doc, which some backends follow when
// they generate. Errors are Permanent.
func NewSchema(name string, doc []byte) (*Schema, error) {
	if name == "" {
		name = DefaultSchemaName
	}
	if !schemaName.MatchString(name) {
		return nil, schemaError("schema name %q must be 1-64 letters, digits, '_' or '-'", name)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		return nil, schemaError("schema %s is not valid JSON: %v", name, err)
	}
	raw := compact.Bytes()
	var root map[string]any
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &root) != nil {
		return nil, schemaError("schema %s must be a JSON object", name)
	}
	if t, ok := root["type"]; !ok {
		raw = addKey(raw, `"type":"object"`, true)
	} else if t != "object" {
		return nil, schemaError(`schema %s: the root must be "type": "object", got %v`, name, t)
	}
	wire := raw
	if _, ok := root["additionalProperties"]; !ok {
		wire = addKey(raw, `"additionalProperties":false`, false)
	}

	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, schemaError("schema %s: %v", name, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(refuseLoader{})
	if err := c.AddResource(schemaURL, inst); err != nil {
		return nil, schemaError("schema %s: %v", name, err)
	}
	compiled, err := c.Compile(schemaURL)
	if err != nil {
		return nil, schemaError("schema %s does not compile: %v", name, err)
	}
	return &Schema{name: name, doc: raw, wire: wire, compiled: compiled}, nil
}

// NewSchemaValue is [NewSchema] for a schema held as a Go value (for example a
// map[string]any); it is encoded with encoding/json, so map keys come out
// sorted.
func NewSchemaValue(name string, v any) (*Schema, error) {
	doc, err := json.Marshal(v)
	if err != nil {
		return nil, schemaError("schema %s cannot be encoded: %v", name, err)
	}
	return NewSchema(name, doc)
}

// schemaError is a Permanent error about a schema (no profile involved).
func schemaError(format string, args ...any) *Error {
	return &Error{Kind: Permanent, msg: fmt.Sprintf(format, args...), Err: ErrInvalidSchema}
}

// addKey inserts a member into a compact JSON object, first or last.
func addKey(obj []byte, member string, first bool) json.RawMessage {
	inner := obj[1 : len(obj)-1]
	var b bytes.Buffer
	b.WriteByte('{')
	switch {
	case len(inner) == 0:
		b.WriteString(member)
	case first:
		b.WriteString(member)
		b.WriteByte(',')
		b.Write(inner)
	default:
		b.Write(inner)
		b.WriteByte(',')
		b.WriteString(member)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// Name is the json_schema name sent to the backend.
func (s *Schema) Name() string { return s.name }

// JSON returns the schema document replies are validated against (with the
// root "type": "object" added when it was left out).
func (s *Schema) JSON() json.RawMessage { return bytes.Clone(s.doc) }

// WireJSON returns the schema as sent in response_format (JSON plus a root
// "additionalProperties": false when the schema does not set it).
func (s *Schema) WireJSON() json.RawMessage { return bytes.Clone(s.wire) }

// Parse decodes a reply and validates it. The error, when the reply does not
// fit, lists every problem; it quotes no more of the reply than a JSON
// syntax error does.
func (s *Schema) Parse(reply string) (map[string]any, error) {
	obj, problems := s.check(reply)
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidOutput, strings.Join(problems, "; "))
	}
	return obj, nil
}

// check decodes and validates a reply; problems is empty when it fits.
func (s *Schema) check(reply string) (map[string]any, []string) {
	text := extractJSON(reply)
	if text == "" {
		return nil, []string{"the reply was empty; expected a JSON object"}
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, []string{"the reply is not valid JSON (" + oneLine(err.Error(), maxQuoted) + ")"}
	}
	if err := s.compiled.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return nil, []string{oneLine(err.Error(), maxQuoted)}
		}
		return nil, validationProblems(ve)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(text), &obj); err != nil || obj == nil {
		// Unreachable with an object schema; kept so a reply can never be
		// returned as a nil map.
		return nil, []string{"the reply is not a JSON object"}
	}
	return obj, nil
}

// maxProblems bounds how many problems one reply reports (to the model and in
// errors).
const maxProblems = 10

// validationProblems flattens a validation error into one line per leaf
// problem.
func validationProblems(ve *jsonschema.ValidationError) []string {
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(out) >= maxProblems {
			return
		}
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		// A leaf prints as "at '/path': what is wrong" ('' = the whole reply).
		out = append(out, oneLine(e.Error(), maxQuoted))
	}
	walk(ve)
	if len(out) == 0 {
		out = []string{oneLine(ve.Error(), maxQuoted)}
	}
	return out
}

// extractJSON finds the JSON in a reply. Models that are not held to the
// schema by the backend often wrap their answer: a leading <think>…</think>
// block (reasoning models) and a ``` or ```json fence are taken off. Nothing
// else is forgiven.
func extractJSON(reply string) string {
	t := strings.TrimSpace(reply)
	if strings.HasPrefix(t, "<think>") {
		if i := strings.Index(t, "</think>"); i >= 0 {
			t = strings.TrimSpace(t[i+len("</think>"):])
		}
	}
	if strings.HasPrefix(t, "```") && strings.HasSuffix(t, "```") && len(t) >= 6 {
		inner := t[3 : len(t)-3]
		if nl := strings.IndexByte(inner, '\n'); nl >= 0 {
			// Drop an info string such as "json" after the opening fence.
			if tag := strings.TrimSpace(inner[:nl]); tag == "" || isWord(tag) {
				inner = inner[nl+1:]
			}
		}
		t = strings.TrimSpace(inner)
	}
	return t
}

// isWord reports a fence info string ("json", "JSON").
func isWord(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
