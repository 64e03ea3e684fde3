package rules_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/rules"
)

// conditionKeys are the keys generated rules test: the fixture's
// classifications, an unconfigured one, email facts (plain and dotted) and a key
// that is neither (body).
var conditionKeys = []string{
	"classification.human", "classification.user_agreement_update", "classification.requires_response",
	"classification.priority", "classification.nonexistent",
	"domain", "is_noreply", "authentication.dkim_pass", "calendar.end", "calendar.guest_count", "received_at", "subject",
	"body",
}

// genConditionValue draws a value for a key: mostly well-formed, sometimes
// anything (malformed conditions make config errors and disable the rule).
func genConditionValue(key string) *rapid.Generator[any] {
	return rapid.Custom(func(t *rapid.T) any {
		if rapid.IntRange(0, 9).Draw(t, "wild") == 0 {
			return genAnyValue().Draw(t, "any")
		}
		switch key {
		case "classification.human":
			return rapid.SampledFrom([]any{0.8, 0.5, 1, 0.0, ">0.9", ">= 0.5", "<0.3", "<=0.2", "==1.0"}).Draw(t, "confidence")
		case "classification.user_agreement_update", "classification.requires_response", "is_noreply", "authentication.dkim_pass":
			return rapid.Bool().Draw(t, "bool")
		case "classification.priority":
			return rapid.SampledFrom([]any{"high", "low", []any{"high", "critical"}, []any{"medium"}}).Draw(t, "enum")
		case "domain":
			return rapid.SampledFrom([]any{"a.com", "b.com", []any{"a.com", "c.com"}}).Draw(t, "domain")
		case "calendar.end", "received_at":
			return rapid.SampledFrom([]any{"<now()", ">now()", ">= now()"}).Draw(t, "now")
		case "subject":
			return rapid.SampledFrom([]any{"Hello", "", []any{"Hello", "Hi"}}).Draw(t, "subject")
		case "calendar.guest_count":
			return rapid.SampledFrom([]any{1, 3, 3.0, []any{2, 3}}).Draw(t, "count")
		default:
			return genAnyValue().Draw(t, "any")
		}
	})
}

// actionPool holds every shape of action, declared or not.
func actionPool() []config.Action {
	return []config.Action{
		simple("archive"), simple("spam"), simple("trash"), simple("unsubscribe"),
		simple("delete_everything"), simple("flag"),
		dict("draft_reply", "Thanks"), dict("move_to", "Receipts"), dict("unsubscribe", true),
		dict("draft_reply", "Hi", "unsubscribe", true), dict("!yolo", "unsubscribe"), dict("send_email", "x"), dict(),
		script("research_tos"), script("tidy"), script("nope"),
		service("gemini.default.web_research"), service("tools.default.local_search"), service("tools.default.wipe"),
		service("gemini.x.web_research"), service("bad"),
		{Kind: "webhook"},
	}
}

func genAction() *rapid.Generator[config.Action] {
	return rapid.Custom(func(t *rapid.T) config.Action {
		a := rapid.SampledFrom(actionPool()).Draw(t, "action")
		a.Yolo = rapid.IntRange(0, 3).Draw(t, "yolo") == 0
		return a
	})
}

func genAutomation() *rapid.Generator[config.Automation] {
	return rapid.Custom(func(t *rapid.T) config.Automation {
		keys := rapid.SliceOfNDistinct(rapid.SampledFrom(conditionKeys), 0, 3, rapid.ID[string]).Draw(t, "keys")
		var w []config.Condition
		for _, k := range keys {
			w = append(w, cond(k, genConditionValue(k).Draw(t, k)))
		}
		return auto(w, rapid.SliceOfN(genAction(), 0, 4).Draw(t, "then")...)
	})
}

// genClassificationResult draws an LLM answer: well-typed, wrong-typed, null,
// out of range or missing per key, plus extra keys.
func genClassificationResult() *rapid.Generator[map[string]any] {
	return rapid.Custom(func(t *rapid.T) map[string]any {
		out := map[string]any{}
		for _, c := range fixtureClassifications() {
			if rapid.IntRange(0, 4).Draw(t, "omit") == 0 {
				continue
			}
			out[c.Name] = genAnswer(c).Draw(t, c.Name)
		}
		if rapid.Bool().Draw(t, "extra") {
			out["nonexistent"] = genAnyValue().Draw(t, "extra")
		}
		return out
	})
}

