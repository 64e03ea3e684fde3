package rules_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stewardhq/steward/integrations/email"
	"github.com/stewardhq/steward/integrations/gemini"
	"github.com/stewardhq/steward/integrations/github"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/rules"
)

// testManifest declares a platform with plain reversible actions, for the
// reference's engine tests that use archive/log/alert.
func testManifest() *manifest.Manifest {
	return &manifest.Manifest{Type: "test", Platforms: []manifest.Platform{{
		Name: "items",
		Actions: []manifest.Action{
			{Name: "archive", Tier: manifest.Reversible}, {Name: "log", Tier: manifest.Reversible},
			{Name: "alert", Tier: manifest.Reversible}, {Name: "flag", Tier: manifest.Reversible},
			{Name: "nuke", Tier: manifest.Irreversible},
		},
		DeterministicKeys: []string{"domain", "author"},
	}}}
}

// evalTest compiles the automations on the test platform and evaluates them.
func evalTest(t *testing.T, classification map[string]any, facts rules.Facts, autos ...config.Automation) []rules.PlannedAction {
	t.Helper()
	cfg := &config.Config{
		Integrations: []config.Integration{
			{Type: "test", Name: "t", HasPlatforms: true, Platforms: []config.Platform{{Name: "items", Classifications: []config.Classification{
				{Name: "score", Prompt: "p", Type: config.Confidence},
				{Name: "flagged", Prompt: "p", Type: config.Boolean},
			}, Automations: autos}}},
			{Type: "tools", Name: "default"},
		},
		Scripts: []config.Script{{Name: "tidy", Reversible: true}},
	}
	reg, err := manifest.NewRegistry(testManifest(), toolsManifest())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := rules.Check(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := rep.Platform("test.t", "items")
	if !ok {
		t.Fatal("no platform")
	}
	return p.Evaluate(facts, classification, now)
}

func TestEvaluateEngine(t *testing.T) {
	facts := rules.Facts{"domain": "example.com", "author": "alice"}
	hi := map[string]any{"score": 0.9, "flagged": true}
	tests := []struct {
		name  string
		class map[string]any
		autos []config.Automation
		want  []string
	}{
		{"matching rule", hi, []config.Automation{auto(when("classification.score", 0.8), simple("archive"))}, []string{"archive"}},
		{"non-matching rule", hi, []config.Automation{auto(when("classification.score", 0.95), simple("archive"))}, nil},
		{"no automations", hi, nil, nil},
		{"empty when always matches", nil, []config.Automation{auto(nil, simple("log"))}, []string{"log"}},
		{"two rules combine", hi, []config.Automation{
			auto(when("classification.score", 0.8), simple("archive")),
			auto(when("classification.flagged", true), dict("log", "x")),
		}, []string{"archive", "log"}},
		{"duplicate simple actions collapse, first occurrence order", hi, []config.Automation{
			auto(when("classification.score", 0.5), simple("archive"), simple("log")),
			auto(when("classification.flagged", true), simple("archive"), simple("alert")),
		}, []string{"archive", "log", "alert"}},
		{"identical service actions from two rules both stay", hi, []config.Automation{
			auto(when("domain", "example.com"), service("tools.default.local_search")),
			auto(when("author", "alice"), service("tools.default.local_search")),
		}, []string{"service:tools.default.local_search", "service:tools.default.local_search"}},
		{"identical dict actions both stay", hi, []config.Automation{
			auto(when("domain", "example.com"), dict("log", "a")),
			auto(when("author", "alice"), dict("log", "a")),
		}, []string{"log", "log"}},
		{"plain and !yolo archive both stay", hi, []config.Automation{
			auto(when("domain", "example.com"), simple("archive")),
			auto(when("author", "alice"), yolo(simple("archive"))),
		}, []string{"archive", "archive"}},
		{"deterministic rule fires without a classification", nil, []config.Automation{auto(when("domain", "example.com"), simple("archive"))}, []string{"archive"}},
		{"AND: one false condition breaks the match", hi, []config.Automation{auto(when("domain", "example.com", "classification.flagged", false), simple("archive"))}, nil},
		{"AND: all hold", hi, []config.Automation{auto(when("domain", "example.com", "classification.flagged", true), simple("archive"))}, []string{"archive"}},
		{"undeclared actions are never produced", hi, []config.Automation{auto(nil, simple("archive"), simple("delete_everything"), dict("send_email", "x"), dict("log", "x", "explode", true))}, []string{"archive"}},
		{"scripts run", hi, []config.Automation{auto(when("classification.score", 0.5), script("tidy"))}, []string{"script:tidy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := labels(evalTest(t, tt.class, facts, tt.autos...))
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("actions = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestProvenancePerRule: each action carries the provenance and number of the rule
// that produced it (ARCHITECTURE §6.3), not one value merged over every matching
// rule; a single hybrid rule is hybrid (the reference reported llm).
func TestProvenancePerRule(t *testing.T) {
	cfg := emailConfig(fixtureClassifications(),
		auto(when("is_unsubscribable", true, "domain", "news.example.com"), simple("unsubscribe")), // rule
		auto(when("classification.human", ">0.8"), simple("archive")),                              // llm
		auto(when("is_noreply", true, "classification.requires_response", true), dict("draft_reply", "ok")),
	)
	rep := check(t, cfg)
	if len(rep.Warnings) != 0 {
		t.Fatalf("warnings: %q", rep.Warnings)
	}
	facts := rules.Facts{"is_unsubscribable": true, "domain": "news.example.com", "is_noreply": true}
	got := inbox(t, rep).Evaluate(facts, map[string]any{"human": 0.95, "requires_response": true}, now)
	want := []rules.PlannedAction{
		{Action: simple("unsubscribe"), Label: "unsubscribe", Provenance: "rule", Rule: 1, Irreversible: true},
		{Action: simple("archive"), Label: "archive", Provenance: "llm", Rule: 2},
		{Action: dict("draft_reply", "ok"), Label: "draft_reply", Provenance: "hybrid", Rule: 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// The rule-provenance unsubscribe passes the act-time check although an LLM
	// rule matched the same item.
	for _, pa := range got {
		if err := rules.AllowAtAct(pa.Action, pa.Provenance, inboxManifest(t), cfg, registry(t)); err != nil {
			t.Fatalf("%s: %v", pa.Label, err)
		}
	}
}

// TestEmailEvaluate mirrors the email package's evaluate tests with an
// email-shaped fact set.
func TestEmailEvaluate(t *testing.T) {
	facts := func(mod func(rules.Facts)) rules.Facts {
		f := rules.Facts{
			"from_address": "noreply@service.com", "domain": "example.com", "root_domain": "example.com",
			"is_noreply": true, "is_reply": false, "is_forward": false, "is_read": false, "is_starred": false,
			"is_answered": false, "has_attachments": false, "is_unsubscribable": false, "is_calendar_event": false,
			"authentication": map[string]any{"dkim_pass": true, "dmarc_pass": true, "spf_pass": false},
			"calendar":       nil,
		}
		if mod != nil {
			mod(f)
		}
		return f
	}
	withCalendar := func(f rules.Facts) {
		f["is_calendar_event"] = true
		f["calendar"] = map[string]any{"start": "2020-03-01T14:00:00+00:00", "end": "2020-03-01T15:00:00+00:00", "guest_count": 3, "method": "request"}
	}
	human := map[string]any{"human": 0.95, "user_agreement_update": true, "requires_response": false, "priority": "low"}
	tests := []struct {
		name  string
		facts rules.Facts
		class map[string]any
		auto  config.Automation
		want  []string
	}{
		{"domain match", facts(nil), nil, auto(when("domain", "example.com"), simple("archive")), []string{"archive"}},
		{"domain mismatch", facts(nil), nil, auto(when("domain", "other.com"), simple("archive")), nil},
		{"noreply", facts(nil), nil, auto(when("is_noreply", true), simple("archive")), []string{"archive"}},
		{"not noreply", facts(func(f rules.Facts) { f["is_noreply"] = false }), nil, auto(when("is_noreply", true), simple("archive")), nil},
		{"confidence", facts(nil), human, auto(when("classification.human", ">0.8"), simple("spam")), []string{"spam"}},
		{"boolean", facts(nil), human, auto(when("classification.user_agreement_update", true), simple("archive")), []string{"archive"}},
		{"mixed", facts(nil), human, auto(when("is_noreply", true, "classification.user_agreement_update", true), simple("trash")), []string{"trash"}},
		{"unknown classification", facts(nil), map[string]any{"nonexistent": true}, auto(when("classification.nonexistent", true), yolo(simple("unsubscribe"))), nil},
		{"dkim pass", facts(nil), nil, auto(when("authentication.dkim_pass", true), simple("archive")), []string{"archive"}},
		{"spf fail", facts(nil), nil, auto(when("authentication.spf_pass", true), simple("archive")), nil},
		{"unknown authentication key", facts(nil), nil, auto(when("authentication.arc_pass", true), simple("archive")), nil},
		{"calendar event", facts(withCalendar), nil, auto(when("is_calendar_event", true), simple("archive")), []string{"archive"}},
		{"no calendar event", facts(nil), nil, auto(when("is_calendar_event", true), simple("archive")), nil},
		{"guest count", facts(withCalendar), nil, auto(when("calendar.guest_count", 3), simple("archive")), []string{"archive"}},
		{"other guest count", facts(withCalendar), nil, auto(when("calendar.guest_count", 5), simple("archive")), nil},
		{"calendar key without calendar", facts(nil), nil, auto(when("calendar.method", "request"), simple("archive")), nil},
		{"past event", facts(withCalendar), nil, auto(when("calendar.end", "<now()"), simple("archive")), []string{"archive"}},
		{"future event", facts(func(f rules.Facts) {
			withCalendar(f)
			f["calendar"].(map[string]any)["end"] = "2099-01-01T00:00:00+00:00"
		}), nil, auto(when("calendar.end", "<now()"), simple("archive")), nil},
		{"move_to and draft_reply", facts(nil), nil, auto(nil, dict("move_to", "Newsletters"), dict("draft_reply", "Thanks")), []string{"move_to", "draft_reply"}},
		{"an undeclared action is rejected", facts(nil), human, auto(when("classification.human", ">0.8"), simple("flag")), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, _ := rules.Check(emailConfig(fixtureClassifications(), tt.auto), registry(t))
			got := labels(inbox(t, rep).Evaluate(tt.facts, tt.class, now))
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("actions = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestGitHubEvaluate mirrors the GitHub evaluate tests; GitHub platforms declare
// no actions, so rules act through scripts.
func TestGitHubEvaluate(t *testing.T) {
	pr := rules.Facts{"org": "acme", "repo": "acme/web", "number": 7, "author": "dependabot", "title": "Bump x", "status": "open", "additions": 3, "deletions": 1, "changed_files": 1}
	issue := rules.Facts{"org": "acme", "repo": "acme/web", "number": 8, "author": "a", "title": "Crash", "state": "open", "labels": []any{"bug"}, "comment_count": 2}
	tests := []struct {
		name     string
		platform string
		facts    rules.Facts
		class    map[string]any
		when     []config.Condition
		want     bool
		prov     string
	}{
		{"author matches", "pull_requests", pr, nil, when("author", "dependabot"), true, "rule"},
		{"author mismatch", "pull_requests", rules.Facts{"author": "alice"}, nil, when("author", "dependabot"), false, ""},
		{"complexity", "pull_requests", pr, map[string]any{"complexity": 0.9}, when("classification.complexity", ">0.8"), true, "llm"},
		{"unknown classification", "pull_requests", pr, map[string]any{"nope": 1.0}, when("classification.nope", 0.5), false, ""},
		{"documentation_only", "pull_requests", pr, map[string]any{"documentation_only": true}, when("classification.documentation_only", true), true, "llm"},
		{"hybrid", "pull_requests", pr, map[string]any{"risk": 0.1}, when("author", "dependabot", "classification.risk", "<0.3"), true, "hybrid"},
		{"hybrid, LLM half fails", "pull_requests", pr, map[string]any{"risk": 0.5}, when("author", "dependabot", "classification.risk", "<0.3"), false, ""},
		{"author any-of", "issues", issue, nil, when("author", []any{"a", "b"}), true, "rule"},
		{"state", "issues", issue, nil, when("state", "open"), true, "rule"},
		{"labels", "issues", issue, nil, when("labels", "bug"), true, "rule"},
		{"urgency", "issues", issue, map[string]any{"urgency": 0.95}, when("classification.urgency", ">0.9"), true, "llm"},
		{"actionable", "issues", issue, map[string]any{"actionable": true}, when("classification.actionable", true), true, "llm"},
		{"dotted non-classification keys are missing", "issues", issue, nil, when("org.name", "acme"), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{
				Integrations: []config.Integration{{Type: "github", Name: "work", HasPlatforms: true, Platforms: []config.Platform{
					{Name: tt.platform, Automations: []config.Automation{auto(tt.when, script("tidy"))}},
				}}},
				Scripts: []config.Script{{Name: "tidy", Reversible: true}},
			}
			reg, _ := manifest.NewRegistry(email.Manifest(), github.Manifest(), gemini.Manifest())
			rep, err := rules.Check(cfg, reg)
			if err != nil {
				t.Fatal(err)
			}
			p, _ := rep.Platform("github.work", tt.platform)
			got := p.Evaluate(tt.facts, tt.class, now)
			if (len(got) == 1) != tt.want {
				t.Fatalf("fired = %v, want %v", labels(got), tt.want)
			}
			if tt.want && got[0].Provenance != tt.prov {
				t.Fatalf("provenance = %s, want %s", got[0].Provenance, tt.prov)
			}
		})
	}
	// A simple action on a GitHub platform is rejected: they declare none.
	cfg := &config.Config{Integrations: []config.Integration{{Type: "github", Name: "work", HasPlatforms: true, Platforms: []config.Platform{
		{Name: "issues", Automations: []config.Automation{auto(when("author", "a"), simple("log"))}},
	}}}}
	rep, _ := rules.Check(cfg, registry(t))
	p, _ := rep.Platform("github.work", "issues")
	if got := p.Evaluate(issue, nil, now); len(got) != 0 {
		t.Fatalf("undeclared GitHub action produced: %v", labels(got))
	}
	if len(warningsWith(rep, `action "log" is not an action of platform issues (declared: none)`)) != 1 {
		t.Fatalf("warnings: %q", rep.Warnings)
	}
}

func TestEvaluateNilSafety(t *testing.T) {
	var p *rules.PlatformRules
	if got := p.Evaluate(nil, nil, now); got != nil {
		t.Fatal("nil rules produced actions")
	}
	rep := check(t, emailConfig(nil, auto(when("domain", "a.com", "classification.human", 0.5), simple("archive"))))
	if got := inbox(t, rep).Evaluate(nil, nil, now); len(got) != 0 {
		t.Fatal("nil facts and classification produced actions")
	}
	cs := inbox(t, rep).Classifications()
	if len(cs) != 4 || !slices.ContainsFunc(cs, func(c config.Classification) bool { return c.Name == "human" }) {
		t.Fatalf("default classifications = %v", cs)
	}
	if inbox(t, rep).ClassificationHash() != rules.Hash(cs) || !strings.HasPrefix(inbox(t, rep).Integration()+"/"+inbox(t, rep).Platform(), "email.personal/inbox") {
		t.Fatal("platform accessors")
	}
}
