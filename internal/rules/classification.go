package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
)

// The reference's validation messages; tests and users grep for them.
const (
	msgValuesRequired = "'values' is required when type is 'enum'"
	msgValuesInvalid  = "'values' is only valid when type is 'enum'"
)

// typeOf returns a classification's type, confidence when none is written.
func typeOf(c config.Classification) config.ClassificationType {
	if c.Type == "" {
		return config.Confidence
	}
	return c.Type
}

// DecodeClassification turns the YAML value written for one classification into
// its config form. A plain string S is the shorthand for {prompt: S} (type
// confidence); otherwise raw must be a mapping with prompt (required), type
// (confidence, boolean or enum; default confidence) and values (a list of strings,
// required and non-empty for enum, forbidden otherwise). The result is validated
// with [ValidateClassification].
func DecodeClassification(name string, raw any) (config.Classification, error) {
	c := config.Classification{Name: name, Type: config.Confidence}
	switch v := raw.(type) {
	case string:
		c.Prompt = v
	case map[string]any:
		for k := range v {
			if k != "prompt" && k != "type" && k != "values" {
				return c, fmt.Errorf("classification %q: unknown key %q (allowed: prompt, type, values)", name, k)
			}
		}
		p, ok := v["prompt"].(string)
		if !ok {
			return c, fmt.Errorf("classification %q: 'prompt' is required and must be a string", name)
		}
		c.Prompt = p
		if t, present := v["type"]; present && t != nil {
			ts, ok := t.(string)
			if !ok {
				return c, fmt.Errorf("classification %q: 'type' must be one of confidence, boolean, enum (got %v)", name, t)
			}
			c.Type = config.ClassificationType(ts)
		}
		if vals, present := v["values"]; present && vals != nil {
			list, ok := vals.([]any)
			if !ok {
				return c, fmt.Errorf("classification %q: 'values' must be a list of strings", name)
			}
			c.Values = make([]string, 0, len(list))
			for _, e := range list {
				s, ok := e.(string)
				if !ok {
					return c, fmt.Errorf("classification %q: 'values' must be a list of strings (got %v; quote it)", name, e)
				}
				c.Values = append(c.Values, s)
			}
		}
	default:
		return c, fmt.Errorf("classification %q: expected a prompt string or a mapping {prompt, type, values}, got %s", name, describeValue(raw))
	}
	if err := ValidateClassification(c); err != nil {
		return c, err
	}
	return c, nil
}

// ValidateClassification checks one classification: a name, a non-empty prompt, a
// known type, and values exactly when the type is enum (non-empty and without
// duplicates). The messages for values are the reference's:
// "'values' is required when type is 'enum'" and "'values' is only valid when
// type is 'enum'" (the latter also for an empty but present list).
func ValidateClassification(c config.Classification) error {
	if c.Name == "" {
		return errors.New("classification without a name")
	}
	if strings.TrimSpace(c.Prompt) == "" {
		return fmt.Errorf("classification %q: 'prompt' is required", c.Name)
	}
	switch typeOf(c) {
	case config.Confidence, config.Boolean:
		if c.Values != nil {
			return fmt.Errorf("classification %q: %s", c.Name, msgValuesInvalid)
		}
	case config.Enum:
		if len(c.Values) == 0 {
			return fmt.Errorf("classification %q: %s", c.Name, msgValuesRequired)
		}
		seen := make(map[string]bool, len(c.Values))
		for _, v := range c.Values {
			if seen[v] {
				return fmt.Errorf("classification %q: value %q is listed twice", c.Name, v)
			}
			seen[v] = true
		}
	default:
		return fmt.Errorf("classification %q: type must be one of confidence, boolean, enum (got %q)", c.Name, c.Type)
	}
	return nil
}

// validateClassifications checks each classification and that names are unique.
func validateClassifications(cs []config.Classification) []error {
	var errs []error
	seen := make(map[string]bool, len(cs))
	for _, c := range cs {
		if err := ValidateClassification(c); err != nil {
			errs = append(errs, err)
		}
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("classification %q is defined twice", c.Name))
		}
		seen[c.Name] = true
	}
	return errs
}

// Classifications returns the classifications in force for a platform block: the
// configured ones when there are any (they replace the defaults entirely, no
// merge), else the platform's defaults from its manifest (mp may be nil: no
// defaults). fromDefaults reports which.
func Classifications(p config.Platform, mp *manifest.Platform) (cs []config.Classification, fromDefaults bool) {
	if len(p.Classifications) > 0 || mp == nil {
		return slices.Clone(p.Classifications), false
	}
	out := make([]config.Classification, 0, len(mp.DefaultClassifications))
	for _, d := range mp.DefaultClassifications {
		out = append(out, config.Classification{
			Name:   d.Name,
			Prompt: d.Prompt,
			Type:   config.ClassificationType(d.Type),
			Values: slices.Clone(d.Values),
		})
	}
	return out, true
}

// propertySchema is the JSON Schema of one classification's answer.
func propertySchema(c config.Classification) (map[string]any, error) {
	switch typeOf(c) {
	case config.Confidence:
		// Bounded (the reference accepted any number): out-of-range output fails
		// validation and the LLM call is retried.
		return map[string]any{"type": "number", "minimum": 0, "maximum": 1}, nil
	case config.Boolean:
		return map[string]any{"type": "boolean"}, nil
	case config.Enum:
		vals := make([]any, len(c.Values))
		for i, v := range c.Values {
			vals[i] = v
		}
		return map[string]any{"type": "string", "enum": vals}, nil
	default:
		return nil, fmt.Errorf("classification %q: unknown type %q", c.Name, c.Type)
	}
}