func genFacts() *rapid.Generator[rules.Facts] {
	return rapid.Custom(func(t *rapid.T) rules.Facts {
		f := rules.Facts{}
		maybe := func(key string, g *rapid.Generator[any]) {
			if rapid.IntRange(0, 3).Draw(t, "omit "+key) != 0 {
				f[key] = g.Draw(t, key)
			}
		}
		maybe("domain", rapid.OneOf(rapid.SampledFrom([]any{"a.com", "b.com", "c.com"}), genAnyValue()))
		maybe("is_noreply", rapid.OneOf(rapid.Map(rapid.Bool(), func(b bool) any { return b }), genAnyValue()))
		maybe("authentication", rapid.OneOf(
			rapid.Map(rapid.Bool(), func(b bool) any { return map[string]any{"dkim_pass": b} }),
			genAnyValue()))
		maybe("calendar", rapid.OneOf(
			rapid.SampledFrom([]any{
				map[string]any{"end": "2020-01-01T00:00:00Z", "guest_count": 3},
				map[string]any{"end": "2099-01-01", "guest_count": 1.0},
				map[string]any{"end": "garbage", "guest_count": "3"},
			}),
			genAnyValue()))
		maybe("subject", rapid.OneOf(rapid.SampledFrom([]any{"Hello", "Hi", ""}), genAnyValue()))
		maybe("received_at", rapid.OneOf(rapid.SampledFrom([]any{"2020-01-01T00:00:00+01:00", "2099-01-01", "garbage"}), genAnyValue()))
		maybe("body", genAnyValue())
		return f
	})
}

// scenario is one random config with its compiled rules and one item.
type scenario struct {
	cfg            *config.Config
	rep            *rules.Report
	classification map[string]any
	facts          rules.Facts
	out            []rules.PlannedAction
}

func drawScenario(t *rapid.T) scenario {
	autos := rapid.SliceOfN(genAutomation(), 0, 8).Draw(t, "automations")
	cfg := emailConfig(fixtureClassifications(), autos...)
	rep, _ := rules.Check(cfg, registry(t)) // config errors only disable rules
	s := scenario{cfg: cfg, rep: rep, classification: genClassificationResult().Draw(t, "classification"), facts: genFacts().Draw(t, "facts")}
	p, ok := rep.Platform("email.personal", "inbox")
	if !ok {
		t.Fatal("no compiled inbox")
	}
	s.out = p.Evaluate(s.facts, s.classification, now)
	return s
}

func TestPropertyOnlyDeclaredActions(t *testing.T) {
	declared := map[string]bool{}
	for _, a := range inboxManifest(t).Actions {
		declared[a.Name] = true
	}
	rapid.Check(t, func(t *rapid.T) {
		s := drawScenario(t)
		for _, pa := range s.out {
			switch pa.Action.Kind {
			case config.ActionSimple:
				if !declared[pa.Action.Name] {
					t.Fatalf("undeclared simple action %q produced", pa.Action.Name)
				}
			case config.ActionDict:
				if len(pa.Action.Data) == 0 {
					t.Fatal("empty dict action produced")
				}
				for k := range pa.Action.Data {
					if !declared[k] {
						t.Fatalf("undeclared dict action key %q produced", k)
					}
				}
			case config.ActionScript:
				if _, ok := s.cfg.Script(pa.Action.Script.Name); !ok {
					t.Fatalf("undefined script %q produced", pa.Action.Script.Name)
				}
			case config.ActionService:
				target, err := rules.ParseServiceCall(pa.Action.Service.Call)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := s.cfg.Integration(target.IntegrationID()); !ok {
					t.Fatalf("service of unknown instance %q produced", target.IntegrationID())
				}
			default:
				t.Fatalf("action of kind %q produced", pa.Action.Kind)
			}
			if err := rules.AllowAtAct(pa.Action, pa.Provenance, inboxManifest(t), s.cfg, registry(t)); errors.Is(err, rules.ErrRejected) {
				t.Fatalf("produced action rejected at act time: %v", err)
			}
		}
	})
}

