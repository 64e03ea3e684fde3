package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/integrations/builtin"
	"github.com/stewardhq/steward/internal/config"
)

var registry = builtin.Registry()

// parse runs Parse hermetically (no process environment).
func parse(t *testing.T, doc string, secrets map[string]string) (*config.Config, error) {
	t.Helper()
	return config.Parse([]byte(doc), "config.yaml", secrets, config.LoadOptions{
		Registry: registry, Environ: []string{}, SecretsPath: "/etc/steward/secrets.yaml",
	})
}

func mustParse(t *testing.T, doc string, secrets map[string]string) *config.Config {
	t.Helper()
	cfg, err := parse(t, doc, secrets)
	if err != nil {
		t.Fatalf("unexpected error:\n%v\n--- document:\n%s", err, doc)
	}
	return cfg
}

// parseErrors expects a failure and returns every error.
func parseErrors(t *testing.T, doc string, secrets map[string]string) config.Errors {
	t.Helper()
	cfg, err := parse(t, doc, secrets)
	if err == nil {
		t.Fatalf("expected an error, got config with warnings %v\n--- document:\n%s", cfg.Warnings, doc)
	}
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is not config.Errors: %T %v", err, err)
	}
	return errs
}

// requireError asserts one of the errors has that key and contains every fragment.
func requireError(t *testing.T, errs config.Errors, key string, fragments ...string) *config.Error {
	t.Helper()
	for _, e := range errs {
		if e.Key != key {
			continue
		}
		ok := true
		for _, f := range fragments {
			if !strings.Contains(e.Msg, f) {
				ok = false
			}
		}
		if ok {
			return e
		}
	}
	t.Fatalf("no error with key %q containing %q in:\n%v", key, fragments, errs)
	return nil
}

func requireWarning(t *testing.T, cfg *config.Config, key string, fragments ...string) config.Warning {
	t.Helper()
	for _, w := range cfg.Warnings {
		if w.Key != key {
			continue
		}
		ok := true
		for _, f := range fragments {
			if !strings.Contains(w.Message, f) {
				ok = false
			}
		}
		if ok {
			return w
		}
	}
	t.Fatalf("no warning with key %q containing %q in:\n%v", key, fragments, cfg.Warnings)
	return config.Warning{}
}

func noWarnings(t *testing.T, cfg *config.Config) {
	t.Helper()
	if len(cfg.Warnings) > 0 {
		t.Fatalf("unexpected warnings: %v", cfg.Warnings)
	}
}

const llmsDefault = `
llms:
  default:
    model: llama3.1:8b
`

// emailDoc is a minimal valid email integration with an inbox block built from body
// (indented to sit under `inbox:`).
func emailDoc(inbox string) string {
	return llmsDefault + `
integrations:
  - type: email
    name: personal
    imap_server: imap.example.com
    username: me@example.com
    password: !secret pw
    platforms:
      inbox:
` + inbox
}

var pwSecret = map[string]string{"pw": "hunter2-very-secret"}

