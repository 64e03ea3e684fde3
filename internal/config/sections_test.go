package config_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/config"
)

func TestLLMProfiles(t *testing.T) {
	cfg := mustParse(t, `
llms:
  default:
    model: llama3.1:8b
  big:
    base_url: http://gpu-box:8080
    model: qwen
    token: !secret llm
    parameters: {temperature: 0.2, top_p: 1}
    concurrency: "4"
    timeout: 90s
  slow:
    model: x
    timeout: 1h
  secs:
    model: y
    timeout: 45
`, map[string]string{"llm": "llm-token-value"})
	noWarnings(t, cfg)
	if len(cfg.LLMs) != 4 || cfg.LLMs[0].Name != "default" || cfg.LLMs[1].Name != "big" {
		t.Fatalf("profiles must keep file order: %+v", cfg.LLMs)
	}
	d := cfg.LLMs[0]
	if d.BaseURL != "http://localhost:11434" || d.Concurrency != 1 || d.Timeout != 10*time.Minute || !d.Token.IsZero() {
		t.Errorf("defaults = %+v", d)
	}
	b := cfg.LLMs[1]
	if b.Token.Reveal() != "llm-token-value" || b.Concurrency != 4 || b.Timeout != 90*time.Second ||
		!reflect.DeepEqual(b.Parameters, map[string]any{"temperature": 0.2, "top_p": 1}) {
		t.Errorf("big = %+v", b)
	}
	if cfg.LLMs[2].Timeout != time.Hour || cfg.LLMs[3].Timeout != 45*time.Second {
		t.Errorf("timeouts = %v %v", cfg.LLMs[2].Timeout, cfg.LLMs[3].Timeout)
	}
}

func TestLLMProfileErrors(t *testing.T) {
	cases := []struct{ name, doc, key, frag string }{
		{"missing model", "llms:\n  default: {base_url: http://x:1}\n", "llms.default.model", "required"},
		{"null profile", "llms:\n  default:\n", "llms.default.model", "required"},
		{"bad name", "llms:\n  my.profile: {model: m}\n", "llms.my.profile", "letters, digits, '_' and '-'"},
		{"concurrency zero", "llms:\n  default: {model: m, concurrency: 0}\n", "llms.default.concurrency", "at least 1"},
		{"bad timeout", "llms:\n  default: {model: m, timeout: soon}\n", "llms.default.timeout", "expected a duration"},
		{"negative timeout", "llms:\n  default: {model: m, timeout: -5s}\n", "llms.default.timeout", "greater than zero"},
		{"bad base_url", "llms:\n  default: {model: m, base_url: localhost:11434}\n", "llms.default.base_url", "expected an http(s) URL"},
		{"llms a list", "llms:\n  - model: m\n", "llms", "expected a mapping of LLM profiles"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			requireError(t, parseErrors(t, c.doc, nil), c.key, c.frag)
		})
	}
}

func TestRemoteLLMWarns(t *testing.T) {
	cfg := mustParse(t, "llms:\n  default: {model: gpt, base_url: https://api.openai.com, token: !secret t}\n", map[string]string{"t": "tok-value"})
	requireWarning(t, cfg, "llms.default.base_url", "not on this machine or your local network", "api.openai.com")
	for _, local := range []string{"http://127.0.0.1:11434", "http://192.168.1.20:11434", "http://gpu:8080", "http://box.local:1", "http://[::1]:1"} {
		cfg := mustParse(t, "llms:\n  default: {model: m, base_url: \""+local+"\"}\n", nil)
		noWarnings(t, cfg)
	}
}

func TestChatProfileWarning(t *testing.T) {
	cfg := mustParse(t, "llms:\n  fast: {model: m}\n  big: {model: n}\n", nil)
	requireWarning(t, cfg, "chat.llm", "Chat LLM profile 'default' not found in llms. Available: ['fast', 'big']")
	cfg = mustParse(t, "llms:\n  fast: {model: m}\nchat: {llm: fast, system_prompt: Be brief.}\n", nil)
	noWarnings(t, cfg)
	if cfg.Chat.LLM != "fast" || cfg.Chat.SystemPrompt != "Be brief." {
		t.Errorf("chat = %+v", cfg.Chat)
	}
	// No llms at all: one general warning, not the chat one.
	cfg = mustParse(t, "chat: {llm: fast}\n", nil)
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].Message, "no LLM profile is configured") {
		t.Errorf("warnings = %v", cfg.Warnings)
	}
}

