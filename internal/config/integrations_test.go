package config_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/config"
)

func TestIntegrationFieldsTypedPerManifest(t *testing.T) {
	cfg := mustParse(t, llmsDefault+`
integrations:
  - type: email
    name: personal
    imap_server: imap.example.com
    imap_port: "1993"
    username: me@example.com
    password: !secret pw
    tls_verify: no
    platforms:
      inbox:
        limit: 20
  - type: github
    name: my_repos
    github_user: octocat
    app_id: "1"
    installation_id: "2"
    private_key: !secret key
    orgs: [a, b]
    repos: [a/x, {repo: b/y, context: docs}]
    llm: default
    platforms:
      pull_requests:
        include_mentions: on
      issues:
  - type: gemini
    name: research
    api_key: !secret key
`, map[string]string{"pw": "pw-value-1", "key": "key-value-2"})
	noWarnings(t, cfg)

	email := cfg.Integrations[0]
	if email.ID() != "email.personal" || email.LLM != "default" || email.Schedule != nil {
		t.Errorf("email = %+v", email)
	}
	wantFields := map[string]any{
		"imap_server": "imap.example.com", "imap_port": 1993, "username": "me@example.com",
		"password": config.NewSecret("pw-value-1", "pw"), "tls_verify": false,
		"imap_security": "", "unsubscribe_private_networks": false,
	}
	if !reflect.DeepEqual(email.Fields, wantFields) {
		t.Errorf("email fields = %#v", email.Fields)
	}
	if !email.HasPlatforms || len(email.Platforms) != 1 || email.Platforms[0].Fields["limit"] != 20 {
		t.Errorf("email platforms = %+v", email.Platforms)
	}
	if _, hasWindow := email.Platforms[0].Fields["window"]; hasWindow {
		t.Error("absent optional field without default must be absent")
	}

	gh := cfg.Integrations[1]
	if gh.Fields["orgs"] == nil || !reflect.DeepEqual(gh.Fields["orgs"], []any{"a", "b"}) {
		t.Errorf("orgs = %#v", gh.Fields["orgs"])
	}
	if !reflect.DeepEqual(gh.Fields["repos"], []any{"a/x", map[string]any{"repo": "b/y", "context": "docs"}}) {
		t.Errorf("repos = %#v", gh.Fields["repos"])
	}
	if len(gh.Platforms) != 1 || gh.Platforms[0].Name != "pull_requests" || gh.Platforms[0].Fields["include_mentions"] != true {
		t.Errorf("null platform must be disabled; platforms = %+v", gh.Platforms)
	}

	gem := cfg.Integrations[2]
	if gem.HasPlatforms || len(gem.Platforms) != 0 {
		t.Errorf("gemini platforms = %+v", gem)
	}
	if _, ok := gem.Fields["model"]; ok {
		t.Error("gemini model absent must stay absent")
	}
}

func TestPlatformDefaultsAndOrder(t *testing.T) {
	cfg := mustParse(t, llmsDefault+`
integrations:
  - type: github
    name: g
    github_user: u
    app_id: "1"
    installation_id: "2"
    private_key: !secret key
    platforms:
      issues: {}
      pull_requests: {}
`, map[string]string{"key": "k-value"})
	pl := cfg.Integrations[0].Platforms
	if len(pl) != 2 || pl[0].Name != "pull_requests" || pl[1].Name != "issues" {
		t.Fatalf("platforms must follow manifest order: %+v", pl)
	}
	if pl[1].Fields["include_mentions"] != false || len(pl[1].Classifications) != 0 || len(pl[1].Automations) != 0 {
		t.Errorf("defaults = %+v", pl[1])
	}
}

