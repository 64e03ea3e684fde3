package rules_test

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/email"
	"github.com/stewardhq/steward/integrations/gemini"
	"github.com/stewardhq/steward/integrations/github"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/rules"
)

// tb is what the helpers need from *testing.T and *rapid.T alike.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// minChecks is the least number of cases every rapid property runs.
const minChecks = 500

func TestMain(m *testing.M) {
	flag.Parse()
	// Property tests run at least minChecks cases unless -rapid.checks asks for more.
	if f := flag.Lookup("rapid.checks"); f != nil {
		if n, err := strconv.Atoi(f.Value.String()); err == nil && n < minChecks {
			if err := flag.Set("rapid.checks", strconv.Itoa(minChecks)); err != nil {
				panic(err)
			}
		}
	}
	os.Exit(m.Run())
}

// now is the fixed "current time" of every test.
var now = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func cond(key string, v any) config.Condition { return config.Condition{Key: key, Value: v} }

// when builds conditions from key, value pairs.
func when(kv ...any) []config.Condition {
	var out []config.Condition
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, cond(kv[i].(string), kv[i+1]))
	}
	return out
}

func simple(name string) config.Action { return config.Action{Kind: config.ActionSimple, Name: name} }

func dict(kv ...any) config.Action {
	d := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i].(string)] = kv[i+1]
	}
	return config.Action{Kind: config.ActionDict, Data: d}
}

func script(name string) config.Action {
	return config.Action{Kind: config.ActionScript, Name: "script", Script: &config.ScriptRef{Name: name}}
}

func service(call string) config.Action {
	return config.Action{Kind: config.ActionService, Name: "service", Service: &config.ServiceCall{Call: call}}
}

func yolo(a config.Action) config.Action { a.Yolo = true; return a }

func auto(w []config.Condition, then ...config.Action) config.Automation {
	if then == nil {
		then = []config.Action{}
	}
	return config.Automation{When: w, Then: then}
}

// toolsManifest declares a reversible service, as the reference's
// tools.default.local_search fixture.
func toolsManifest() *manifest.Manifest {
	return &manifest.Manifest{Type: "tools", Services: []manifest.Service{
		{Name: "local_search", Reversible: true},
		{Name: "wipe", Reversible: false},
	}}
}

func registry(t tb) *manifest.Registry {
	t.Helper()
	r, err := manifest.NewRegistry(email.Manifest(), github.Manifest(), gemini.Manifest(), toolsManifest())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func inboxManifest(t tb) *manifest.Platform {
	t.Helper()
	p, ok := email.Manifest().Platform("inbox")
	if !ok {
		t.Fatal("email manifest has no inbox platform")
	}
	return p
}

// fixtureClassifications are the reference safety suite's classifications.
func fixtureClassifications() []config.Classification {
	return []config.Classification{
		{Name: "human", Prompt: "is this a personal email written by a human?", Type: config.Confidence},
		{Name: "user_agreement_update", Prompt: "is this email about a user agreement update?", Type: config.Boolean},
		{Name: "requires_response", Prompt: "does this email require a response?", Type: config.Boolean},
		{Name: "priority", Prompt: "what is the priority of this email?", Type: config.Enum, Values: []string{"low", "medium", "high", "critical"}},
	}
}

// emailConfig is a config with one email integration "personal" whose inbox has
// the given classifications and automations, a gemini and a tools instance, and
// two scripts (research_tos irreversible, tidy reversible).
func emailConfig(cs []config.Classification, autos ...config.Automation) *config.Config {
	return &config.Config{
		Integrations: []config.Integration{
			{Type: "email", Name: "personal", HasPlatforms: true, Platforms: []config.Platform{
				{Name: "inbox", Classifications: cs, Automations: autos},
			}},
			{Type: "gemini", Name: "default"},
			{Type: "tools", Name: "default"},
		},
		Scripts: []config.Script{
			{Name: "research_tos", Shell: "echo", Reversible: false},
			{Name: "tidy", Shell: "echo", Reversible: true},
		},
	}
}

// check runs rules.Check and fails the test on a config error.
func check(t tb, cfg *config.Config) *rules.Report {
	t.Helper()
	rep, err := rules.Check(cfg, registry(t))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return rep
}

// inbox returns the compiled inbox rules of email.personal.
func inbox(t tb, rep *rules.Report) *rules.PlatformRules {
	t.Helper()
	p, ok := rep.Platform("email.personal", "inbox")
	if !ok {
		t.Fatal("no compiled rules for email.personal inbox")
	}
	return p
}

// labels lists the labels of planned actions.
func labels(pas []rules.PlannedAction) []string {
	out := make([]string, len(pas))
	for i, a := range pas {
		out[i] = a.Label
	}
	return out
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// warningsWith returns the warnings containing every sub-string.
func warningsWith(rep *rules.Report, subs ...string) []string {
	var out []string
	for _, w := range rep.Warnings {
		if containsAll(w, subs...) {
			out = append(out, w)
		}
	}
	return out
}