func TestScripts(t *testing.T) {
	cfg := mustParse(t, llmsDefault+`
scripts:
  full:
    description: Research ToS
    inputs: [domain, url]
    timeout: 300
    shell: echo "$domain"
    output: RESULT
    on_output: log
    reversible: false
  minimal:
    shell: "true"
  durations:
    shell: "true"
    timeout: 5m
`, nil)
	want := []config.Script{
		{Name: "full", Description: "Research ToS", Inputs: []string{"domain", "url"}, Timeout: 300 * time.Second,
			Shell: `echo "$domain"`, Output: "RESULT", OnOutput: "log", Reversible: false},
		{Name: "minimal", Description: "", Inputs: []string{}, Timeout: 120 * time.Second, Shell: "true", OnOutput: "human_log"},
		{Name: "durations", Inputs: []string{}, Timeout: 5 * time.Minute, Shell: "true", OnOutput: "human_log"},
	}
	got := cfg.Scripts
	for i := range got {
		got[i].Pos = config.Position{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scripts:\n got %#v\nwant %#v", got, want)
	}
	if s, ok := cfg.Script("minimal"); !ok || s.Reversible {
		t.Errorf("Script(minimal) = %+v", s)
	}
	for name, doc := range map[string]string{
		"no shell":     "scripts:\n  s: {description: d}\n",
		"empty shell":  "scripts:\n  s: {shell: \"\"}\n",
		"null script":  "scripts:\n  s:\n",
		"bad timeout":  "scripts:\n  s: {shell: x, timeout: 0}\n",
		"inputs text":  "scripts:\n  s: {shell: x, inputs: domain}\n",
		"reversible 2": "scripts:\n  s: {shell: x, reversible: 2}\n",
		"output expr":  "scripts:\n  s: {shell: x, output: \"X}; rm -rf ~; #\"}\n",
		"output digit": "scripts:\n  s: {shell: x, output: 1X}\n",
	} {
		t.Run(name, func(t *testing.T) {
			errs := parseErrors(t, llmsDefault+doc, nil)
			if !strings.HasPrefix(errs[0].Key, "scripts.s") {
				t.Errorf("errors = %v", errs)
			}
		})
	}
}

func TestQueuePolicies(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		q := mustParse(t, llmsDefault, nil).QueuePolicies
		if q.Retention != 7*24*time.Hour || q.RetentionText != "7d" || !q.Defaults.DeduplicatePending || q.Defaults.RateLimit != nil || len(q.Overrides) != 0 {
			t.Errorf("defaults = %+v", q)
		}
	})
	t.Run("override with only a rate limit inherits dedup", func(t *testing.T) {
		q := mustParse(t, llmsDefault+`
queue_policies:
  retention: 30d
  overrides:
    service.gemini.web_research:
      rate_limit: {max: 10, per: 1h}
`, nil).QueuePolicies
		p := q.Policy("service.gemini.web_research")
		if !p.DeduplicatePending || p.RateLimit == nil || p.RateLimit.Max != 10 || p.RateLimit.Per != time.Hour || p.RateLimit.PerText != "1h" {
			t.Errorf("policy = %+v / %+v", p, p.RateLimit)
		}
		if q.Retention != 30*24*time.Hour || q.RetentionText != "30d" {
			t.Errorf("retention = %v %q", q.Retention, q.RetentionText)
		}
		if p := q.Policy("email.inbox.check"); !p.DeduplicatePending || p.RateLimit != nil {
			t.Errorf("unmatched type = %+v", p)
		}
	})
	t.Run("configured defaults are inherited", func(t *testing.T) {
		q := mustParse(t, llmsDefault+`
queue_policies:
  defaults:
    deduplicate_pending: false
    rate_limit: {max: 100, per: 1d}
  overrides:
    script.run:
      rate_limit: {max: 2, per: 30m}
    chat.message:
      rate_limit: null
    email.inbox.check:
      deduplicate_pending: yes
`, nil).QueuePolicies
		if p := q.Policy("script.run"); p.DeduplicatePending || p.RateLimit.Max != 2 {
			t.Errorf("script.run = %+v", p)
		}
		if p := q.Policy("chat.message"); p.DeduplicatePending || p.RateLimit != nil {
			t.Errorf("explicit null rate limit must clear the default: %+v", p)
		}
		if p := q.Policy("email.inbox.check"); !p.DeduplicatePending || p.RateLimit == nil || p.RateLimit.Max != 100 {
			t.Errorf("email.inbox.check = %+v", p)
		}
		if p := q.Policy("other.type"); p.DeduplicatePending || p.RateLimit.Per != 24*time.Hour {
			t.Errorf("defaults = %+v", p)
		}
	})
	t.Run("unknown task type warns", func(t *testing.T) {
		cfg := mustParse(t, llmsDefault+"queue_policies:\n  overrides:\n    service.gemini.web_reserch: {deduplicate_pending: false}\n", nil)
		requireWarning(t, cfg, "queue_policies.overrides.service.gemini.web_reserch", "never applies")
	})
	errCases := []struct{ name, doc, key, frag string }{
		{"bad retention", "queue_policies:\n  retention: 7x\n", "queue_policies.retention", "Invalid retention format: '7x' (expected e.g. '30m', '1h', '7d')"},
		{"numeric retention", "queue_policies:\n  retention: 7\n", "queue_policies.retention", "Invalid retention format: '7'"},
		{"bad per", "queue_policies:\n  defaults:\n    rate_limit: {max: 1, per: hourly}\n", "queue_policies.defaults.rate_limit.per",
			"Invalid duration format: 'hourly' (expected e.g. '30m', '1h', '1d')"},
		{"zero per", "queue_policies:\n  defaults:\n    rate_limit: {max: 1, per: 0m}\n", "queue_policies.defaults.rate_limit.per", "longer than zero"},
		{"missing max", "queue_policies:\n  overrides:\n    script.run:\n      rate_limit: {per: 1h}\n", "queue_policies.overrides.script.run.rate_limit.max", "required"},
		{"missing per", "queue_policies:\n  overrides:\n    script.run:\n      rate_limit: {max: 3}\n", "queue_policies.overrides.script.run.rate_limit.per", "required"},
		{"zero max", "queue_policies:\n  defaults:\n    rate_limit: {max: 0, per: 1h}\n", "queue_policies.defaults.rate_limit.max", "at least 1"},
		{"bad dedup", "queue_policies:\n  defaults: {deduplicate_pending: sometimes}\n", "queue_policies.defaults.deduplicate_pending", "expected true or false"},
	}
	for _, c := range errCases {
		t.Run(c.name, func(t *testing.T) {
			requireError(t, parseErrors(t, llmsDefault+c.doc, nil), c.key, c.frag)
		})
	}
}

