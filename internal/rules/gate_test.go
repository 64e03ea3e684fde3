package rules_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/rules"
)

func TestProvenanceOf(t *testing.T) {
	email := emailKeys(t)
	sdk := []string{"domain", "org", "repo", "author", "authentication"}
	tests := []struct {
		name string
		keys []string
		when []config.Condition
		want string
	}{
		{"domain", email, when("domain", "a.com"), "rule"},
		{"dotted deterministic", email, when("authentication.dkim_pass", true), "rule"},
		{"is_noreply", email, when("is_noreply", true), "rule"},
		{"from_address", email, when("from_address", "a@b.c"), "rule"},
		{"several deterministic", email, when("domain", "a.com", "is_noreply", true, "calendar.end", "<now()"), "rule"},
		{"classification", email, when("classification.human", 0.8), "llm"},
		{"two classifications", email, when("classification.human", 0.8, "classification.priority", "high"), "llm"},
		{"mixed", email, when("domain", "a.com", "classification.human", 0.8), "hybrid"},
		{"empty", email, nil, "rule"},
		{"subject", email, when("subject", "x"), "rule"},
		{"to_address", email, when("to_address", "me@example.org"), "rule"},
		{"received_at", email, when("received_at", "< now()"), "rule"},
		{"unknown namespace is llm", email, when("body", "x"), "llm"},
		{"typo is llm", email, when("is_norepl", true), "llm"},
		{"no deterministic keys", nil, when("domain", "a.com"), "llm"},
		{"sdk: all deterministic", sdk, when("org", "a", "repo", "b"), "rule"},
		{"sdk: mixed", sdk, when("author", "a", "classification.x", true), "hybrid"},
		{"a manifest cannot make classification deterministic", []string{"classification"}, when("classification.human", 0.8), "llm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rules.ProvenanceOf(tt.when, tt.keys); got != tt.want {
				t.Fatalf("ProvenanceOf = %s, want %s", got, tt.want)
			}
		})
	}
	// Every email deterministic source alone is rule.
	if len(email) != 17 {
		t.Fatalf("email has %d deterministic keys, want 17 (the reference's 14, subject, to_address, received_at)", len(email))
	}
	for _, k := range email {
		if got := rules.ProvenanceOf(when(k, true), email); got != "rule" {
			t.Errorf("%s alone = %s", k, got)
		}
	}
}

func TestEmailManifestTiers(t *testing.T) {
	mp := inboxManifest(t)
	want := map[string]manifest.Tier{
		"archive": manifest.Reversible, "spam": manifest.Reversible, "trash": manifest.Reversible,
		"move_to": manifest.Reversible, "draft_reply": manifest.Reversible, "unsubscribe": manifest.Irreversible,
	}
	if len(mp.Actions) != len(want) {
		t.Fatalf("inbox actions = %v", mp.Actions)
	}
	for name, tier := range want {
		a, ok := mp.Action(name)
		if !ok || a.Tier != tier {
			t.Errorf("%s: declared %v, tier %v; want %v", name, ok, a.Tier, tier)
		}
	}
}

// ruleOf returns the report of one inbox rule.
func ruleOf(t *testing.T, rep *rules.Report, n int) rules.RuleReport {
	t.Helper()
	for _, r := range rep.Rules {
		if r.Integration == "email.personal" && r.Platform == "inbox" && r.Index == n {
			return r
		}
	}
	t.Fatalf("no rule #%d in %+v", n, rep.Rules)
	return rules.RuleReport{}
}

