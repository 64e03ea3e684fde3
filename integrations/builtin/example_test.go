package builtin

import (
	"testing"

	"github.com/stewardhq/steward/internal/config"
)

// The example config (with the example secrets) loads with the built-in
// types, its Gemini rule included, as `steward config check` runs it.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := config.Load(config.LoadOptions{Path: "../../config.example.yaml", SecretsPath: "../../secrets.example.yaml",
		Registry: Registry(), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	in, ok := cfg.Integration("gemini.research")
	if !ok {
		t.Fatal("gemini.research missing")
	}
	if key, ok := in.Fields["api_key"].(config.Secret); !ok || key.IsZero() {
		t.Error("gemini.research has no api_key")
	}
}