func TestPropertyActionCountBounded(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := drawScenario(t)
		total, enabled := 0, 0
		autos := s.cfg.Integrations[0].Platforms[0].Automations
		for i, a := range autos {
			total += len(a.Then)
			if !s.rep.Rules[i].Disabled {
				enabled += len(a.Then)
			}
		}
		if len(s.out) > enabled || enabled > total {
			t.Fatalf("%d actions from %d enabled (%d total) then elements", len(s.out), enabled, total)
		}
		// Every planned action is one of its rule's configured actions.
		for _, pa := range s.out {
			then := autos[pa.Rule-1].Then
			if !slices.ContainsFunc(then, func(a config.Action) bool { return rules.Label(a) == pa.Label && a.Yolo == pa.Yolo }) {
				t.Fatalf("action %q is not in rule #%d", pa.Label, pa.Rule)
			}
		}
	})
}

func TestPropertyMissingKeysNeverFire(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		autos := rapid.SliceOfN(genAutomation(), 1, 6).Draw(t, "automations")
		classification := genClassificationResult().Draw(t, "classification")
		facts := genFacts().Draw(t, "facts")
		// Keys this item lacks, or has as null.
		var absent []string
		for _, k := range conditionKeys {
			if name, ok := strings.CutPrefix(k, "classification."); ok {
				if v, present := classification[name]; !present || v == nil {
					absent = append(absent, k)
				}
				continue
			}
			if v, ok := facts.Resolve(k); !ok || v == nil {
				absent = append(absent, k)
			}
		}
		if len(absent) == 0 {
			delete(classification, "priority")
			absent = append(absent, "classification.priority")
		}
		if rapid.Bool().Draw(t, "null instead of missing") {
			k := rapid.SampledFrom(absent).Draw(t, "nulled")
			if name, ok := strings.CutPrefix(k, "classification."); ok {
				classification[name] = nil
			} else if !strings.Contains(k, ".") {
				facts[k] = nil
			}
		}
		doomed := map[int]bool{}
		for i := range autos {
			if rapid.Bool().Draw(t, "doom") {
				k := rapid.SampledFrom(absent).Draw(t, "absent key")
				autos[i].When = append(slices.Clone(autos[i].When), cond(k, genConditionValue(k).Draw(t, "value")))
				doomed[i+1] = true
			}
		}
		rep, _ := rules.Check(emailConfig(fixtureClassifications(), autos...), registry(t))
		p, _ := rep.Platform("email.personal", "inbox")
		for _, pa := range p.Evaluate(facts, classification, now) {
			if doomed[pa.Rule] {
				t.Fatalf("rule #%d fired although it tests a missing or null key: %+v", pa.Rule, autos[pa.Rule-1].When)
			}
		}
	})
}

func TestPropertyNoIrreversibleFromLLMWithoutYolo(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := drawScenario(t)
		autos := s.cfg.Integrations[0].Platforms[0].Automations
		for _, pa := range s.out {
			if pa.Irreversible && pa.Provenance != rules.ProvenanceRule && !pa.Yolo {
				t.Fatalf("irreversible %s from a %s rule without !yolo", pa.Label, pa.Provenance)
			}
			if want := rules.ProvenanceOf(autos[pa.Rule-1].When, emailKeys(t)); pa.Provenance != want {
				t.Fatalf("provenance %s, rule #%d is %s", pa.Provenance, pa.Rule, want)
			}
			if as := rules.Assess(pa.Action, inboxManifest(t), s.cfg, registry(t)); as.Irreversible != pa.Irreversible {
				t.Fatalf("%s: planned irreversible %v, assessed %v", pa.Label, pa.Irreversible, as.Irreversible)
			}
			if err := rules.AllowAtAct(pa.Action, pa.Provenance, inboxManifest(t), s.cfg, registry(t)); err != nil {
				t.Fatalf("the act-time check refuses what evaluation produced: %v", err)
			}
		}
		// The gate: an enabled llm/hybrid rule holds no irreversible action without !yolo.
		for _, rr := range s.rep.Rules {
			if rr.Disabled || rr.Provenance == rules.ProvenanceRule {
				continue
			}
			for _, a := range rr.Actions {
				if a.Irreversible && !a.Yolo {
					t.Fatalf("rule #%d (%s) enabled with irreversible %s", rr.Index, rr.Provenance, a.Action)
				}
			}
		}
	})
}