// TestLoadGate covers the reference's provenance safety tests and the fixes of
// ARCHITECTURE §6.4.
func TestLoadGate(t *testing.T) {
	llm := when("classification.human", 0.8)
	hybrid := when("domain", "a.com", "classification.human", 0.8)
	det := when("domain", "a.com")
	tests := []struct {
		name         string
		auto         config.Automation
		wantDisabled bool
		// wantWarn: every sub-string must be in one warning (with the gate's
		// prefix); "" = no gate warning.
		wantWarn []string
	}{
		{"irreversible from rule is kept", auto(det, simple("unsubscribe")), false, nil},
		{"unsubscribe from llm is disabled", auto(llm, simple("unsubscribe")), true,
			[]string{"email.personal", "inbox", "rule #1", "disabled", "unsubscribe", "llm", "!yolo", "classification.human"}},
		{"unsubscribe from hybrid is disabled", auto(hybrid, simple("unsubscribe")), true, []string{"rule #1", "disabled", "unsubscribe", "hybrid"}},
		{"!yolo unsubscribe from llm is kept", auto(llm, yolo(simple("unsubscribe"))), false, nil},
		{"archive from llm is kept", auto(llm, simple("archive")), false, nil},
		{"[archive, unsubscribe] from llm is disabled whole", auto(llm, simple("archive"), simple("unsubscribe")), true, []string{"[unsubscribe]"}},
		{"script from llm is disabled", auto(llm, script("research_tos")), true, []string{"script:research_tos", "disabled"}},
		{"!yolo script from llm is kept", auto(llm, yolo(script("research_tos"))), false, nil},
		{"script from rule is kept", auto(det, script("research_tos")), false, nil},
		{"reversible script from llm is kept", auto(llm, script("tidy")), false, nil},
		{"dict unsubscribe from llm is disabled", auto(llm, dict("unsubscribe", true)), true, []string{"unsubscribe", "disabled"}},
		{"dict unsubscribe from rule is kept", auto(det, dict("unsubscribe", true)), false, nil},
		{"draft_reply from llm is kept", auto(llm, dict("draft_reply", "Hi")), false, nil},
		{"!yolo dict unsubscribe is kept", auto(llm, yolo(dict("unsubscribe", true))), false, nil},
		// §6.4: every key is checked, whatever the mapping's order.
		{"a harmless first key does not hide unsubscribe", auto(llm, dict("draft_reply", "Hi", "unsubscribe", true)), true, []string{"draft_reply+unsubscribe", "disabled"}},
		{`a literal "!yolo" key is not a bypass`, auto(llm, dict("!yolo", "unsubscribe")), true, []string{"[!yolo]", "disabled"}},
		{"unknown service from llm is disabled", auto(llm, service("unknown.default.action")), true, []string{"service:unknown.default.action", "disabled"}},
		{"irreversible service from llm is disabled", auto(llm, service("gemini.default.web_research")), true, []string{"service:gemini.default.web_research"}},
		{"!yolo service from llm is kept", auto(llm, yolo(service("gemini.default.web_research"))), false, nil},
		{"service from rule is kept", auto(det, service("gemini.default.web_research")), false, nil},
		{"reversible service from llm is kept", auto(llm, service("tools.default.local_search")), false, nil},
		{"reversible service of an unknown instance from llm is disabled", auto(llm, service("tools.other.local_search")), true, []string{"service:tools.other.local_search"}},
		{"unknown action kind from llm is disabled", auto(llm, config.Action{Kind: "webhook"}), true, []string{"unknown:webhook", "disabled"}},
		{"unknown action kind from rule stays enabled (and is never run)", auto(det, config.Action{Kind: "webhook"}), false, nil},
		{"undeclared action from llm is disabled (fail closed)", auto(llm, simple("delete_everything")), true, []string{"delete_everything", "disabled"}},
		{"empty when with unsubscribe is rule", auto(nil, simple("unsubscribe")), false, nil},
		{"no actions", auto(llm), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := check(t, emailConfig(fixtureClassifications(), tt.auto))
			r := ruleOf(t, rep, 1)
			if r.Disabled != tt.wantDisabled {
				t.Fatalf("disabled = %v, want %v (reason %q, warnings %q)", r.Disabled, tt.wantDisabled, r.Reason, rep.Warnings)
			}
			gate := warningsWith(rep, "disabled:")
			if tt.wantWarn == nil {
				if len(gate) != 0 {
					t.Fatalf("unexpected gate warning %q", gate)
				}
				if r.Reason != "" {
					t.Fatalf("reason %q on an enabled rule", r.Reason)
				}
				return
			}
			if len(gate) != 1 || !containsAll(gate[0], tt.wantWarn...) {
				t.Fatalf("gate warnings = %q, want one containing %q", gate, tt.wantWarn)
			}
			if r.Reason == "" || !strings.Contains(gate[0], r.Reason) {
				t.Fatalf("reason %q not in warning %q", r.Reason, gate[0])
			}
			// A disabled rule never fires.
			all := map[string]any{"human": 1.0, "user_agreement_update": true, "requires_response": true, "priority": "critical"}
			if got := inbox(t, rep).Evaluate(rules.Facts{"domain": "a.com"}, all, now); len(got) != 0 {
				t.Fatalf("disabled rule produced %q", labels(got))
			}
		})
	}
}

