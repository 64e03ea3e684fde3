package config

import (
	"bytes"
	"encoding/json"
	"fmt"

	"gopkg.in/yaml.v3"
)

// MaskedJSON renders the same normalised configuration as Masked, as one JSON
// object with the keys in the same order. JSON has no tags, so the two that
// matter keep a visible form:
//   - a value from secrets.yaml is the text "!secret <key>" (as Masked writes
//     it; an inline credential is "********"), so a masked password never
//     reads like a literal one;
//   - an action tagged !yolo is wrapped as {"!yolo": <action>}, e.g.
//     {"!yolo": "unsubscribe"} or {"!yolo": {"move_to": "Done"}} (a literal
//     "!yolo" key is not a valid action, so the wrapper cannot be mistaken for
//     one).
//
// It never contains a secret value.
func (c *Config) MaskedJSON() ([]byte, error) {
	var buf bytes.Buffer
	if err := writeJSONNode(&buf, c.maskedNode(), 0); err != nil {
		return nil, fmt.Errorf("normalised config as JSON: %w", err)
	}
	return buf.Bytes(), nil
}

// maxJSONDepth bounds the nesting writeJSONNode follows.
const maxJSONDepth = 200

// writeJSONNode writes one node of the masked tree as JSON.
func writeJSONNode(buf *bytes.Buffer, n *yaml.Node, depth int) error {
	n = deref(n)
	if n == nil {
		buf.WriteString("null")
		return nil
	}
	if depth > maxJSONDepth {
		return fmt.Errorf("nested deeper than %d levels", maxJSONDepth)
	}
	if n.Tag == "!yolo" {
		inner := *n
		inner.Tag = defaultTag(n)
		buf.WriteString(`{"!yolo":`)
		if err := writeJSONNode(buf, &inner, depth+1); err != nil {
			return err
		}
		buf.WriteByte('}')
		return nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			buf.WriteString("null")
			return nil
		}
		return writeJSONNode(buf, n.Content[0], depth+1)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSONString(buf, jsonKey(n.Content[i])); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := writeJSONNode(buf, n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, ch := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSONNode(buf, ch, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	}
	if n.Tag == "!secret" {
		return writeJSONString(buf, "!secret "+n.Value)
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return writeJSONString(buf, n.Value)
	}
	b, err := marshalJSON(v)
	if err != nil { // NaN, ±Inf: keep the YAML text
		return writeJSONString(buf, n.Value)
	}
	buf.Write(b)
	return nil
}

// jsonKey is the text of a mapping key; a key masked as a secret keeps its
// marker.
func jsonKey(k *yaml.Node) string {
	k = deref(k)
	if k == nil {
		return ""
	}
	if k.Tag == "!secret" {
		return "!secret " + k.Value
	}
	return k.Value
}

func writeJSONString(buf *bytes.Buffer, s string) error {
	b, err := marshalJSON(s)
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}

// marshalJSON is json.Marshal without HTML escaping (prompts and templates
// stay readable: <, > and & are not written as \u003c ...).
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
