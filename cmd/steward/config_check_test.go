package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// secretValue is the only secret the test configs use; it must never be shown.
const secretValue = "hunter2-very-secret"

// runConfigCheck runs `steward config check --config <dir>/config.yaml [args]`
// with a secrets.yaml holding pw beside it. It returns stdout and the
// command's error (what main prints on stderr).
func runConfigCheck(t *testing.T, configText string, args ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(configText), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets.yaml"), []byte("pw: "+secretValue+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newConfigCmd()
	cmd.SilenceUsage, cmd.SilenceErrors = true, true // as under the root command
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"check", "--config", path}, args...))
	err := cmd.Execute()
	if strings.Contains(out.String(), secretValue) || (err != nil && strings.Contains(err.Error(), secretValue)) {
		t.Fatal("the secret value was shown")
	}
	return out.String(), err
}

// checkJSON is the part of the --json document these tests read.
type checkJSON struct {
	OK       bool           `json:"ok"`
	Errors   []string       `json:"errors"`
	Warnings []string       `json:"warnings"`
	Notices  []string       `json:"notices"`
	Config   map[string]any `json:"config"`
}

const llmsSection = "llms:\n  default:\n    model: llama3.1:8b\n"

// emailConfig is an email integration whose extra lines (indented four
// spaces) go under the entry.
func emailConfig(extra string) string {
	return llmsSection + `integrations:
  - type: email
    name: personal
    username: me@example.com
    password: !secret pw
` + extra
}

// A config that does not load shows its warnings beside its errors, in text
// and in JSON: the unknown key's "did you mean" is what explains the error.
func TestConfigCheckShowsWarningsWithErrors(t *testing.T) {
	tests := []struct {
		name       string
		config     string
		errText    []string // in the text error (stderr)
		jsonErrors []string // fragments, each in some errors[] entry
		jsonWarns  []string // fragments, each in some warnings[] entry
	}{
		{
			name:   "typo beside the required key",
			config: emailConfig("    imap_sever: imap.example.com\n"),
			errText: []string{
				"integrations[0].imap_server: required:",
				"\nwarning: ",
				`integrations[0].imap_sever: unknown key "imap_sever", ignored`,
				"did you mean imap_server?",
			},
			jsonErrors: []string{"integrations[0].imap_server: required:", `"imap_sever" (line 9) looks like a misspelling of imap_server`},
			jsonWarns:  []string{`integrations[0].imap_sever: unknown key "imap_sever"`, "did you mean imap_server?"},
		},
		{
			name:       "unknown top-level key fails the check",
			config:     llmsSection + "intergrations:\n  - type: email\n",
			errText:    []string{`config.yaml:4: intergrations: unknown section "intergrations"; did you mean integrations?`},
			jsonErrors: []string{`config.yaml:4: intergrations: unknown section "intergrations"; did you mean integrations?`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runConfigCheck(t, tt.config)
			if err == nil {
				t.Fatal("config check succeeded")
			}
			if ee, ok := err.(*exitError); !ok || ee.code != 1 {
				t.Errorf("err = %T %v, want exit status 1", err, err)
			}
			for _, want := range tt.errText {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("text output lacks %q:\n%s", want, err)
				}
			}

			out, err := runConfigCheck(t, tt.config, "--json")
			if err == nil {
				t.Fatal("config check --json succeeded")
			}
			var doc checkJSON
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if doc.OK {
				t.Error("ok = true")
			}
			requireFragments(t, "errors", doc.Errors, tt.jsonErrors)
			requireFragments(t, "warnings", doc.Warnings, tt.jsonWarns)
		})
	}
}

// requireFragments asserts each fragment is in some entry of list.
func requireFragments(t *testing.T, what string, list, fragments []string) {
	t.Helper()
	for _, f := range fragments {
		found := false
		for _, s := range list {
			found = found || strings.Contains(s, f)
		}
		if !found {
			t.Errorf("no %s entry contains %q: %q", what, f, list)
		}
	}
}

// config check --json keeps the markers the text output shows as YAML tags: a
// masked secret reads "!secret <key>", not like a literal value, and a !yolo
// action is {"!yolo": action}. The text output shows the same tags.
func TestConfigCheckKeepsSecretAndYoloMarkers(t *testing.T) {
	config := emailConfig(`    imap_server: imap.example.com
    platforms:
      inbox:
        automations:
          - when: {domain: example.com}
            then: [!yolo unsubscribe, archive, !yolo {move_to: Done}]
`)
	out, err := runConfigCheck(t, config, "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var doc checkJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	in := doc.Config["integrations"].([]any)[0].(map[string]any)
	then := in["platforms"].(map[string]any)["inbox"].(map[string]any)["automations"].([]any)[0].(map[string]any)["then"].([]any)
	tests := []struct {
		name      string
		got, want any
	}{
		{"masked password", in["password"], "!secret pw"},
		{"yolo simple action", then[0], map[string]any{"!yolo": "unsubscribe"}},
		{"plain action", then[1], "archive"},
		{"yolo mapping action", then[2], map[string]any{"!yolo": map[string]any{"move_to": "Done"}}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}

	text, err := runConfigCheck(t, config)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	for _, want := range []string{"password: !secret pw\n", "- !yolo unsubscribe\n", "- archive\n", "- !yolo\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q", want)
		}
	}
}
