package gemini_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stewardhq/steward/integrations/gemini"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
)

// parseGemini loads one gemini integration entry (its lines start at line 2).
func parseGemini(t *testing.T, entry string) (*config.Config, error) {
	t.Helper()
	reg, err := manifest.NewRegistry(gemini.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	doc := "integrations:\n  - type: gemini\n    name: research\n    api_key: !secret gemini_api_key\n" + entry
	return config.Parse([]byte(doc), "config.yaml", map[string]string{"gemini_api_key": testKey},
		config.LoadOptions{Registry: reg, Environ: []string{}, SecretsPath: "secrets.yaml"})
}

// api_url and model are checked at load, with the file, line and key, and
// without quoting credentials.
func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name, entry, want string
	}{
		{"http beyond loopback", "    api_url: http://gemini.example.com\n",
			"config.yaml:5: integrations[0].api_url: plain http would send the API key unencrypted"},
		{"not a URL", "    api_url: generativelanguage.googleapis.com\n",
			"config.yaml:5: integrations[0].api_url: want an https URL such as https://generativelanguage.googleapis.com"},
		{"password in URL", "    api_url: https://me:hunter22@proxy.example\n",
			"config.yaml:5: integrations[0].api_url: must not hold a user or password"},
		{"model", "    model: gemini pro\n",
			`config.yaml:5: integrations[0].model: "gemini pro" is not a model name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseGemini(t, tc.entry)
			var le *config.LoadError
			if err == nil || !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter22") || strings.Contains(err.Error(), testKey) {
				t.Errorf("credential quoted: %v", err)
			}
		})
	}
	cfg, err := parseGemini(t, "    api_url: http://127.0.0.1:8080\n    model: gemini-2.5-pro\n")
	if err != nil {
		t.Fatal(err)
	}
	in, _ := cfg.Integration("gemini.research")
	if in.Fields["api_url"] != "http://127.0.0.1:8080" || in.Fields["model"] != "gemini-2.5-pro" {
		t.Errorf("fields %v", in.Fields)
	}
	if key, ok := in.Fields["api_key"].(config.Secret); !ok || key.Reveal() != testKey {
		t.Error("api_key is not the secret")
	}
}
