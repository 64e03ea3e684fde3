package config_test

import (
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/config"
)

func TestMaskURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://pi:hunter2@127.0.0.1:4222":                         "nats://pi:xxxxx@127.0.0.1:4222",
		"nats://s3cr3ttoken@host:4222":                             "nats://xxxxx@host:4222",
		"nats://a:pw1@h1:4222,nats://b:pw2@h2:4222":                "nats://a:xxxxx@h1:4222,nats://b:xxxxx@h2:4222",
		"https://user:pass@llm.example/v1":                         "https://user:xxxxx@llm.example/v1",
		"https://llm.example/v1?api_key=sk-123&model=x":            "https://llm.example/v1?api_key=xxxxx&model=x",
		"https://h/?access_token=a&Signature=b&X-Amz-Credential=c": "https://h/?Signature=xxxxx&X-Amz-Credential=xxxxx&access_token=xxxxx",
		"https://h/?password=p&user=u":                             "https://h/?password=xxxxx&user=u",
		"http://localhost:11434":                                   "http://localhost:11434",
		"https://h/path?model=llama&temperature=1":                 "https://h/path?model=llama&temperature=1",
		"nats://u:p%zz@h:4222":                                     "nats://xxxxx@h:4222",
		"not a url":                                                "not a url",
		"":                                                         "",
	} {
		if got := config.MaskURL(in); got != want {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// Finding 6: `steward config check` (text, and the Masked document its --json
// carries) never shows a credential written inside a URL or a value resolved
// from secrets.yaml, wherever it appears.
func TestDescribeMasksCredentials(t *testing.T) {
	cfg := mustParse(t, `
llms:
  default:
    model: m
    base_url: https://bob:hunter2pw@llm.example/v1?api_key=sk-live-123&mode=x
    parameters: {endpoint: "https://svc.example/?token=tok-abcdef", key: !secret llm_key, note: "uses llmkeyvalue-1 today"}
  other:
    model: m
    base_url: !secret llm_url
nats:
  url: nats://pi:natspass99@pi.local:4222
  credentials: /etc/steward/nats.nk
`, map[string]string{"llm_key": "llmkeyvalue-1", "llm_url": "https://alice:s3cretpw@gpu.example/"})
	var text strings.Builder
	if err := cfg.Describe(&text); err != nil {
		t.Fatal(err)
	}
	masked, err := cfg.Masked()
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"Describe": text.String(), "Masked": string(masked)} {
		for _, secret := range []string{"hunter2pw", "sk-live-123", "tok-abcdef", "llmkeyvalue-1", "s3cretpw", "natspass99"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows %q:\n%s", name, secret, out)
			}
		}
		for _, kept := range []string{"https://bob:xxxxx@llm.example/v1", "nats://pi:xxxxx@pi.local:4222", "!secret llm_url", "mode=x", "/etc/steward/nats.nk"} {
			if !strings.Contains(out, kept) {
				t.Errorf("%s lacks %q:\n%s", name, kept, out)
			}
		}
	}
	// The values themselves are untouched: only their descriptions are masked.
	if cfg.NATS.URL != "nats://pi:natspass99@pi.local:4222" {
		t.Fatalf("nats.url changed: %q", cfg.NATS.URL)
	}
}

// nats.credentials is layered like the other nats keys (--nats-creds,
// STEWARD_NATS_CREDENTIALS), so no password needs to be on a command line.
func TestNATSCredentialsLayered(t *testing.T) {
	load := func(doc string, environ []string, overrides map[string]string) *config.Config {
		t.Helper()
		cfg, err := config.Parse([]byte(doc), "config.yaml", nil, config.LoadOptions{
			Registry: registry, Environ: environ, Overrides: overrides, SecretsPath: "/etc/steward/secrets.yaml"})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	if got := load(llmsDefault+"nats: {credentials: /from/file.nk}\n", []string{}, nil).NATS.Credentials; got != "/from/file.nk" {
		t.Errorf("file: %q", got)
	}
	if got := load(llmsDefault+"nats: {credentials: /from/file.nk}\n", []string{"STEWARD_NATS_CREDENTIALS=/from/env.nk"}, nil).NATS.Credentials; got != "/from/env.nk" {
		t.Errorf("env: %q", got)
	}
	if got := load(llmsDefault, []string{"STEWARD_NATS_CREDENTIALS=/from/env.nk"}, map[string]string{"nats.credentials": "/from/flag.nk"}).NATS.Credentials; got != "/from/flag.nk" {
		t.Errorf("flag: %q", got)
	}
}

// TestBrokenBaseURLErrorMasksCredentials: an LLM base_url that is not a valid
// URL is quoted in its error without the password it carries.
func TestBrokenBaseURLErrorMasksCredentials(t *testing.T) {
	for _, raw := range []string{"ftp://user:hunter2@llm.lan/v1", "http://user:hunter2@llm.lan:bad/v1", "https://user:hunter2@/v1"} {
		_, err := parse(t, "llms:\n  default:\n    model: m\n    base_url: \""+raw+"\"\n", nil)
		if err == nil {
			t.Fatalf("%s: no error", raw)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", raw, err)
		}
		if !strings.Contains(err.Error(), "base_url") {
			t.Errorf("%s: the error does not name the key: %v", raw, err)
		}
	}
}