// Schema returns the JSON Schema (draft 2020-12) the LLM's answer for these
// classifications must satisfy: an object whose properties are the classification
// names, every one required; confidence is a number bounded 0..1, boolean a
// boolean, enum a string among the declared values. Extra properties are allowed
// (and never match a condition). An invalid classification is an error. Go maps
// lose the property order; [SchemaJSON] keeps it.
func Schema(cs []config.Classification) (map[string]any, error) {
	props := make(map[string]any, len(cs))
	required := make([]any, 0, len(cs))
	for _, c := range cs {
		if err := ValidateClassification(c); err != nil {
			return nil, fmt.Errorf("classification schema: %w", err)
		}
		ps, err := propertySchema(c)
		if err != nil {
			return nil, fmt.Errorf("classification schema: %w", err)
		}
		props[c.Name] = ps
		required = append(required, c.Name)
	}
	return map[string]any{"type": "object", "properties": props, "required": required}, nil
}

// SchemaJSON is [Schema] encoded as JSON with the properties in configuration
// order (the order the prompt lists them), which some structured-output
// backends follow when they generate.
func SchemaJSON(cs []config.Classification) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"type":"object","properties":{`)
	names := make([]string, 0, len(cs))
	for i, c := range cs {
		if err := ValidateClassification(c); err != nil {
			return nil, fmt.Errorf("classification schema: %w", err)
		}
		ps, err := propertySchema(c)
		if err != nil {
			return nil, fmt.Errorf("classification schema: %w", err)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		if err := writeJSON(&b, c.Name); err != nil {
			return nil, err
		}
		b.WriteByte(':')
		if err := writeJSON(&b, ps); err != nil {
			return nil, err
		}
		names = append(names, c.Name)
	}
	b.WriteString(`},"required":`)
	if err := writeJSON(&b, names); err != nil {
		return nil, err
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("classification schema: %w", err)
	}
	b.Write(data)
	return nil
}

// ValidateResult checks an LLM answer against the classifications the same way
// [Schema] does: every classification present, a confidence a number within
// 0..1 (a boolean is not a number), a boolean a boolean, an enum one of its
// declared values. Extra keys are allowed. The error lists every problem, in
// classification order.
func ValidateResult(cs []config.Classification, result map[string]any) error {
	var problems []string
	for _, c := range cs {
		v, ok := result[c.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%q is missing", c.Name))
			continue
		}
		switch typeOf(c) {
		case config.Confidence:
			f, ok := confidenceValue(v)
			if !ok {
				problems = append(problems, fmt.Sprintf("%q must be a number between 0 and 1, got %s", c.Name, describeValue(v)))
			} else if f < 0 || f > 1 {
				problems = append(problems, fmt.Sprintf("%q must be between 0 and 1, got %v", c.Name, f))
			}
		case config.Boolean:
			if _, ok := v.(bool); !ok {
				problems = append(problems, fmt.Sprintf("%q must be true or false, got %s", c.Name, describeValue(v)))
			}
		case config.Enum:
			s, ok := v.(string)
			if !ok || !slices.Contains(c.Values, s) {
				problems = append(problems, fmt.Sprintf("%q must be one of %s, got %s", c.Name, strings.Join(c.Values, ", "), describeValue(v)))
			}
		default:
			problems = append(problems, fmt.Sprintf("%q has unknown type %q", c.Name, c.Type))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("classification result: %s", strings.Join(problems, "; "))
	}
	return nil
}

// hashVersion is part of every hash. Bump it when the meaning of a stored
// classification changes (v1: confidences bounded 0..1), so items classified
// under the old meaning are classified again.
const hashVersion = "steward-classifications/v1"

// Hash returns a stable fingerprint (16 hex characters) of a platform's
// classification config: the same classifications in the same order give the
// same hash in every process and release; any change of a name, prompt, type
// (an absent type counts as confidence), value list or order gives another one.
// An item whose stored hash differs from the current one is classified again.
func Hash(cs []config.Classification) string {
	h := sha256.New()
	field := func(s string) {
		// Length-prefixed, so no choice of text can make two configs collide.
		fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	field(hashVersion)
	for _, c := range cs {
		field("c")
		field(c.Name)
		field(string(typeOf(c)))
		field(c.Prompt)
		fmt.Fprintf(h, "%d;", len(c.Values))
		for _, v := range c.Values {
			field(v)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// confidenceValue returns a usable confidence: a finite number. Booleans are not
// numbers (a fix over the reference, where true counted as 1).
func confidenceValue(v any) (float64, bool) {
	f, ok := toFloat(v)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// describeValue renders a value with its kind for messages.
func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case []any:
		return fmt.Sprintf("list %v", x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return fmt.Sprintf("mapping {%s}", strings.Join(keys, ", "))
	}
	if _, ok := toFloat(v); ok {
		return fmt.Sprintf("number %v", v)
	}
	return fmt.Sprintf("%T %v", v, v)
}