func TestDirectories(t *testing.T) {
	cfg := mustParse(t, llmsDefault+`
directories:
  notes: /srv/notes
  logs: /srv/logs
  data: /srv/data
`, nil)
	want := config.Directories{Notes: "/srv/notes", Logs: "/srv/logs", Data: "/srv/data"}
	if cfg.Directories != want || cfg.NATS.StoreDir != "/srv/data/nats" {
		t.Errorf("directories = %+v, store %q", cfg.Directories, cfg.NATS.StoreDir)
	}
	noWarnings(t, cfg)
	if len(cfg.Notices) != 0 {
		t.Errorf("notices = %q", cfg.Notices)
	}
}

// Keys of the reference that Steward has no use for are accepted with a notice
// (file, line, key, why) and ignored; none of them is a warning.
func TestObsoleteDirectories(t *testing.T) {
	tests := []struct {
		key, value, notice string
	}{
		{"task_queue", "data/queue", "config.yaml:8: directories.task_queue: obsolete: tasks live in the NATS JetStream stream TASKS; this key is ignored and can be removed"},
		{"chats", "data/chats", "config.yaml:8: directories.chats: obsolete: chat history lives in the NATS JetStream stream CHAT; this key is ignored and can be removed"},
		{"custom_integrations", "/srv/ci", "config.yaml:8: directories.custom_integrations: obsolete: integrations are compiled into Steward, so no directory of custom integrations is loaded; this key is ignored and can be removed"},
		{"custom_integrations", "{a: b}", "directories.custom_integrations: obsolete: integrations are compiled into Steward"},
	}
	for _, tt := range tests {
		t.Run(tt.key+" "+tt.value, func(t *testing.T) {
			cfg := mustParse(t, llmsDefault+"\ndirectories:\n  logs: /srv/logs\n  "+tt.key+": "+tt.value+"\n", nil)
			noWarnings(t, cfg)
			if len(cfg.Notices) != 1 || !strings.Contains(cfg.Notices[0], tt.notice) {
				t.Errorf("notices = %q, want %q", cfg.Notices, tt.notice)
			}
			if cfg.Directories.Logs != "/srv/logs" {
				t.Errorf("directories = %+v", cfg.Directories)
			}
			var buf bytes.Buffer
			if err := cfg.Describe(&buf); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(buf.String(), tt.key+": "+tt.value) {
				t.Errorf("the ignored key is shown in the normalised config:\n%s", buf.String())
			}
		})
	}
}