func TestGateKeepsOtherRules(t *testing.T) {
	llm := when("classification.human", 0.8)
	rep := check(t, emailConfig(fixtureClassifications(),
		auto(llm, simple("unsubscribe")),
		auto(llm, simple("archive")),
	))
	if !ruleOf(t, rep, 1).Disabled || ruleOf(t, rep, 2).Disabled {
		t.Fatalf("rules: %+v", rep.Rules)
	}
	if got := rep.Enabled("email.personal", "inbox"); !reflect.DeepEqual(got, []int{2}) {
		t.Fatalf("Enabled = %v", got)
	}
	got := inbox(t, rep).Evaluate(nil, map[string]any{"human": 0.9}, now)
	if !reflect.DeepEqual(labels(got), []string{"archive"}) || got[0].Rule != 2 {
		t.Fatalf("survivor produced %+v", got)
	}
	if rep.Enabled("email.nobody", "inbox") != nil {
		t.Fatal("Enabled of an unknown platform")
	}
}

func TestYoloWarnings(t *testing.T) {
	rep := check(t, emailConfig(fixtureClassifications(),
		auto(when("classification.human", 0.9), yolo(simple("unsubscribe")), yolo(script("research_tos"))),
		auto(when("domain", "a.com"), yolo(simple("unsubscribe"))),
		auto(when("classification.human", 0.9), yolo(simple("archive"))),
	))
	yolos := warningsWith(rep, "!yolo")
	if len(yolos) != 4 {
		t.Fatalf("want one warning per !yolo action, got %q", yolos)
	}
	for i, want := range [][]string{
		{"email.personal", "inbox", "rule #1", "unsubscribe", "without approval", "llm provenance"},
		{"rule #1", "script:research_tos", "without approval"},
		{"rule #2", "unsubscribe", "not needed: the rule's provenance is rule"},
		{"rule #3", "archive", "not needed: the action is reversible"},
	} {
		if !containsAll(yolos[i], want...) {
			t.Errorf("warning %d = %q, want %q", i, yolos[i], want)
		}
	}
	r := ruleOf(t, rep, 1)
	if r.Disabled || !r.Actions[0].Yolo || !r.Actions[0].Irreversible {
		t.Fatalf("rule 1 = %+v", r)
	}
	got := inbox(t, rep).Evaluate(nil, map[string]any{"human": 0.95}, now)
	if len(got) != 3 || !got[0].Yolo || got[0].Provenance != "llm" || !got[0].Irreversible {
		t.Fatalf("planned = %+v", got)
	}
}

