package rules_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stewardhq/steward/integrations/builtin"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/rules"
)

// TestExampleConfig loads the shipped example with the real loader and the
// built-in integrations: it must load, show a !yolo rule and a gate-disabled rule.
func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secretsText, err := os.ReadFile("../../secrets.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := config.ParseSecrets(secretsText, "secrets.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(data, "config.example.yaml", secrets, config.LoadOptions{Registry: builtin.Registry(), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := rules.Check(cfg, builtin.Registry())
	if err != nil {
		t.Fatalf("the example has config errors: %v", err)
	}
	var yoloRule, disabledRule bool
	for _, r := range rep.Rules {
		for _, a := range r.Actions {
			if a.Yolo && a.Irreversible && r.Provenance != rules.ProvenanceRule && !r.Disabled {
				yoloRule = true
			}
		}
		if r.Disabled && strings.Contains(r.Reason, "unsubscribe") && r.Integration == "email.personal" {
			disabledRule = true
		}
	}
	if !yoloRule || !disabledRule {
		t.Fatalf("want an enabled !yolo rule and a gate-disabled unsubscribe rule: %+v", rep.Rules)
	}
	if len(warningsWith(rep, "email.personal", "inbox", "disabled:", "unsubscribe")) != 1 ||
		len(warningsWith(rep, "!yolo", "without approval")) == 0 {
		t.Fatalf("warnings = %q", rep.Warnings)
	}
	var b strings.Builder
	if err := rules.Describe(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"email.personal / inbox", "github.work / issues", "classifications (from defaults", "DISABLED", "!yolo"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Describe lacks %q:\n%s", want, b.String())
		}
	}
	if testing.Verbose() {
		t.Log("\n" + b.String())
	}
}