func TestIntegrationErrors(t *testing.T) {
	const head = llmsDefault + "\nintegrations:\n"
	cases := []struct {
		name, body, key, msg string
		line                 int
	}{
		{"exact imap_port message", `  - type: email
    name: p
    imap_server: s
    imap_port: abc
    username: u
    password: !secret pw
`, "integrations[0].imap_port", `expected an integer, got "abc"`, 10},
		{"unknown type", "  - type: jira\n    name: x\n", "integrations[0].type", `unknown integration type "jira" (known types: email, gemini, github, notes)`, 7},
		{"missing type", "  - name: x\n", "integrations[0].type", "required: the integration type (known types: email, gemini, github, notes)", 7},
		{"missing name", "  - type: gemini\n    api_key: !secret pw\n", "integrations[0].name", "required", 7},
		{"bad name", "  - type: gemini\n    name: my research\n    api_key: !secret pw\n", "integrations[0].name", "names may only contain", 8},
		{"missing required field", "  - type: gemini\n    name: r\n", "integrations[0].api_key", "required: Gemini API key (use !secret) (gemini integrations need: api_key)", 7},
		{"number for a string field", "  - type: github\n    name: g\n    github_user: u\n    app_id: 123\n    installation_id: \"2\"\n    private_key: !secret pw\n",
			"integrations[0].app_id", "expected text, got the number 123", 10},
		{"bool field", "  - type: email\n    name: p\n    imap_server: s\n    username: u\n    password: !secret pw\n    tls_verify: maybe\n",
			"integrations[0].tls_verify", `expected true or false (yes/no, on/off also work), got "maybe"`, 12},
		{"list field given text", "  - type: github\n    name: g\n    github_user: u\n    app_id: \"1\"\n    installation_id: \"2\"\n    private_key: !secret pw\n    orgs: my-org\n",
			"integrations[0].orgs", "for one item write it as a list", 13},
		{"unknown platform", "  - type: email\n    name: p\n    imap_server: s\n    username: u\n    password: !secret pw\n    platforms:\n      inbx: {}\n",
			"integrations[0].platforms.inbx", `unknown platform "inbx" (email integrations have: inbox); did you mean inbox?`, 13},
		{"platform not a mapping", "  - type: email\n    name: p\n    imap_server: s\n    username: u\n    password: !secret pw\n    platforms:\n      inbox: yes\n",
			"integrations[0].platforms.inbox", "expected a platform block", 13},
		{"integration not a mapping", "  - email\n", "integrations[0]", "expected an integration mapping", 7},
		{"integrations not a list", "  type: email\n", "integrations", "expected a list of integrations", 7},
		{"undefined llm profile", "  - type: email\n    name: p\n    imap_server: s\n    username: u\n    password: !secret pw\n    llm: big\n    platforms: {inbox: {}}\n",
			"integrations[0].llm", "LLM profile 'big' not found in llms. Available: ['default']", 12},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := parseErrors(t, head+c.body, map[string]string{"pw": "pw-value"})
			e := requireError(t, errs, c.key, c.msg)
			if e.Line != c.line {
				t.Errorf("line = %d, want %d: %v", e.Line, c.line, e)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	errs := parseErrors(t, llmsDefault+`
integrations:
  - type: email
    name: personal
    imap_server: s
    imap_port: abc
    username: u
    password: !secret pw
`, map[string]string{"pw": "x"})
	if got, want := errs[0].Error(), `config.yaml:10: integrations[0].imap_port: expected an integer, got "abc"`; got != want {
		t.Errorf("Error() = %q\nwant      %q", got, want)
	}
	var e *config.Error
	if !errors.As(error(errs), &e) || e.Line != 10 {
		t.Errorf("errors.As *Error = %+v", e)
	}
	if (&config.Error{Msg: "m"}).Error() != "m" || (&config.Error{File: "f", Msg: "m"}).Error() != "f: m" ||
		(&config.Error{File: "f", Key: "k", Msg: "m"}).Error() != "f: k: m" {
		t.Error("partial positions format wrongly")
	}
}

func TestAllErrorsReported(t *testing.T) {
	errs := parseErrors(t, `
llms:
  default: {}
integrations:
  - type: email
    name: a
  - type: nope
    name: b
scripts:
  s: {description: no shell}
queue_policies:
  retention: 7x
`, nil)
	requireError(t, errs, "llms.default.model", "required")
	requireError(t, errs, "integrations[0].imap_server", "required")
	requireError(t, errs, "integrations[0].username", "required")
	requireError(t, errs, "integrations[0].password", "required")
	requireError(t, errs, "integrations[1].type", "unknown integration type")
	requireError(t, errs, "scripts.s.shell", "required")
	requireError(t, errs, "queue_policies.retention", "Invalid retention format: '7x' (expected e.g. '30m', '1h', '7d')")
	for i := 1; i < len(errs); i++ {
		if errs[i].Line < errs[i-1].Line {
			t.Errorf("errors not sorted by line: %v", errs)
		}
	}
}

func TestDuplicateIntegration(t *testing.T) {
	errs := parseErrors(t, llmsDefault+`
integrations:
  - type: gemini
    name: research
    api_key: !secret k
  - type: gemini
    name: research
    api_key: !secret k
`, map[string]string{"k": "v-value"})
	e := requireError(t, errs, "integrations[1].name", "Duplicate integration: 'gemini.research'. Each gemini.name must be unique.")
	if e.Line != 10 {
		t.Errorf("line = %d", e.Line)
	}
	// Same name, different type: fine.
	mustParse(t, llmsDefault+`
integrations:
  - type: gemini
    name: personal
    api_key: !secret k
  - type: email
    name: personal
    imap_server: s
    username: u
    password: !secret k
`, map[string]string{"k": "v-value"})
}

func TestNilRegistryRejectsIntegrations(t *testing.T) {
	_, err := config.Parse([]byte("integrations:\n  - type: email\n    name: x\n"), "c.yaml", nil, config.LoadOptions{Environ: []string{}})
	if err == nil || !strings.Contains(err.Error(), "no integration types are registered") {
		t.Errorf("err = %v", err)
	}
}

func TestUnknownKeyWarnings(t *testing.T) {
	cfg := mustParse(t, llmsDefault+`
integrations:
  - type: email
    name: personal
    imap_sever: typo
    imap_server: s
    username: u
    password: !secret pw
    classifications: {a: b}
    inbox: {}
    platforms:
      inbox:
        limt: 5
        automations:
          - when: {}
            then: archive
            else: spam
chat:
  model: x
`, map[string]string{"pw": "pw-value"})
	w := requireWarning(t, cfg, "integrations[0].imap_sever", `unknown key "imap_sever", ignored (allowed here: type, name, schedule, llm, platforms, imap_server, imap_port, username, password, tls_verify, imap_security, unsubscribe_private_networks)`, "did you mean imap_server?")
	if w.File != "config.yaml" || w.Line != 9 || !strings.HasPrefix(w.String(), "config.yaml:9: integrations[0].imap_sever: unknown key") {
		t.Errorf("warning = %+v / %s", w, w.String())
	}
	requireWarning(t, cfg, "integrations[0].classifications", "belong in a platform block: platforms.<inbox>.classifications")
	requireWarning(t, cfg, "integrations[0].inbox", "platform blocks go under platforms:")
	requireWarning(t, cfg, "integrations[0].platforms.inbox.limt", "allowed here: classifications, automations, limit, window", "did you mean limit?")
	requireWarning(t, cfg, "integrations[0].platforms.inbox.automations[0].else", "allowed here: when, then")
	requireWarning(t, cfg, "chat.model", "allowed here: llm, system_prompt")
}

// A warning often explains an error (the typo imap_sever is why imap_server is
// missing), so a failed load keeps its warnings: on the *LoadError, in its text,
// and the required error itself points at the likely typo.
func TestWarningsComeWithErrors(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		errKey    string
		errFrags  []string
		warnText  string // a line of err.Error()
		wantNoErr bool
	}{
		{
			name: "typo of a required integration key",
			doc: llmsDefault + `
integrations:
  - type: email
    name: personal
    imap_sever: imap.example.com
    username: me
    password: !secret pw
`,
			errKey:   "integrations[0].imap_server",
			errFrags: []string{"required:", `"imap_sever" (line 9) looks like a misspelling of imap_server`},
			warnText: `warning: config.yaml:9: integrations[0].imap_sever: unknown key "imap_sever", ignored (allowed here: type, name,`,
		},
		{
			name: "typo of another required key",
			doc: llmsDefault + `
integrations:
  - type: email
    name: personal
    imap_server: imap.example.com
    usrname: me
    password: !secret pw
`,
			errKey:   "integrations[0].username",
			errFrags: []string{`"usrname" (line 10) looks like a misspelling of username`},
			warnText: `warning: config.yaml:10: integrations[0].usrname: unknown key "usrname"`,
		},
		{
			name:     "typo of an LLM profile's model",
			doc:      "llms:\n  default:\n    modle: llama3.1:8b\n",
			errKey:   "llms.default.model",
			errFrags: []string{"required: the model name"},
			warnText: `warning: config.yaml:3: llms.default.modle: unknown key "modle", ignored (allowed here: base_url, model,`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.doc, pwSecret)
			var le *config.LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error is %T: %v", err, err)
			}
			requireError(t, le.Errors, tt.errKey, tt.errFrags...)
			var errs config.Errors
			if !errors.As(err, &errs) || len(errs) != len(le.Errors) {
				t.Errorf("errors.As does not reach Errors")
			}
			found := false
			for _, w := range le.Warnings {
				found = found || strings.Contains(w.Message, "did you mean")
			}
			if !found {
				t.Errorf("no did-you-mean warning in %v", le.Warnings)
			}
			if !strings.Contains(err.Error(), "\n"+tt.warnText) {
				t.Errorf("error text lacks\n  %s\nin\n%s", tt.warnText, err)
			}
			if strings.Contains(err.Error(), pwSecret["pw"]) {
				t.Error("secret leaked")
			}
		})
	}
}