func TestNATSAndGateway(t *testing.T) {
	cfg := mustParse(t, llmsDefault+`
nats:
  url: nats://pi.local:4222
  listen: ""
  store_dir: /var/lib/steward/nats
  credentials: /etc/steward/steward.creds
gateway:
  listen: 127.0.0.1:8080
  token: !secret gw
`, map[string]string{"gw": "gw-token-value"})
	noWarnings(t, cfg)
	want := config.NATS{URL: "nats://pi.local:4222", Listen: "", StoreDir: "/var/lib/steward/nats", Credentials: "/etc/steward/steward.creds"}
	if cfg.NATS != want {
		t.Errorf("nats = %+v", cfg.NATS)
	}
	if cfg.Gateway.Listen != "127.0.0.1:8080" || cfg.Gateway.Token.Reveal() != "gw-token-value" || cfg.Gateway.Token.String() != "!secret gw" {
		t.Errorf("gateway = %+v", cfg.Gateway)
	}

	t.Run("defaults", func(t *testing.T) {
		cfg := mustParse(t, llmsDefault, nil)
		if cfg.NATS.Listen != "127.0.0.1:4222" || cfg.NATS.URL != "" || cfg.Gateway.Listen != "127.0.0.1:6767" || !cfg.Gateway.Token.IsZero() {
			t.Errorf("nats %+v gateway %+v", cfg.NATS, cfg.Gateway)
		}
	})
	t.Run("public gateway without token warns", func(t *testing.T) {
		cfg := mustParse(t, llmsDefault+"gateway:\n  listen: 0.0.0.0:6767\n", nil)
		requireWarning(t, cfg, "gateway.listen", "gateway.token is not set")
	})
	t.Run("bad listen", func(t *testing.T) {
		e := requireError(t, parseErrors(t, llmsDefault+"gateway:\n  listen: localhost\n", nil), "gateway.listen", "not a host:port address")
		if e.Line != 6 {
			t.Errorf("line = %d", e.Line)
		}
	})
}