func TestExampleConfigLoads(t *testing.T) {
	root := filepath.Join("..", "..")
	cfg, err := config.Load(config.LoadOptions{
		Path:        filepath.Join(root, "config.example.yaml"),
		SecretsPath: filepath.Join(root, "secrets.example.yaml"),
		Registry:    registry,
		Environ:     []string{},
	})
	if err != nil {
		t.Fatalf("config.example.yaml does not load:\n%v", err)
	}
	for _, w := range cfg.Warnings {
		if !strings.Contains(w.Message, "chmod 600") { // the example secrets file is world-readable in git
			t.Errorf("unexpected warning: %v", w)
		}
	}
	in, ok := cfg.Integration("email.personal")
	if !ok {
		t.Fatal("email.personal missing")
	}
	if in.Schedule == nil || in.Schedule.Expr != "*/15 * * * *" {
		t.Errorf("schedule = %+v", in.Schedule)
	}
	pw, ok := in.Fields["password"].(config.Secret)
	if !ok || pw.Reveal() != "example-app-password" || pw.Key != "personal_email_password" {
		t.Errorf("password = %#v", in.Fields["password"])
	}
	inbox, ok := in.Platform("inbox")
	if !ok {
		t.Fatal("inbox missing")
	}
	types := map[string]config.ClassificationType{}
	for _, c := range inbox.Classifications {
		types[c.Name] = c.Type
	}
	if types["human"] != config.Confidence || types["requires_response"] != config.Boolean || types["priority"] != config.Enum {
		t.Errorf("classification types = %v", types)
	}
	var yolo, plainUnsub int
	for _, a := range inbox.Automations {
		for _, act := range a.Then {
			if act.Kind == config.ActionSimple && act.Name == "unsubscribe" {
				if act.Yolo {
					yolo++
				} else {
					plainUnsub++
				}
			}
		}
	}
	if yolo != 1 || plainUnsub != 1 {
		t.Errorf("want one !yolo and one plain unsubscribe, got %d and %d", yolo, plainUnsub)
	}
	gh, ok := cfg.Integration("github.work")
	if !ok || len(gh.Platforms) != 2 {
		t.Errorf("github.work platforms = %+v", gh)
	}
	if _, ok := cfg.Integration("gemini.research"); !ok {
		t.Error("gemini.research missing")
	}
	llm, ok := cfg.LLM("default")
	if !ok || llm.BaseURL != "http://localhost:11434" || llm.Model != "llama3.1:8b" || llm.Concurrency != 1 {
		t.Errorf("llm = %+v", llm)
	}
	if p := cfg.QueuePolicies.Policy("service.gemini.web_research"); p.RateLimit == nil || p.RateLimit.Max != 10 || !p.DeduplicatePending {
		t.Errorf("override policy = %+v", p)
	}
	if cfg.NATS.Listen != "127.0.0.1:4222" || cfg.Gateway.Listen != "127.0.0.1:6767" {
		t.Errorf("nats/gateway = %+v %+v", cfg.NATS, cfg.Gateway)
	}
	var out bytes.Buffer
	if err := cfg.Describe(&out); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"example-app-password", "EXAMPLE-NOT-A-REAL-KEY", "example-gemini-key"} {
		if strings.Contains(out.String(), s) {
			t.Errorf("Describe leaks secret %q", s)
		}
	}
}

func TestEmptyDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":              "",
		"comments only":      "# nothing here\n",
		"null document":      "~\n",
		"explicit document":  "---\n",
		"directories null":   "directories: null\n",
		"every section null": "llms:\nintegrations:\ndirectories:\nscripts:\nqueue_policies:\nchat:\nnats:\ngateway:\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg := mustParse(t, doc, nil)
			if cfg.Directories.Logs != "logs" || cfg.Directories.Data != "./data" || cfg.NATS.StoreDir != filepath.Join("data", "nats") {
				t.Errorf("directories = %+v, nats = %+v", cfg.Directories, cfg.NATS)
			}
			if cfg.Chat.LLM != "default" || cfg.QueuePolicies.RetentionText != "7d" || !cfg.QueuePolicies.Defaults.DeduplicatePending {
				t.Errorf("defaults wrong: %+v %+v", cfg.Chat, cfg.QueuePolicies)
			}
			requireWarning(t, cfg, "llms", "no LLM profile is configured")
		})
	}
}

func TestTopLevelMustBeMapping(t *testing.T) {
	errs := parseErrors(t, "- a\n- b\n", nil)
	if errs[0].Line != 1 || !strings.Contains(errs[0].Msg, "expected a mapping of sections") {
		t.Errorf("got %v", errs)
	}
}

func TestYAMLSyntaxErrorHasLine(t *testing.T) {
	errs := parseErrors(t, "llms:\n  default:\n    model: [unclosed\n", nil)
	if errs[0].File != "config.yaml" || errs[0].Line == 0 || !strings.Contains(errs[0].Msg, "YAML syntax") {
		t.Errorf("got %#v", errs[0])
	}
}

