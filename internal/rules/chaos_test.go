package rules_test

import (
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/rules"
)

// chaosAutomations is the reference safety suite's rule set. With acknowledged
// set, rules 5 and 6 are tagged !yolo (the reference built them without the
// gate); otherwise the gate disables them (llm provenance, irreversible).
func chaosAutomations(acknowledged bool) []config.Automation {
	tag := func(a config.Action) config.Action {
		if acknowledged {
			return yolo(a)
		}
		return a
	}
	research := config.Action{Kind: config.ActionScript, Name: "script", Script: &config.ScriptRef{Name: "research_tos", Inputs: map[string]any{"domain": "{{ domain }}"}}}
	return []config.Automation{
		auto(when("classification.user_agreement_update", true), simple("archive")),
		auto(when("classification.human", 0.8), simple("spam")),
		auto(when("classification.human", 0.8, "classification.requires_response", true), dict("draft_reply", "Urgent: I'll get back to you.")),
		auto(when("classification.priority", []any{"high", "critical"}), dict("draft_reply", "Noted, high priority.")),
		auto(when("classification.human", ">0.9"), tag(simple("unsubscribe"))),
		auto(when("classification.user_agreement_update", true), tag(research)),
	}
}

var chaosAllowed = map[string]bool{"archive": true, "spam": true, "unsubscribe": true, "draft_reply": true, "script:research_tos": true}

func chaosRules(t tb, acknowledged bool) *rules.PlatformRules {
	rep, err := rules.Check(emailConfig(fixtureClassifications(), chaosAutomations(acknowledged)...), registry(t))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := rep.Platform("email.personal", "inbox")
	return p
}

func TestChaos(t *testing.T) {
	all := []string{"archive", "spam", "draft_reply", "draft_reply", "unsubscribe", "script:research_tos"}
	tests := []struct {
		name   string
		result map[string]any
		// want with rules 5 and 6 tagged !yolo; without, the gate removes
		// unsubscribe and the script.
		want []string
	}{
		{"all max", map[string]any{"human": 1.0, "user_agreement_update": true, "requires_response": true, "priority": "critical"}, all},
		{"all min", map[string]any{"human": 0.0, "user_agreement_update": false, "requires_response": false, "priority": "low"}, nil},
		{"booleans flipped", map[string]any{"human": 0.5, "user_agreement_update": true, "requires_response": false, "priority": "medium"}, []string{"archive", "script:research_tos"}},
		{"contradictory", map[string]any{"human": 0.95, "user_agreement_update": true, "requires_response": true, "priority": "critical"}, all},
		// Out-of-range confidences are invalid and never match (the reference
		// fired every confidence rule on 5.0).
		{"out of range high", map[string]any{"human": 5.0, "user_agreement_update": true, "requires_response": true, "priority": "critical"}, []string{"archive", "draft_reply", "script:research_tos"}},
		{"out of range low", map[string]any{"human": -1.0, "user_agreement_update": false, "requires_response": false, "priority": "low"}, nil},
		{"strings for booleans", map[string]any{"human": 0.5, "user_agreement_update": "yes", "requires_response": "no", "priority": "low"}, nil},
		{"number for the enum", map[string]any{"human": 0.5, "user_agreement_update": false, "requires_response": false, "priority": 999}, nil},
		{"wrong types everywhere", map[string]any{"human": "0.95", "user_agreement_update": 1, "requires_response": "true", "priority": []any{"high"}}, nil},
		{"booleans for the confidence", map[string]any{"human": true, "user_agreement_update": false, "requires_response": true, "priority": "low"}, nil},
		{"partial result", map[string]any{"human": 0.5}, nil},
		{"empty result", map[string]any{}, nil},
		{"nil result", nil, nil},
		{"human null", map[string]any{"human": nil, "user_agreement_update": true, "requires_response": true, "priority": "critical"}, []string{"archive", "draft_reply", "script:research_tos"}},
		{"all null but one", map[string]any{"human": nil, "user_agreement_update": true, "requires_response": nil, "priority": nil}, []string{"archive", "script:research_tos"}},
		{"all null", map[string]any{"human": nil, "user_agreement_update": nil, "requires_response": nil, "priority": nil}, nil},
		{"extra keys change nothing", map[string]any{"human": 1.0, "user_agreement_update": true, "requires_response": true, "priority": "critical", "nonexistent": true, "unsubscribe": true}, all},
		{"undeclared enum value", map[string]any{"human": 0.1, "user_agreement_update": false, "requires_response": false, "priority": "urgent"}, nil},
		{"nested garbage", map[string]any{"human": map[string]any{"v": 1.0}, "user_agreement_update": []any{true}, "requires_response": map[string]any{}, "priority": map[string]any{"critical": true}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := labels(chaosRules(t, true).Evaluate(nil, tt.result, now))
			if !sameLabels(got, tt.want) {
				t.Fatalf("acknowledged: actions = %q, want %q", got, tt.want)
			}
			var gated []string
			for _, l := range tt.want {
				if l != "unsubscribe" && l != "script:research_tos" {
					gated = append(gated, l)
				}
			}
			if got := labels(chaosRules(t, false).Evaluate(nil, tt.result, now)); !sameLabels(got, gated) {
				t.Fatalf("gated: actions = %q, want %q", got, gated)
			}
		})
	}
}

func sameLabels(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// TestChaosFuzz: any value of any type for each classification never panics and
// yields only allowed actions; gated rules never act.
func TestChaosFuzz(t *testing.T) {
	acknowledged, gated := chaosRules(t, true), chaosRules(t, false)
	chaosValue := rapid.OneOf(
		rapid.Map(rapid.Float64Range(-10, 10), func(f float64) any { return f }),
		rapid.Map(rapid.Bool(), func(b bool) any { return b }),
		rapid.SampledFrom([]any{"low", "medium", "high", "critical", "unknown", "", nil}),
		rapid.Map(rapid.IntRange(-100, 100), func(i int) any { return i }),
		rapid.Map(rapid.StringN(0, 20, -1), func(s string) any { return s }),
	)
	rapid.Check(t, func(t *rapid.T) {
		result := map[string]any{}
		for _, name := range []string{"human", "user_agreement_update", "requires_response", "priority"} {
			if rapid.IntRange(0, 5).Draw(t, "omit") > 0 {
				result[name] = chaosValue.Draw(t, name)
			}
		}
		facts := genFacts().Draw(t, "facts")
		for _, pa := range acknowledged.Evaluate(facts, result, now) {
			if !chaosAllowed[pa.Label] {
				t.Fatalf("unexpected action %q", pa.Label)
			}
		}
		for _, pa := range gated.Evaluate(facts, result, now) {
			if !chaosAllowed[pa.Label] || pa.Label == "unsubscribe" || pa.Label == "script:research_tos" {
				t.Fatalf("unexpected action %q from the gated rules", pa.Label)
			}
		}
	})
}