func TestLayering(t *testing.T) {
	doc := llmsDefault + `
nats:
  url: nats://file:4222
directories:
  data: /file/data
  logs: /file/logs
gateway:
  token: !secret gw
`
	secrets := map[string]string{"gw": "file-token"}
	cases := []struct {
		name      string
		env       []string
		overrides map[string]string
		check     func(t *testing.T, c *config.Config)
	}{
		{"file only", nil, nil, func(t *testing.T, c *config.Config) {
			if c.NATS.URL != "nats://file:4222" || c.Directories.Data != "/file/data" || c.NATS.StoreDir != "/file/data/nats" || c.Gateway.Token.Reveal() != "file-token" {
				t.Errorf("%+v %+v", c.NATS, c.Directories)
			}
		}},
		{"environment over file", []string{"STEWARD_NATS_URL=nats://env:4222", "STEWARD_DIRECTORIES_DATA=/env/data", "STEWARD_GATEWAY_TOKEN=env-token", "UNRELATED=1"}, nil,
			func(t *testing.T, c *config.Config) {
				if c.NATS.URL != "nats://env:4222" || c.Directories.Data != "/env/data" || c.NATS.StoreDir != filepath.Join("/env/data", "nats") {
					t.Errorf("%+v %+v", c.NATS, c.Directories)
				}
				if c.Gateway.Token.Reveal() != "env-token" || c.Gateway.Token.String() != "********" {
					t.Errorf("token = %#v", c.Gateway.Token)
				}
				if c.Directories.Logs != "/file/logs" {
					t.Errorf("logs = %q", c.Directories.Logs)
				}
			}},
		{"flags over environment", []string{"STEWARD_NATS_URL=nats://env:4222", "STEWARD_DIRECTORIES_NOTES=/env/notes"},
			map[string]string{"nats.url": "nats://flag:4222", "directories.logs": "/flag/logs", "nats.listen": ""},
			func(t *testing.T, c *config.Config) {
				if c.NATS.URL != "nats://flag:4222" || c.Directories.Logs != "/flag/logs" || c.Directories.Notes != "/env/notes" || c.NATS.Listen != "" {
					t.Errorf("%+v %+v", c.NATS, c.Directories)
				}
			}},
		{"empty environment variable is unset", []string{"STEWARD_NATS_URL="}, nil, func(t *testing.T, c *config.Config) {
			if c.NATS.URL != "nats://file:4222" {
				t.Errorf("url = %q", c.NATS.URL)
			}
		}},
		{"explicit store dir wins over data default", []string{"STEWARD_NATS_STORE_DIR=/env/store", "STEWARD_DIRECTORIES_DATA=/env/data"}, nil, func(t *testing.T, c *config.Config) {
			if c.NATS.StoreDir != "/env/store" {
				t.Errorf("store = %q", c.NATS.StoreDir)
			}
		}},
		{"gateway listen from environment", []string{"STEWARD_GATEWAY_LISTEN=127.0.0.1:9999"}, nil, func(t *testing.T, c *config.Config) {
			if c.Gateway.Listen != "127.0.0.1:9999" {
				t.Errorf("listen = %q", c.Gateway.Listen)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := c.env
			if env == nil {
				env = []string{}
			}
			cfg, err := config.Parse([]byte(doc), "config.yaml", secrets, config.LoadOptions{Registry: registry, Environ: env, Overrides: c.overrides})
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, cfg)
		})
	}

	t.Run("bad values name their source", func(t *testing.T) {
		_, err := config.Parse([]byte(doc), "config.yaml", secrets, config.LoadOptions{Registry: registry,
			Environ: []string{"STEWARD_GATEWAY_LISTEN=nope"}, Overrides: map[string]string{"nats.listen": "bad", "llms.default.model": "x"}})
		var errs config.Errors
		if !errors.As(err, &errs) {
			t.Fatalf("error is %T", err)
		}
		requireError(t, errs, "gateway.listen", "not a host:port address")
		requireError(t, errs, "nats.listen", "not a host:port address")
		requireError(t, errs, "llms.default.model", "cannot be set from the command line")
		for _, e := range errs {
			switch e.Key {
			case "gateway.listen":
				if e.File != "environment STEWARD_GATEWAY_LISTEN" {
					t.Errorf("source = %q", e.File)
				}
			case "nats.listen":
				if e.File != "flags" {
					t.Errorf("source = %q", e.File)
				}
			}
		}
	})
	t.Run("names", func(t *testing.T) {
		if config.EnvName("gateway.token") != "STEWARD_GATEWAY_TOKEN" || config.EnvName("nats.store_dir") != "STEWARD_NATS_STORE_DIR" {
			t.Error("EnvName")
		}
		if keys := config.OverridableKeys(); len(keys) != 10 || !slices.Contains(keys, "nats.credentials") {
			t.Error("OverridableKeys")
		}
	})
}

func TestBooleanSpellings(t *testing.T) {
	for text, want := range map[string]bool{
		"yes": true, "Yes": true, "YES": true, "on": true, "ON": true, "y": true, "Y": true, "true": true, "True": true,
		"no": false, "No": false, "off": false, "Off": false, "n": false, "N": false, "false": false,
		`"yes"`: true, `"off"`: false, "1": true, "0": false,
	} {
		cfg := mustParse(t, llmsDefault+`
integrations:
  - type: github
    name: g
    github_user: u
    app_id: "1"
    installation_id: "2"
    private_key: !secret k
    platforms:
      issues: {include_mentions: `+text+`}
`, map[string]string{"k": "kv"})
		if got := cfg.Integrations[0].Platforms[0].Fields["include_mentions"]; got != want {
			t.Errorf("include_mentions: %s → %v, want %v", text, got, want)
		}
	}
}

func TestChatMaxMessageBytes(t *testing.T) {
	cfg := mustParse(t, "llms: {default: {model: m}}\nchat: {max_message_bytes: 4096}\n", nil)
	if cfg.Chat.MaxMessageBytes != 4096 {
		t.Fatalf("%d", cfg.Chat.MaxMessageBytes)
	}
	for _, bad := range []string{"0", "2000000", "lots"} {
		_, err := config.Parse([]byte("llms: {default: {model: m}}\nchat: {max_message_bytes: "+bad+"}\n"), "config.yaml", nil,
			config.LoadOptions{Environ: []string{}})
		if err == nil || !strings.Contains(err.Error(), "chat.max_message_bytes") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