func TestSecondDocumentRejected(t *testing.T) {
	errs := parseErrors(t, "chat: {llm: default}\n---\nchat: {llm: other}\n", nil)
	if errs[0].Line != 2 || !strings.Contains(errs[0].Msg, "only one YAML document") {
		t.Errorf("got %#v", errs[0])
	}
}

func TestFind(t *testing.T) {
	cases := []struct {
		name     string
		flag     string
		env      []string
		want     string
		explicit bool
	}{
		{"flag wins", "/a/flag.yaml", []string{"STEWARD_CONFIG=/b/env.yaml"}, "/a/flag.yaml", true},
		{"environment", "", []string{"STEWARD_CONFIG=/b/env.yaml"}, "/b/env.yaml", true},
		{"empty environment value", "", []string{"STEWARD_CONFIG="}, "config.yaml", false},
		{"default", "", []string{}, "config.yaml", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, explicit := config.Find(c.flag, c.env)
			if got != c.want || explicit != c.explicit {
				t.Errorf("Find = %q, %v; want %q, %v", got, explicit, c.want, c.explicit)
			}
		})
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfgPath := write("config.yaml", llmsDefault+"gateway:\n  token: !secret gw\n", 0o644)
	write("secrets.yaml", "gw: tok-123456789\n", 0o600)

	t.Run("secrets beside the config", func(t *testing.T) {
		cfg, err := config.Load(config.LoadOptions{Path: cfgPath, Registry: registry, Environ: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Gateway.Token.Reveal() != "tok-123456789" || cfg.Gateway.Token.Key != "gw" || cfg.Source != cfgPath {
			t.Errorf("token = %#v, source %q", cfg.Gateway.Token, cfg.Source)
		}
		noWarnings(t, cfg)
	})
	t.Run("STEWARD_CONFIG", func(t *testing.T) {
		cfg, err := config.Load(config.LoadOptions{Registry: registry, Environ: []string{"STEWARD_CONFIG=" + cfgPath}})
		if err != nil || cfg.Source != cfgPath {
			t.Fatalf("cfg %v err %v", cfg, err)
		}
	})
	t.Run("missing named file is an error", func(t *testing.T) {
		_, err := config.Load(config.LoadOptions{Path: filepath.Join(dir, "nope.yaml"), Registry: registry, Environ: []string{}})
		var e *config.Error
		if !errors.As(err, &e) || !strings.Contains(e.Msg, "not found") {
			t.Errorf("err = %v", err)
		}
		_, err = config.Load(config.LoadOptions{Registry: registry, Environ: []string{"STEWARD_CONFIG=" + filepath.Join(dir, "nope.yaml")}})
		if err == nil {
			t.Error("missing $STEWARD_CONFIG file must be an error")
		}
	})
	t.Run("no config file at all gives defaults", func(t *testing.T) {
		t.Chdir(t.TempDir())
		cfg, err := config.Load(config.LoadOptions{Registry: registry, Environ: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Source != "" || len(cfg.Notices) == 0 || !strings.Contains(cfg.Notices[0], "no config file found") {
			t.Errorf("source %q notices %v", cfg.Source, cfg.Notices)
		}
		if cfg.Gateway.Listen != config.DefaultGatewayListen {
			t.Errorf("gateway = %+v", cfg.Gateway)
		}
	})
	t.Run("world-readable secrets warn", func(t *testing.T) {
		sp := write("loose-secrets.yaml", "gw: tok-123456789\n", 0o644)
		if err := os.Chmod(sp, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(config.LoadOptions{Path: cfgPath, SecretsPath: sp, Registry: registry, Environ: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].Message, "chmod 600") {
			t.Errorf("warnings = %v", cfg.Warnings)
		}
	})
}

// A config that uses !secret without a secrets file says the file does not
// exist, where it was looked for and how to create it, rather than "Available
// secrets: []".
func TestMissingSecretsFile(t *testing.T) {
	tests := []struct {
		name       string
		config     string
		secrets    *string // nil: no secrets file
		secretsAt  string  // SecretsPath ("" = beside the config)
		wantErrs   []string
		wantNoText []string
	}{
		{
			name:   "one secret, default path",
			config: llmsDefault + "gateway:\n  token: !secret gw\n",
			wantErrs: []string{
				"{dir}/config.yaml:6: gateway.token: Secret 'gw' not found: the secrets file {dir}/secrets.yaml does not exist",
				"{dir}/secrets.yaml: the secrets file does not exist, but {dir}/config.yaml uses !secret gw: create it (cp secrets.example.yaml secrets.yaml; chmod 600 secrets.yaml) and give each of those keys its value",
			},
			wantNoText: []string{"Available secrets"},
		},
		{
			name: "several secrets listed once each",
			config: llmsDefault + `
integrations:
  - type: email
    name: personal
    imap_server: !secret host
    username: !secret user
    password: !secret pw
  - type: email
    name: work
    imap_server: !secret host
    username: me
    password: !secret pw
`,
			secretsAt: "absent.yaml",
			wantErrs: []string{
				"{dir}/config.yaml:9: integrations[0].imap_server: Secret 'host' not found: the secrets file {dir}/absent.yaml does not exist",
				"{dir}/config.yaml:16: integrations[1].password: Secret 'pw' not found: the secrets file {dir}/absent.yaml does not exist",
				"{dir}/absent.yaml: the secrets file does not exist, but {dir}/config.yaml uses !secret host, user, pw: create it (cp secrets.example.yaml absent.yaml; chmod 600 absent.yaml)",
			},
			wantNoText: []string{"Available secrets"},
		},
		{
			name:       "an existing empty file lists what it has",
			config:     llmsDefault + "gateway:\n  token: !secret gw\n",
			secrets:    ptr("# nothing yet\n"),
			wantErrs:   []string{"{dir}/config.yaml:6: gateway.token: Secret 'gw' not found in {dir}/secrets.yaml. Available secrets: []"},
			wantNoText: []string{"does not exist"},
		},
		{
			name:   "no !secret, no secrets file: fine",
			config: llmsDefault,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(cfgPath, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			if tt.secrets != nil {
				if err := os.WriteFile(filepath.Join(dir, "secrets.yaml"), []byte(*tt.secrets), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			opts := config.LoadOptions{Path: cfgPath, Registry: registry, Environ: []string{}}
			if tt.secretsAt != "" {
				opts.SecretsPath = filepath.Join(dir, tt.secretsAt)
			}
			_, err := config.Load(opts)
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T", err)
			}
			for _, want := range tt.wantErrs {
				want = strings.ReplaceAll(want, "{dir}", dir)
				found := false
				for _, e := range errs {
					found = found || strings.HasPrefix(e.Error(), want)
				}
				if !found {
					t.Errorf("no error starting with\n  %s\nin\n%v", want, err)
				}
			}
			for _, bad := range tt.wantNoText {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("error mentions %q:\n%v", bad, err)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestConfigJSONMasksSecrets(t *testing.T) {
	cfg := mustParse(t, emailDoc("        {}\n")+"gateway:\n  token: !secret gw\n", map[string]string{"pw": "hunter2-very-secret", "gw": "gateway-tok-xyz"})
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("hunter2-very-secret")) || bytes.Contains(b, []byte("gateway-tok-xyz")) {
		t.Errorf("JSON leaks a secret: %s", b)
	}
}

// TestMaskedRoundTrip: the masked rendering is itself a valid config that loads to
// the same configuration (secrets stay references to secrets.yaml).
func TestMaskedRoundTrip(t *testing.T) {
	root := filepath.Join("..", "..")
	data, err := os.ReadFile(filepath.Join(root, "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sdata, err := os.ReadFile(filepath.Join(root, "secrets.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := config.ParseSecrets(sdata, "secrets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	first := mustParse(t, string(data), secrets)
	masked, err := first.Masked()
	if err != nil {
		t.Fatal(err)
	}
	second, err := parse(t, string(masked), secrets)
	if err != nil {
		t.Fatalf("masked output does not load: %v\n%s", err, masked)
	}
	strip := func(c *config.Config) string {
		c2 := *c
		c2.Source, c2.Warnings, c2.Notices = "", nil, nil
		b, err := json.Marshal(c2)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if a, b := strip(first), strip(second); a != b {
		t.Errorf("round trip differs:\n%s\n%s", a, b)
	}
	gem, _ := second.Integration("gemini.research")
	if key, ok := gem.Fields["api_key"].(config.Secret); !ok || key.Reveal() != "example-gemini-key" {
		t.Errorf("secret reference lost: %#v", gem.Fields["api_key"])
	}
}

func TestTextFieldsKeepReferenceWords(t *testing.T) {
	cfg := mustParse(t, "llms:\n  default: {model: n}\nchat: {system_prompt: yEs}\n", nil)
	if cfg.LLMs[0].Model != "n" || cfg.Chat.SystemPrompt != "yEs" {
		t.Errorf("model %q prompt %q", cfg.LLMs[0].Model, cfg.Chat.SystemPrompt)
	}
	errs := parseErrors(t, "llms:\n  default: {model: yes}\n", nil)
	requireError(t, errs, "llms.default.model", "expected text, got the boolean yes; put it in quotes")
	acts, err := config.ParseActions([]byte("[y, \"no\"]"))
	if err != nil || acts[0].Name != "y" || acts[1].Name != "no" {
		t.Errorf("actions = %+v, %v", acts, err)
	}
}

func TestSecretNamesRedactedFromMessages(t *testing.T) {
	secrets := map[string]string{"n": "hidden_name", "t": "hiddentype"}
	_, err := parse(t, llmsDefault+`
integrations:
  - type: gemini
    name: !secret n
    api_key: !secret n
  - type: gemini
    name: !secret n
    api_key: !secret n
  - type: !secret t
    name: x
`, secrets)
	if err == nil {
		t.Fatal("expected errors")
	}
	if strings.Contains(err.Error(), "hidden_name") || strings.Contains(err.Error(), "hiddentype") {
		t.Errorf("secret in message:\n%v", err)
	}
	if !strings.Contains(err.Error(), "Duplicate integration: 'gemini.(!secret n)'") {
		t.Errorf("unexpected messages:\n%v", err)
	}
}

// An example config falls back to the example secrets beside it, so
// `steward config check --config config.example.yaml` works in a fresh clone;
// a real secrets.yaml wins.
func TestExampleConfigUsesExampleSecrets(t *testing.T) {
	dir := t.TempDir()
	cfgText := "llms: {default: {model: m, token: !secret tok}}\n"
	for name, body := range map[string]string{"config.example.yaml": cfgText, "secrets.example.yaml": "tok: example\n", "other.yaml": cfgText} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(config.LoadOptions{Path: filepath.Join(dir, "config.example.yaml"), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LLMs[0].Token.Reveal() != "example" || len(cfg.Notices) == 0 {
		t.Fatalf("token %q notices %v", cfg.LLMs[0].Token.Reveal(), cfg.Notices)
	}
	for _, w := range cfg.Warnings {
		if strings.Contains(w.Message, "chmod") {
			t.Errorf("permission warning for example secrets: %v", w)
		}
	}
	// Other configs do not use the example secrets.
	if _, err := config.Load(config.LoadOptions{Path: filepath.Join(dir, "other.yaml"), Environ: []string{}}); err == nil || !strings.Contains(err.Error(), "Secret 'tok' not found") {
		t.Fatalf("err = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets.yaml"), []byte("tok: real\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = config.Load(config.LoadOptions{Path: filepath.Join(dir, "config.example.yaml"), Environ: []string{}})
	if err != nil || cfg.LLMs[0].Token.Reveal() != "real" {
		t.Fatalf("%v %v", err, cfg)
	}
}
