package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stewardhq/steward/internal/config"
)

func exampleSecrets(f *testing.F) map[string]string {
	data, err := os.ReadFile(filepath.Join("..", "..", "secrets.example.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	s, err := config.ParseSecrets(data, "secrets.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// FuzzParse: arbitrary bytes give a config or an error, never a panic; a valid
// config renders with Masked, and that rendering loads again.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("..", "..", "config.example.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, seed := range []string{
		"", "~", "llms:\n  default: {model: m}\n", "directories: null\n",
		"integrations:\n  - type: email\n    name: p\n    imap_server: s\n    username: u\n    password: !secret personal_email_password\n    platforms: {inbox: {automations: [{when: {}, then: !yolo archive}]}}\n",
		"a: &a [1, *a]\n", "x: &x {<<: *x}\n", "queue_policies: {retention: 7d, overrides: {x: {rate_limit: null}}}\n",
		"llms:\n  d: {model: m, timeout: 1d, parameters: {a: [1, {b: 2026-01-01}]}}\n",
		"llms:\n  default: {model: !secret gemini_api_key, concurrency: x}\nintegrations:\n  - type: github\n    name: g\n    github_user: u\n    app_id: 1\n    installation_id: \"2\"\n    private_key: !secret github_private_key\n    platforms: {issues: {classifications: {p: {prompt: x, type: enum}}}, prs: {}}\nqueue_policies: {defaults: {rate_limit: {max: 0, per: x}}}\n",
		"nats: {listen: \"\", url: nats://x}\ngateway: {listen: 0.0.0.0:1, token: !secret gemini_api_key}\nscripts: {s: {shell: x, timeout: 5m}}\nchat: {llm: nope}\n",
	} {
		f.Add([]byte(seed))
	}
	secrets := exampleSecrets(f)
	opts := config.LoadOptions{Registry: registry, Environ: []string{}}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(data, "config.yaml", secrets, opts)
		if err != nil {
			le, ok := err.(*config.LoadError)
			if !ok || len(le.Errors) == 0 {
				t.Fatalf("error is not a *LoadError with errors: %T %v", err, err)
			}
			errs := le.Errors
			for _, e := range errs {
				if e.Msg == "" {
					t.Fatalf("empty message in %v", errs)
				}
			}
			return
		}
		if cfg == nil {
			t.Fatal("nil config without error")
		}
		masked, err := cfg.Masked()
		if err != nil {
			t.Fatalf("Masked: %v", err)
		}
		if _, err := config.Parse(masked, "masked.yaml", secrets, opts); err != nil {
			t.Fatalf("Masked output does not load:\n%v\n--- input:\n%q\n--- masked:\n%s", err, data, masked)
		}
	})
}

// FuzzActions fuzzes the `then` decoder on its own.
func FuzzActions(f *testing.F) {
	for _, seed := range []string{
		"archive", "[archive, !yolo unsubscribe]", "{move_to: Folder}", "- script: x",
		"- script: {name: x, inputs: {a: \"{{ b }}\"}}", "- service: {call: a.b.c, inputs: {p: q}, on_result: [{type: note}], human_log: h}",
		"!yolo {service: {call: gemini.r.web_research}}", "5", "~", "[[a]]", "- {}", "- \"!yolo\": x", "!yolo [a]",
		"- <<: {draft_reply: hi}\n  move_to: X", "- &a {x: *a}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		acts, err := config.ParseActions(data)
		if err != nil {
			if _, ok := err.(config.Errors); !ok {
				t.Fatalf("error type %T", err)
			}
			return
		}
		for _, a := range acts {
			switch a.Kind {
			case config.ActionSimple:
				if a.Name == "" {
					t.Fatalf("simple action without name: %#v", a)
				}
			case config.ActionDict:
				if len(a.Data) == 0 || len(a.Keys()) != len(a.Data) {
					t.Fatalf("dict action without keys: %#v", a)
				}
				if _, bad := a.Data["!yolo"]; bad {
					t.Fatalf("literal !yolo key accepted: %#v", a)
				}
			case config.ActionScript:
				if a.Script == nil || a.Script.Name == "" {
					t.Fatalf("script action without name: %#v", a)
				}
			case config.ActionService:
				if a.Service == nil || a.Service.Call == "" {
					t.Fatalf("service action without call: %#v", a)
				}
			default:
				t.Fatalf("unknown kind: %#v", a)
			}
		}
	})
}
