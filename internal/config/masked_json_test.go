package config_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// MaskedJSON keeps the markers YAML shows as tags: a masked secret is
// "!secret <key>" (never the value, never just the key as if it were a literal),
// a !yolo action is {"!yolo": action}.
func TestMaskedJSON(t *testing.T) {
	secrets := map[string]string{"pw": "hunter2-very-secret", "tok": "llm-token-abcdef", "host": "imap.secret-host.example"}
	doc := `
llms:
  default:
    model: llama3.1:8b
    token: !secret tok
  inline:
    model: m
    token: inline-token-12345
integrations:
  - type: email
    name: personal
    imap_server: !secret host
    username: me@example.com
    password: !secret pw
    platforms:
      inbox:
        automations:
          - when: {domain: example.com}
            then:
              - !yolo unsubscribe
              - archive
              - !yolo {move_to: Done}
              - !yolo {script: {name: s, inputs: {d: "{{ domain }}"}}}
              - {draft_reply: "a < b & c"}
`
	cfg := mustParse(t, doc, secrets)
	b, err := cfg.MaskedJSON()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range secrets {
		if strings.Contains(string(b), v) {
			t.Errorf("secret %s leaked: %s", k, b)
		}
	}
	var tree map[string]any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	in := tree["integrations"].([]any)[0].(map[string]any)
	then := in["platforms"].(map[string]any)["inbox"].(map[string]any)["automations"].([]any)[0].(map[string]any)["then"].([]any)
	llms := tree["llms"].(map[string]any)
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"secret password", in["password"], "!secret pw"},
		{"secret used for a non-credential field", in["imap_server"], "!secret host"},
		{"secret LLM token", llms["default"].(map[string]any)["token"], "!secret tok"},
		{"inline credential", llms["inline"].(map[string]any)["token"], "********"},
		{"plain text stays text", in["username"], "me@example.com"},
		{"yolo simple action", then[0], map[string]any{"!yolo": "unsubscribe"}},
		{"plain simple action", then[1], "archive"},
		{"yolo dict action", then[2], map[string]any{"!yolo": map[string]any{"move_to": "Done"}}},
		{"yolo script action", then[3], map[string]any{"!yolo": map[string]any{"script": map[string]any{"name": "s", "inputs": map[string]any{"d": "{{ domain }}"}}}}},
		{"plain dict action", then[4], map[string]any{"draft_reply": "a < b & c"}},
		{"numbers stay numbers", in["imap_port"], float64(993)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
	// The keys keep the order of the text output.
	if i, j := strings.Index(string(b), `"llms"`), strings.Index(string(b), `"integrations"`); i < 0 || j < i {
		t.Errorf("sections out of order: %s", b)
	}
	if !strings.Contains(string(b), `"a < b & c"`) {
		t.Errorf("text is HTML-escaped: %s", b)
	}
}