// A misspelt section would leave Steward running with nothing configured, so
// an unknown top-level key is an error with file, line, a "did you mean" and the
// allowed sections; obsolete keys of the reference stay notices.
func TestUnknownTopLevelKey(t *testing.T) {
	tests := []struct {
		name, doc string
		errKey    string
		errFrags  []string
		errLine   int
		notice    string
	}{
		{
			name:     "misspelt integrations",
			doc:      llmsDefault + "\nintergrations:\n  - type: email\n    name: personal\n",
			errKey:   "intergrations",
			errFrags: []string{`unknown section "intergrations"; did you mean integrations?`, "allowed at the top level: llms, integrations, directories, scripts, queue_policies, chat, nats, gateway"},
			errLine:  6,
		},
		{
			name:     "misspelt llms",
			doc:      "llmz:\n  default: {model: m}\n",
			errKey:   "llmz",
			errFrags: []string{"did you mean llms?"},
			errLine:  1,
		},
		{
			name:     "no close match",
			doc:      llmsDefault + "telemetry: on\n",
			errKey:   "telemetry",
			errFrags: []string{`unknown section "telemetry" (allowed at the top level: llms,`},
			errLine:  5,
		},
		{
			name: "x- keys hold anchors",
			doc:  "x-model: &m {model: llama3.1:8b}\nllms:\n  default: *m\n",
		},
		{
			name:   "obsolete keys are notices",
			doc:    llmsDefault + "directories:\n  task_queue: data/queue\n",
			notice: "config.yaml:6: directories.task_queue: obsolete:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.errKey != "" {
				errs := parseErrors(t, tt.doc, nil)
				e := requireError(t, errs, tt.errKey, tt.errFrags...)
				if e.File != "config.yaml" || e.Line != tt.errLine {
					t.Errorf("error at %s:%d, want config.yaml:%d", e.File, e.Line, tt.errLine)
				}
				return
			}
			cfg := mustParse(t, tt.doc, nil)
			noWarnings(t, cfg)
			if tt.notice != "" && (len(cfg.Notices) != 1 || !strings.HasPrefix(cfg.Notices[0], tt.notice)) {
				t.Errorf("notices = %q, want %q", cfg.Notices, tt.notice)
			}
		})
	}
}

func TestGeminiPlatformsKeyWarns(t *testing.T) {
	cfg := mustParse(t, llmsDefault+`
integrations:
  - type: gemini
    name: r
    api_key: !secret k
    platforms: {x: {}}
`, map[string]string{"k": "kv"})
	requireWarning(t, cfg, "integrations[0].platforms", "gemini integrations have no platforms")
}