// TestReferenceValidation covers script and service reference warnings.
func TestReferenceValidation(t *testing.T) {
	det := when("domain", "a.com")
	tests := []struct {
		name   string
		action config.Action
		want   []string // sub-strings of the one warning; nil = no warning
	}{
		{"undefined script", script("my_script"), []string{"email.personal", "inbox", "rule #1", `undefined script "my_script"`, "research_tos, tidy"}},
		{"defined script", script("tidy"), nil},
		{"!yolo undefined script still warns", yolo(script("my_script")), []string{`undefined script "my_script"`}},
		{"script without a name", config.Action{Kind: config.ActionScript}, []string{"without a script name"}},
		{"unknown service type", service("unknown.default.action"), []string{`unknown service "unknown.default.action"`, `no integration type "unknown"`, "email, gemini, github, tools"}},
		{"known type, unknown service", service("gemini.default.nope"), []string{`type "gemini" has no service "nope"`, "web_research"}},
		{"valid service", service("gemini.default.web_research"), nil},
		{"!yolo unknown service still warns", yolo(service("gemini.default.nope")), []string{`"nope"`}},
		{"call without dots", service("just_one_part"), []string{`malformed service call "just_one_part"`, "type.instance.service"}},
		{"call with one dot", service("only.two_parts"), []string{`malformed service call "only.two_parts"`}},
		{"empty instance", service("gemini..web_research"), []string{"malformed service call"}},
		{"unknown instance (a fix)", service("gemini.research.web_research"), []string{`unknown integration instance "gemini.research"`, "configured gemini instances: gemini.default"}},
		{"service without a call", config.Action{Kind: config.ActionService}, []string{"without a call"}},
		{"undeclared email action", simple("delete_everything"), []string{`"delete_everything" is not an action of platform inbox (declared: archive, spam, trash, move_to, draft_reply, unsubscribe)`}},
		{"literal !yolo key", dict("!yolo", "unsubscribe"), []string{`"!yolo" mapping key is not the tag`}},
		{"empty dict", dict(), []string{"empty action mapping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := check(t, emailConfig(fixtureClassifications(), auto(det, tt.action)))
			ws := warningsWith(rep, "never run")
			if tt.want == nil {
				if len(rep.Warnings) != 0 {
					t.Fatalf("warnings = %q", rep.Warnings)
				}
				return
			}
			if len(ws) != 1 || !containsAll(ws[0], tt.want...) {
				t.Fatalf("warnings = %q, want one containing %q", rep.Warnings, tt.want)
			}
			r := ruleOf(t, rep, 1)
			if !r.Actions[0].Rejected || !r.Actions[0].Irreversible {
				t.Fatalf("action report = %+v", r.Actions[0])
			}
		})
	}
	// Integrations without platforms: no warnings, no crash.
	cfg := &config.Config{Integrations: []config.Integration{{Type: "email", Name: "personal"}, {Type: "gemini", Name: "default"}}}
	rep := check(t, cfg)
	if len(rep.Warnings) != 0 || len(rep.Rules) != 0 || len(rep.Platforms) != 0 {
		t.Fatalf("report = %+v", rep)
	}
}

// TestMissingPlatformDeclarations: with no declarations every key is
// non-deterministic and every action is rejected (fail closed).
func TestMissingPlatformDeclarations(t *testing.T) {
	cfg := &config.Config{Integrations: []config.Integration{{Type: "email", Name: "personal", HasPlatforms: true, Platforms: []config.Platform{{
		Name:            "inbox",
		Classifications: []config.Classification{{Name: "human", Prompt: "p"}},
		Automations: []config.Automation{
			auto(when("classification.human", 0.8), simple("archive")),
			auto(nil, simple("archive")),
			auto(when("domain", "a.com"), simple("archive")),
		},
	}}}}}
	reg, _ := manifest.NewRegistry() // no manifests at all
	rep, err := rules.Check(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	if len(warningsWith(rep, "email.personal", "inbox", "declares no such platform")) != 1 {
		t.Fatalf("warnings = %q", rep.Warnings)
	}
	if !ruleOf(t, rep, 1).Disabled || ruleOf(t, rep, 2).Disabled || !ruleOf(t, rep, 3).Disabled {
		t.Fatalf("rules = %+v", rep.Rules)
	}
	if ruleOf(t, rep, 3).Provenance != "llm" {
		t.Fatal("domain should count as llm without declarations")
	}
	if got := inbox(t, rep).Evaluate(rules.Facts{"domain": "a.com"}, map[string]any{"human": 1.0}, now); len(got) != 0 {
		t.Fatalf("produced %v without declarations", labels(got))
	}
	// A nil registry behaves the same.
	if _, err := rules.Check(cfg, nil); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	cfg := emailConfig(fixtureClassifications(),
		auto(when("domain", "a.com"), simple("archive")),
		auto(when("classification.human", "!= 0.5"), simple("archive")),
	)
	cfg.Integrations[0].Platforms[0].Automations[1].Pos = config.Position{File: "config.yaml", Line: 42}
	rep, err := rules.Check(cfg, registry(t))
	if err == nil {
		t.Fatal("a malformed condition must be a config error")
	}
	for _, want := range []string{"config.yaml:42", `integration "email.personal" platform "inbox" rule #2`, "invalid confidence condition"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "rule #2") {
		t.Fatalf("report errors = %q", rep.Errors)
	}
	if r := ruleOf(t, rep, 2); !r.Disabled || !strings.Contains(r.Reason, "malformed condition") {
		t.Fatalf("rule 2 = %+v", r)
	}
	if ruleOf(t, rep, 1).Disabled {
		t.Fatal("rule 1 should stay enabled")
	}
	// Invalid classifications are config errors too.
	bad := emailConfig([]config.Classification{{Name: "p", Prompt: "x", Type: config.Enum}})
	_, err = rules.Check(bad, registry(t))
	if err == nil || !containsAll(err.Error(), "email.personal", "inbox", "'values' is required when type is 'enum'") {
		t.Fatalf("error = %v", err)
	}
	dup := emailConfig([]config.Classification{{Name: "p", Prompt: "x"}, {Name: "p", Prompt: "y"}})
	if _, err = rules.Check(dup, registry(t)); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Fatalf("error = %v", err)
	}
	if rep, err := rules.Check(nil, nil); err != nil || len(rep.Rules) != 0 {
		t.Fatal("nil config")
	}
}

func TestReportJSONAndDescribe(t *testing.T) {
	cfg := emailConfig(nil,
		auto(when("is_noreply", true), simple("archive")),
		auto(when("classification.human", ">0.8"), simple("unsubscribe")),
		auto(when("classification.user_agreement_update", true), yolo(simple("unsubscribe"))),
	)
	cfg.Warnings = []config.Warning{{Position: config.Position{File: "config.yaml", Line: 3}, Key: "directories.chats", Message: "obsolete key, ignored"}}
	rep := check(t, cfg)
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Rules []struct {
			Integration string `json:"integration"`
			Platform    string `json:"platform"`
			Index       int    `json:"index"`
			Provenance  string `json:"provenance"`
			Disabled    bool   `json:"disabled"`
			Reason      string `json:"reason"`
			Actions     []struct {
				Action       string `json:"action"`
				Irreversible bool   `json:"irreversible"`
				Yolo         bool   `json:"yolo"`
			} `json:"actions"`
		} `json:"rules"`
		Warnings []string `json:"warnings"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Rules) != 3 {
		t.Fatalf("rules = %s", data)
	}
	r2 := doc.Rules[1]
	if r2.Integration != "email.personal" || r2.Platform != "inbox" || r2.Index != 2 || r2.Provenance != "llm" || !r2.Disabled || r2.Reason == "" {
		t.Fatalf("rule 2 = %+v", r2)
	}
	if a := r2.Actions[0]; a.Action != "unsubscribe" || !a.Irreversible || a.Yolo {
		t.Fatalf("rule 2 action = %+v", a)
	}
	if a := doc.Rules[2].Actions[0]; !a.Yolo || !a.Irreversible || doc.Rules[2].Disabled {
		t.Fatalf("rule 3 = %+v", doc.Rules[2])
	}
	if doc.Warnings[0] != "config.yaml:3: directories.chats: obsolete key, ignored" {
		t.Fatalf("loader warning first: %q", doc.Warnings)
	}
	var raw map[string]any
	_ = json.Unmarshal(data, &raw)
	for _, key := range []string{"rules", "warnings", "errors", "platforms"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("JSON lacks %q", key)
		}
	}
	if !bytes.Contains(data, []byte(`"reason":""`)) {
		t.Error("an enabled rule should carry an empty reason")
	}

	var b strings.Builder
	if err := rules.Describe(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"email.personal / inbox",
		"classifications (from defaults, hash " + rules.Hash(inbox(t, rep).Classifications()) + ")",
		"priority: enum [low, medium, high, critical] — what is the priority of this email?",
		"#1 rule", `when: is_noreply: true`, "then: archive [reversible]",
		"#2 llm  DISABLED", "then: unsubscribe [irreversible]", "disabled: irreversible actions [unsubscribe] with llm provenance",
		"#3 llm", "then: unsubscribe [irreversible, !yolo]",
		"Warnings (3):", "obsolete key",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Describe output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	_ = rules.Describe(&b, nil)
	if !strings.Contains(b.String(), "No platform is configured") {
		t.Error("empty report")
	}
	if err := rules.Describe(failingWriter{}, rep); err == nil {
		t.Error("a write error must be returned")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestAllowAtAct mirrors the email act tests' provenance re-check, with the
// fixes: a missing provenance is llm, a "!yolo" mapping key is not a tag, every
// key of a mapping counts.
func TestAllowAtAct(t *testing.T) {
	cfg := emailConfig(nil)
	reg := registry(t)
	mp := inboxManifest(t)
	tests := []struct {
		name       string
		action     config.Action
		provenance string
		platform   *manifest.Platform
		want       error
	}{
		{"unsubscribe from rule runs", simple("unsubscribe"), "rule", mp, nil},
		{"unsubscribe from llm is blocked", simple("unsubscribe"), "llm", mp, rules.ErrBlocked},
		{"unsubscribe from hybrid is blocked", simple("unsubscribe"), "hybrid", mp, rules.ErrBlocked},
		{"missing provenance is llm", simple("unsubscribe"), "", mp, rules.ErrBlocked},
		{"unknown provenance is llm", simple("unsubscribe"), "unknown", mp, rules.ErrBlocked},
		{"!yolo unsubscribe from llm runs", yolo(simple("unsubscribe")), "llm", mp, nil},
		{"!yolo without provenance runs", yolo(simple("unsubscribe")), "", mp, nil},
		{"archive from llm runs", simple("archive"), "llm", mp, nil},
		{"archive without provenance runs", simple("archive"), "", mp, nil},
		{"dict unsubscribe from llm is blocked", dict("unsubscribe", true), "llm", mp, rules.ErrBlocked},
		{"draft_reply from llm runs", dict("draft_reply", "Hi"), "llm", mp, nil},
		{"any key counts", dict("move_to", "X", "unsubscribe", true), "llm", mp, rules.ErrBlocked},
		{`"!yolo" mapping key is rejected`, dict("!yolo", "unsubscribe"), "llm", mp, rules.ErrRejected},
		{`"!yolo" mapping key is rejected even from rule`, dict("!yolo", "unsubscribe"), "rule", mp, rules.ErrRejected},
		{"unknown string is rejected", simple("delete_everything"), "rule", mp, rules.ErrRejected},
		{"unknown mapping is rejected", dict("send_email", "x"), "rule", mp, rules.ErrRejected},
		{"no platform declarations: rejected", simple("archive"), "rule", nil, rules.ErrRejected},
		{"irreversible script from llm is blocked", script("research_tos"), "llm", nil, rules.ErrBlocked},
		{"irreversible script from rule runs", script("research_tos"), "rule", nil, nil},
		{"reversible script from llm runs", script("tidy"), "llm", nil, nil},
		{"!yolo script from llm runs", yolo(script("research_tos")), "llm", nil, nil},
		{"undefined script is rejected", script("nope"), "rule", nil, rules.ErrRejected},
		{"service from llm is blocked", service("gemini.default.web_research"), "llm", nil, rules.ErrBlocked},
		{"service without provenance is blocked", service("gemini.default.web_research"), "", nil, rules.ErrBlocked},
		{"service from rule runs", service("gemini.default.web_research"), "rule", nil, nil},
		{"reversible service from llm runs", service("tools.default.local_search"), "llm", nil, nil},
		{"unknown instance is rejected", service("gemini.x.web_research"), "rule", nil, rules.ErrRejected},
		{"malformed call is rejected", service("gemini"), "rule", nil, rules.ErrRejected},
		{"unknown kind is rejected", config.Action{Kind: "webhook"}, "rule", nil, rules.ErrRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := rules.AllowAtAct(tt.action, tt.provenance, tt.platform, cfg, reg)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("AllowAtAct = %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("AllowAtAct = %v, want %v", err, tt.want)
			}
			if tt.want == rules.ErrBlocked && !strings.Contains(err.Error(), rules.Label(tt.action)) {
				t.Fatalf("error %q does not name the action", err)
			}
		})
	}
	// Without a config nothing is defined: scripts and instances are unknown.
	if err := rules.AllowAtAct(script("tidy"), "rule", nil, nil, reg); !errors.Is(err, rules.ErrRejected) {
		t.Fatalf("nil config: %v", err)
	}
}

func TestParseServiceCall(t *testing.T) {
	tests := []struct {
		call              string
		typ, inst, svc    string
		integration, task string
		bad               bool
	}{
		{call: "gemini.default.web_research", typ: "gemini", inst: "default", svc: "web_research", integration: "gemini.default", task: "service.gemini.web_research"},
		{call: "a.b.c.d", typ: "a.b", inst: "c", svc: "d", integration: "a.b.c", task: "service.a.b.d"},
		{call: "invalid", bad: true},
		{call: "only.two_parts", bad: true},
		{call: "", bad: true},
		{call: ".x.y", bad: true},
		{call: "x.y.", bad: true},
	}
	for _, tt := range tests {
		got, err := rules.ParseServiceCall(tt.call)
		if tt.bad {
			if err == nil || !strings.Contains(err.Error(), "expected 'type.instance.service'") {
				t.Errorf("%q: err = %v", tt.call, err)
			}
			continue
		}
		if err != nil || got.Type != tt.typ || got.Instance != tt.inst || got.Service != tt.svc ||
			got.IntegrationID() != tt.integration || got.TaskType() != tt.task {
			t.Errorf("%q = %+v, %v", tt.call, got, err)
		}
	}
}

func TestAssess(t *testing.T) {
	cfg, reg, mp := emailConfig(nil), registry(t), inboxManifest(t)
	tests := []struct {
		action                 config.Action
		label                  string
		irreversible, rejected bool
	}{
		{simple("unsubscribe"), "unsubscribe", true, false},
		{simple("archive"), "archive", false, false},
		{dict("unsubscribe", true), "unsubscribe", true, false},
		{dict("draft_reply", "Hi"), "draft_reply", false, false},
		{dict("move_to", "X", "draft_reply", "Hi"), "draft_reply+move_to", false, false},
		{dict("move_to", "X", "unsubscribe", true), "move_to+unsubscribe", true, false},
		{dict("!yolo", "unsubscribe"), "!yolo", true, true},
		{yolo(simple("unsubscribe")), "unsubscribe", true, false},
		{script("tidy"), "script:tidy", false, false},
		{script("research_tos"), "script:research_tos", true, false},
		{service("tools.default.local_search"), "service:tools.default.local_search", false, false},
		{service("tools.default.wipe"), "service:tools.default.wipe", true, false},
		{config.Action{Kind: "webhook"}, "unknown:webhook", true, true},
		{simple(""), "", true, true},
	}
	for _, tt := range tests {
		as := rules.Assess(tt.action, mp, cfg, reg)
		if as.Label != tt.label || as.Irreversible != tt.irreversible || as.Rejected != tt.rejected || as.Rejected != (len(as.Problems) > 0) {
			t.Errorf("Assess(%+v) = %+v; want label %q irreversible %v rejected %v", tt.action, as, tt.label, tt.irreversible, tt.rejected)
		}
	}
}

func TestYoloOnRejectedAction(t *testing.T) {
	rep := check(t, emailConfig(fixtureClassifications(), auto(when("classification.human", 0.5), yolo(script("nope")))))
	if len(warningsWith(rep, "rule #1", "script:nope", "!yolo but is rejected")) != 1 || len(warningsWith(rep, `undefined script "nope"`)) != 1 {
		t.Fatalf("warnings = %q", rep.Warnings)
	}
	if ruleOf(t, rep, 1).Disabled {
		t.Fatal("a !yolo action does not disable its rule")
	}
	if got := inbox(t, rep).Evaluate(nil, map[string]any{"human": 0.9}, now); len(got) != 0 {
		t.Fatalf("rejected action produced: %v", labels(got))
	}
}
