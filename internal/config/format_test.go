package config_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/config"
)

func TestIntervalToCron(t *testing.T) {
	good := map[string]string{
		"30m": "*/30 * * * *", "1m": "*/1 * * * *", "15m": "*/15 * * * *", "20m": "*/20 * * * *",
		"2h": "0 */2 * * *", "1h": "0 */1 * * *", "8h": "0 */8 * * *", "12h": "0 */12 * * *",
		"1d": "0 0 * * *", " 30m ": "*/30 * * * *", "30M": "*/30 * * * *", "2H": "0 */2 * * *",
		"15 m": "*/15 * * * *", "010m": "*/10 * * * *",
		// Intervals that do not divide the hour (minutes) or the day (hours) are
		// exact, not cron steps (*/45 would leave gaps of 45 and 15 minutes).
		"45m": "@every 45m", "59m": "@every 59m", "007m": "@every 7m", "25m": "@every 25m",
		"5h": "@every 5h", "23h": "@every 23h", "9H": "@every 9h",
	}
	for in, want := range good {
		got, err := config.IntervalToCron(in)
		if err != nil || got != want {
			t.Errorf("IntervalToCron(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"abc":                      "Invalid interval format: 'abc' (expected e.g. '30m', '2h', '1d')",
		"100x":                     "Invalid interval format: '100x' (expected e.g. '30m', '2h', '1d')",
		"":                         "Invalid interval format: '' (expected e.g. '30m', '2h', '1d')",
		"0m":                       "Minute interval must be 1-59, got 0",
		"60m":                      "Minute interval must be 1-59, got 60",
		"0h":                       "Hour interval must be 1-23, got 0",
		"24h":                      "Hour interval must be 1-23, got 24",
		"2d":                       "Day interval only supports '1d' (daily), got 2d",
		"7d":                       "Day interval only supports '1d' (daily), got 7d",
		"99999999999999999999999m": "Minute interval must be 1-59, got 99999999999999999999999",
		"m":                        "Invalid interval format: 'm' (expected e.g. '30m', '2h', '1d')",
		"30":                       "the interval 30 is missing a unit: write 30m (minutes)",
		" 15 ":                     "the interval 15 is missing a unit: write 15m (minutes) or 15h (hours)",
		"1":                        "the interval 1 is missing a unit: write 1m (minutes), 1h (hours) or 1d (daily)",
		"90":                       "the interval 90 is missing a unit: write minutes (1m-59m), hours (1h-23h) or 1d, e.g. 30m",
	}
	for in, want := range bad {
		_, err := config.IntervalToCron(in)
		if err == nil || err.Error() != want {
			t.Errorf("IntervalToCron(%q) error = %v; want %q", in, err, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"30m": 30 * time.Minute, "1h": time.Hour, "1d": 24 * time.Hour, "  2h  ": 2 * time.Hour,
		"7 D": 7 * 24 * time.Hour, "0m": 0, "30d": 30 * 24 * time.Hour,
	}
	for in, want := range good {
		got, err := config.ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"abc", "30", "", "1w", "-1h", "1.5h", "99999999999999999999d"} {
		_, err := config.ParseDuration(in)
		if err == nil || !strings.HasPrefix(err.Error(), "Invalid duration format: '"+in+"'") {
			t.Errorf("ParseDuration(%q) error = %v", in, err)
		}
	}
}

func TestSchedule(t *testing.T) {
	base := llmsDefault + `
integrations:
  - type: email
    name: personal
    imap_server: imap.example.com
    username: me
    password: !secret pw
    platforms:
      inbox: {}
    schedule:
`
	cases := []struct {
		name, schedule, expr, errFrag, warnFrag string
	}{
		{"every", "      every: 15m\n", "*/15 * * * *", "", ""},
		{"cron", "      cron: \"0 7 * * 1-5\"\n", "0 7 * * 1-5", "", ""},
		{"cron wins", "      every: 15m\n      cron: \"0 * * * *\"\n", "0 * * * *", "", "cron wins"},
		{"descriptor", "      cron: \"@hourly\"\n", "@hourly", "", ""},
		{"null", "      null\n", "", "", ""},
		{"empty", "      {}\n", "", "", ""},
		{"bad every", "      every: 45x\n", "", "Invalid interval format: '45x' (expected e.g. '30m', '2h', '1d')", ""},
		{"every out of range", "      every: 90m\n", "", "Minute interval must be 1-59, got 90", ""},
		{"bad cron", "      cron: \"* * *\"\n", "", "invalid cron expression", ""},
		{"bad cron field", "      cron: \"61 * * * *\"\n", "", "invalid cron expression", ""},
		{"every not dividing the hour is exact", "      every: 45m\n", "@every 45m", "", ""},
		{"every number without unit", "      every: 15\n", "", "the interval 15 is missing a unit: write 15m (minutes) or 15h (hours)", ""},
		{"every quoted number without unit", "      every: \"45\"\n", "", "the interval 45 is missing a unit: write 45m (minutes)", ""},
		{"cron exact interval", "      cron: \"@every 1h30m\"\n", "@every 1h30m", "", ""},
		{"cron interval below a minute", "      cron: \"@every 30s\"\n", "", "@every takes a whole number of minutes", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := base + c.schedule
			if c.errFrag != "" {
				errs := parseErrors(t, doc, pwSecret)
				key := "integrations[0].schedule.every"
				if strings.Contains(c.schedule, "cron") {
					key = "integrations[0].schedule.cron"
				}
				e := requireError(t, errs, key, c.errFrag)
				if e.Line != 15 {
					t.Errorf("line = %d, want 15", e.Line)
				}
				return
			}
			cfg := mustParse(t, doc, pwSecret)
			s := cfg.Integrations[0].Schedule
			if c.expr == "" {
				if s != nil {
					t.Errorf("schedule = %+v, want none", s)
				}
				return
			}
			if s == nil || s.Expr != c.expr {
				t.Fatalf("schedule = %+v, want expr %q", s, c.expr)
			}
			if c.warnFrag != "" {
				requireWarning(t, cfg, "integrations[0].schedule.every", c.warnFrag)
			}
		})
	}
}

// TestScheduleFireTimes follows a schedule written as every: from config to
// the times it fires: every interval is exact, and intervals that divide the
// hour or the day stay on the clock (15m at :00, :15, :30, :45).
func TestScheduleFireTimes(t *testing.T) {
	start := time.Date(2026, 3, 10, 9, 7, 30, 0, time.UTC)
	cases := []struct {
		every string
		gap   time.Duration
		first time.Time // the first firing after start
	}{
		{"15m", 15 * time.Minute, time.Date(2026, 3, 10, 9, 15, 0, 0, time.UTC)},
		{"30m", 30 * time.Minute, time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)},
		{"45m", 45 * time.Minute, time.Date(2026, 3, 10, 9, 45, 0, 0, time.UTC)},
		{"59m", 59 * time.Minute, time.Time{}},
		{"7m", 7 * time.Minute, time.Time{}},
		{"2h", 2 * time.Hour, time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)},
		{"5h", 5 * time.Hour, time.Time{}},
		{"23h", 23 * time.Hour, time.Time{}},
		{"1d", 24 * time.Hour, time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		t.Run(c.every, func(t *testing.T) {
			cfg := mustParse(t, emailDoc("        {}\n")+"    schedule: {every: "+c.every+"}\n", pwSecret)
			expr := cfg.Integrations[0].Schedule.Expr
			sched, err := config.ParseSchedule(expr)
			if err != nil {
				t.Fatalf("ParseSchedule(%q): %v", expr, err)
			}
			prev := sched.Next(start)
			if !c.first.IsZero() && !prev.Equal(c.first) {
				t.Errorf("%s (%s): first firing %v, want %v", c.every, expr, prev, c.first)
			}
			if d := prev.Sub(start); d <= 0 || d > c.gap {
				t.Errorf("%s (%s): first firing %v is %v after start", c.every, expr, prev, d)
			}
			for i := 0; i < 200; i++ {
				next := sched.Next(prev)
				if gap := next.Sub(prev); gap != c.gap {
					t.Fatalf("%s (%s): fires at %v then %v, a gap of %v; want exactly %v",
						c.every, expr, prev.Format("Jan 2 15:04"), next.Format("Jan 2 15:04"), gap, c.gap)
				}
				prev = next
			}
			// The rhythm does not depend on when the scheduler started: from
			// any instant between two firings, the next firing is the same.
			a := sched.Next(start)
			if b := sched.Next(start.Add(a.Sub(start) / 2)); !b.Equal(a) {
				t.Errorf("%s: Next depends on the start: %v vs %v", c.every, a, b)
			}
		})
	}
}

func TestParseSchedule(t *testing.T) {
	tests := []struct {
		expr, errFrag string
	}{
		{"*/15 * * * *", ""},
		{"@daily", ""},
		{"@every 45m", ""},
		{"@every 1h30m", ""},
		{"@every 30s", "whole number of minutes"},
		{"@every 90s", "whole number of minutes"},
		{"@every 0m", "at least 1m"},
		{"@every soon", "whole number of minutes"},
		{"* * *", "expected exactly 5 fields"},
		{"TZ=", ""}, // must not panic; the error text is the cron library's
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := config.ParseSchedule(tt.expr)
			switch {
			case tt.expr == "TZ=":
				if err == nil {
					t.Error("no error")
				}
			case tt.errFrag == "" && err != nil:
				t.Errorf("error %v", err)
			case tt.errFrag != "" && (err == nil || !strings.Contains(err.Error(), tt.errFrag)):
				t.Errorf("error %v, want %q", err, tt.errFrag)
			}
		})
	}
}

func TestScheduleWithoutPlatformsWarns(t *testing.T) {
	cfg := mustParse(t, llmsDefault+`
integrations:
  - type: gemini
    name: research
    api_key: !secret k
    schedule: {every: 1h}
`, map[string]string{"k": "key-value-123"})
	requireWarning(t, cfg, "integrations[0].schedule", "has no effect")
}

func TestYolo(t *testing.T) {
	cases := []struct {
		name string
		then string
		want []config.Action
	}{
		{"scalar", "!yolo unsubscribe", []config.Action{{Kind: config.ActionSimple, Name: "unsubscribe", Yolo: true}}},
		{"in a list", "[!yolo unsubscribe, archive]", []config.Action{
			{Kind: config.ActionSimple, Name: "unsubscribe", Yolo: true},
			{Kind: config.ActionSimple, Name: "archive"},
		}},
		{"scalar kept as text", "!yolo 5", []config.Action{{Kind: config.ActionSimple, Name: "5", Yolo: true}}},
		{"script mapping", "!yolo {script: {name: test}}", []config.Action{
			{Kind: config.ActionScript, Name: "script", Script: &config.ScriptRef{Name: "test"}, Yolo: true},
		}},
		{"mapping keeps templates verbatim", "!yolo {script: {name: research_tos, inputs: {domain: \"{{ domain }}\"}}}", []config.Action{
			{Kind: config.ActionScript, Name: "script", Yolo: true,
				Script: &config.ScriptRef{Name: "research_tos", Inputs: map[string]any{"domain": "{{ domain }}"}}},
		}},
		{"dict", "- !yolo\n  unsubscribe: true", []config.Action{
			{Kind: config.ActionDict, Data: map[string]any{"unsubscribe": true}, Yolo: true},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := config.ParseActions([]byte(c.then))
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i].Pos = config.Position{}
			}
			if !actionsEqual(got, c.want) {
				t.Errorf("got %#v\nwant %#v", got, c.want)
			}
		})
	}
}

func actionsEqual(a, b []config.Action) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Kind != y.Kind || x.Name != y.Name || x.Yolo != y.Yolo ||
			!reflect.DeepEqual(x.Data, y.Data) || !reflect.DeepEqual(x.Script, y.Script) || !reflect.DeepEqual(x.Service, y.Service) {
			return false
		}
	}
	return true
}

func TestYoloOnSequenceIsAnError(t *testing.T) {
	errs := parseErrors(t, emailDoc(`        automations:
          - when: {}
            then: !yolo [unsubscribe, archive]
`), pwSecret)
	e := requireError(t, errs, "integrations[0].platforms.inbox.automations[0].then", "!yolo", "not a list")
	if e.Line != 16 {
		t.Errorf("line = %d", e.Line)
	}
}

func TestYoloOutsideThenWarns(t *testing.T) {
	cfg := mustParse(t, llmsDefault+"chat:\n  llm: !yolo default\n", nil)
	requireWarning(t, cfg, "chat.llm", "!yolo only has a meaning")
}

func TestActionForms(t *testing.T) {
	cases := []struct {
		name string
		then string
		want []config.Action
		err  string
	}{
		{"single string", "archive", []config.Action{{Kind: config.ActionSimple, Name: "archive"}}, ""},
		{"single mapping", "{move_to: Folder}", []config.Action{{Kind: config.ActionDict, Data: map[string]any{"move_to": "Folder"}}}, ""},
		{"empty list", "[]", []config.Action{}, ""},
		{"dict", "- draft_reply: \"Thanks!\"", []config.Action{{Kind: config.ActionDict, Data: map[string]any{"draft_reply": "Thanks!"}}}, ""},
		{"script by name", "- script: research_tos", []config.Action{{Kind: config.ActionScript, Name: "script", Script: &config.ScriptRef{Name: "research_tos"}}}, ""},
		{"script before service", "- {script: a, service: {call: x.y.z}}", []config.Action{{Kind: config.ActionScript, Name: "script", Script: &config.ScriptRef{Name: "a"}}}, ""},
		{"service", "- service:\n    call: gemini.research.web_research\n    inputs: {prompt: \"{{ subject }}\"}\n    on_result: [{type: note}]\n    human_log: hi",
			[]config.Action{{Kind: config.ActionService, Name: "service", Service: &config.ServiceCall{
				Call: "gemini.research.web_research", Inputs: map[string]any{"prompt": "{{ subject }}"},
				OnResult: []map[string]any{{"type": "note"}}, HumanLog: "hi"}}}, ""},
		{"number", "5", nil, "expected an action name"},
		{"number in list", "[archive, 5]", nil, "expected an action name"},
		{"null", "~", nil, "got nothing"},
		{"boolean", "yes", nil, "expected an action name"},
		{"nested list", "[[archive]]", nil, "a list inside then"},
		{"empty mapping", "- {}", nil, "must name an action"},
		{"literal !yolo key", "- \"!yolo\": unsubscribe", nil, "is not an action name"},
		{"script without name", "- script: {inputs: {a: b}}", nil, "required"},
		{"service without call", "- service: {inputs: {a: b}}", nil, "required"},
		{"service not a mapping", "- service: gemini.x.y", nil, "expected a service call"},
		{"on_result not a list", "- service: {call: a.b.c, on_result: note}", nil, "expected a list of result routes"},
		{"empty name", "\"\"", nil, "must not be empty"},
		{"unquoted template", "- draft_reply: {{ subject }}", nil, "put it in quotes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := config.ParseActions([]byte(c.then))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !actionsEqual(got, c.want) {
				t.Errorf("got %#v\nwant %#v", got, c.want)
			}
		})
	}
}

func TestDictActionKeysInFileOrder(t *testing.T) {
	acts, err := config.ParseActions([]byte("- {move_to: Later, draft_reply: hi, archive: true}"))
	if err != nil {
		t.Fatal(err)
	}
	if got := acts[0].Keys(); !reflect.DeepEqual(got, []string{"move_to", "draft_reply", "archive"}) {
		t.Errorf("Keys = %v", got)
	}
	if got := (config.Action{Data: map[string]any{"b": 1, "a": 2}}).Keys(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("Keys without order = %v", got)
	}
}

func TestAutomations(t *testing.T) {
	cfg := mustParse(t, emailDoc(`        automations:
          - when: {}
            then: archive
          - when:
              domain: github.com
              classification.human: ">=0.8"
              is_noreply: yes
              is_reply: No
              is_read: "yes"
              calendar.end: 2026-01-15
              calendar.start: "2026-01-15"
              received: 2026-01-15 10:00:00
              count: 3
              score: 0.5
              tags: [a, on]
              nothing: ~
            then: []
`), pwSecret)
	autos := cfg.Integrations[0].Platforms[0].Automations
	if len(autos) != 2 || len(autos[0].When) != 0 || len(autos[0].Then) != 1 || len(autos[1].Then) != 0 {
		t.Fatalf("automations = %+v", autos)
	}
	want := []config.Condition{
		{Key: "domain", Value: "github.com"},
		{Key: "classification.human", Value: ">=0.8"},
		{Key: "is_noreply", Value: true},
		{Key: "is_reply", Value: false},
		{Key: "is_read", Value: "yes"},
		{Key: "calendar.end", Value: time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)},
		{Key: "calendar.start", Value: "2026-01-15"},
		{Key: "received", Value: time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)},
		{Key: "count", Value: 3},
		{Key: "score", Value: 0.5},
		{Key: "tags", Value: []any{"a", true}},
		{Key: "nothing", Value: nil},
	}
	got := autos[1].When
	if len(got) != len(want) {
		t.Fatalf("conditions = %+v", got)
	}
	for i := range want {
		if got[i].Key != want[i].Key || !reflect.DeepEqual(got[i].Value, want[i].Value) {
			t.Errorf("condition %d = %s: %#v, want %s: %#v", i, got[i].Key, got[i].Value, want[i].Key, want[i].Value)
		}
		if got[i].Pos.Line != 18+i || got[i].Pos.File != "config.yaml" {
			t.Errorf("condition %d pos = %+v", i, got[i].Pos)
		}
	}
}

func TestAutomationErrors(t *testing.T) {
	cases := []struct {
		name, body, key, frag string
		line                  int
	}{
		{"missing when", "          - then: archive\n", "integrations[0].platforms.inbox.automations[0].when", "required", 15},
		{"null when", "          - when:\n            then: archive\n", "integrations[0].platforms.inbox.automations[0].when", "required", 15},
		{"list when", "          - when: [a]\n            then: archive\n", "integrations[0].platforms.inbox.automations[0].when", "expected a mapping of conditions", 15},
		{"missing then", "          - when: {}\n", "integrations[0].platforms.inbox.automations[0].then", "required", 15},
		{"bad third action", "          - when: {}\n            then: archive\n          - when: {}\n            then: archive\n          - when: {}\n            then: [archive, 42]\n",
			"integrations[0].platforms.inbox.automations[2].then[1]", "expected an action name", 20},
		{"not a list", "          {when: {}, then: archive}\n", "integrations[0].platforms.inbox.automations", "expected a list of automations", 15},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := parseErrors(t, emailDoc("        automations:\n"+c.body), pwSecret)
			e := requireError(t, errs, c.key, c.frag)
			if e.Line != c.line {
				t.Errorf("line = %d, want %d (%v)", e.Line, c.line, e)
			}
		})
	}
}

func TestClassifications(t *testing.T) {
	cfg := mustParse(t, emailDoc(`        classifications:
          human: is this a personal email written by a human?
          urgent:
            prompt: is it urgent?
            type: boolean
          priority:
            prompt: what priority?
            type: enum
            values: [low, medium, high, critical]
          plain:
            prompt: confidence by default
            values: null
`), pwSecret)
	got := cfg.Integrations[0].Platforms[0].Classifications
	want := []config.Classification{
		{Name: "human", Prompt: "is this a personal email written by a human?", Type: config.Confidence},
		{Name: "urgent", Prompt: "is it urgent?", Type: config.Boolean},
		{Name: "priority", Prompt: "what priority?", Type: config.Enum, Values: []string{"low", "medium", "high", "critical"}},
		{Name: "plain", Prompt: "confidence by default", Type: config.Confidence},
	}
	for i := range got {
		got[i].Pos = config.Position{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}

func TestClassificationErrors(t *testing.T) {
	const k = "integrations[0].platforms.inbox.classifications."
	cases := []struct{ name, body, key, frag string }{
		{"enum without values", "          p: {prompt: x, type: enum}\n", k + "p.values", "'values' is required when type is 'enum'"},
		{"enum with empty values", "          p: {prompt: x, type: enum, values: []}\n", k + "p.values", "'values' is required when type is 'enum'"},
		{"boolean with values", "          p: {prompt: x, type: boolean, values: [a]}\n", k + "p.values", "'values' is only valid when type is 'enum'"},
		{"confidence with empty values", "          p: {prompt: x, values: []}\n", k + "p.values", "'values' is only valid when type is 'enum'"},
		{"unknown type", "          p: {prompt: x, type: score}\n", k + "p.type", "type must be confidence, boolean or enum"},
		{"missing prompt", "          p: {type: boolean}\n", k + "p.prompt", "required"},
		{"number shorthand", "          p: 5\n", k + "p", "expected a prompt"},
		{"null", "          p:\n", k + "p", "got nothing"},
		{"yes/no enum values", "          p: {prompt: x, type: enum, values: [yes, no]}\n", k + "p.values[0]", "expected text, got the boolean yes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := parseErrors(t, emailDoc("        classifications:\n"+c.body), pwSecret)
			requireError(t, errs, c.key, c.frag)
		})
	}
}

func TestConditionOnUnknownClassificationWarns(t *testing.T) {
	cfg := mustParse(t, emailDoc(`        classifications:
          human: is it human?
        automations:
          - when: {classification.humane: ">0.5"}
            then: archive
`), pwSecret)
	w := requireWarning(t, cfg, "integrations[0].platforms.inbox.automations[0].when.classification.humane", "no classification named 'humane'")
	if w.Line != 17 {
		t.Errorf("line = %d", w.Line)
	}
}

// References from automations to scripts and services (undefined script,
// malformed or unknown service call, unconfigured instance) are judged by
// internal/rules, which also rejects those actions; see TestReferenceValidation in internal/rules.

func TestSecrets(t *testing.T) {
	t.Run("missing key lists names, never values", func(t *testing.T) {
		errs := parseErrors(t, llmsDefault+"gateway:\n  token: !secret nope\n", map[string]string{"b_key": "value-bbbbbb", "a_key": "value-aaaaaa"})
		e := requireError(t, errs, "gateway.token", "Secret 'nope' not found in /etc/steward/secrets.yaml. Available secrets: ['a_key', 'b_key']")
		if e.Line != 6 || strings.Contains(errs.Error(), "value-") {
			t.Errorf("error = %v", e)
		}
	})
	t.Run("on a mapping", func(t *testing.T) {
		errs := parseErrors(t, llmsDefault+"gateway:\n  token: !secret {a: b}\n", nil)
		requireError(t, errs, "gateway.token", "!secret takes the name of a key")
	})
	t.Run("values are strings as written", func(t *testing.T) {
		cfg := mustParse(t, emailDoc("        {}\n"), map[string]string{"pw": "123456"})
		if pw := cfg.Integrations[0].Fields["password"].(config.Secret); pw.Reveal() != "123456" || pw.Key != "pw" {
			t.Errorf("password = %#v", pw)
		}
	})
	t.Run("numeric secret for an integer field", func(t *testing.T) {
		cfg := mustParse(t, strings.Replace(emailDoc("        {}\n"), "    username:", "    imap_port: !secret port\n    username:", 1),
			map[string]string{"pw": "x-secret-x", "port": "1993"})
		if cfg.Integrations[0].Fields["imap_port"] != 1993 {
			t.Errorf("imap_port = %#v", cfg.Integrations[0].Fields["imap_port"])
		}
	})
	t.Run("inline credential warns", func(t *testing.T) {
		cfg := mustParse(t, strings.Replace(emailDoc("        {}\n"), "!secret pw", "plain-text-password", 1), nil)
		w := requireWarning(t, cfg, "integrations[0].password", "inline")
		if strings.Contains(w.Message, "plain-text-password") {
			t.Error("warning leaks the credential")
		}
	})
	t.Run("inline numeric credential is its text and never shown", func(t *testing.T) {
		cfg := mustParse(t, strings.Replace(emailDoc("        {}\n"), "!secret pw", "0123456", 1), nil)
		if pw := cfg.Integrations[0].Fields["password"].(config.Secret); pw.Reveal() != "0123456" {
			t.Errorf("password = %q", pw.Reveal())
		}
		errs := parseErrors(t, strings.Replace(emailDoc("        {}\n"), "!secret pw", "[hunter2]", 1), nil)
		if e := requireError(t, errs, "integrations[0].password", "!secret <name>"); strings.Contains(e.Msg, "hunter2") {
			t.Errorf("message shows the credential: %v", e)
		}
	})
	t.Run("ParseSecrets", func(t *testing.T) {
		got, err := config.ParseSecrets([]byte("a: yes\nb: 0123\nc: 1.50\nd:\ne: |\n  line1\n  line2\n"), "secrets.yaml")
		want := map[string]string{"a": "yes", "b": "0123", "c": "1.50", "d": "", "e": "line1\nline2\n"}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("got %#v, %v", got, err)
		}
		_, err = config.ParseSecrets([]byte("a:\n  nested: supersecretvalue\n"), "secrets.yaml")
		if err == nil || strings.Contains(err.Error(), "supersecretvalue") || !strings.Contains(err.Error(), "secrets.yaml:1: a: a secret must be a single value") {
			t.Errorf("err = %v", err)
		}
		if got, err := config.ParseSecrets(nil, "secrets.yaml"); err != nil || len(got) != 0 {
			t.Errorf("empty: %v %v", got, err)
		}
	})
}

// TestSecretsNeverInMessages puts secret values where they cause every kind of
// error and warning, then checks no message, Masked or Describe output holds one.
func TestSecretsNeverInMessages(t *testing.T) {
	secrets := map[string]string{
		"pw": "SEKRIT-pw-value", "port": "SEKRIT-port", "every": "SEKRIT-every", "cron": "SEKRIT-cron",
		"listen": "SEKRIT-listen", "url": "SEKRIT-url", "model": "SEKRIT-model", "retention": "SEKRIT-ret",
		"per": "SEKRIT-per", "bool": "SEKRIT-bool", "tok": "SEKRIT-token",
	}
	doc := `
llms:
  default:
    model: !secret model
    base_url: !secret url
    token: !secret tok
    concurrency: !secret port
integrations:
  - type: email
    name: personal
    imap_server: imap.example.com
    imap_port: !secret port
    username: !secret pw
    password: !secret pw
    tls_verify: !secret bool
    schedule: {every: !secret every, cron: !secret cron}
    platforms:
      inbox:
        limit: !secret port
        classifications:
          p: {prompt: x, type: !secret pw}
queue_policies:
  retention: !secret retention
  defaults:
    rate_limit: {max: !secret port, per: !secret per}
gateway:
  listen: !secret listen
  token: !secret tok
`
	_, err := parse(t, doc, secrets)
	if err == nil {
		t.Fatal("expected errors")
	}
	msg := err.Error()
	for k, v := range secrets {
		if strings.Contains(msg, v) {
			t.Errorf("secret %s leaked in:\n%s", k, msg)
		}
	}
	var le *config.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error is %T", err)
	}
	if n := len(le.Errors); n < 10 {
		t.Errorf("expected every problem reported, got %d:\n%s", n, msg)
	}

	// A valid config that uses secrets in non-credential places too.
	cfg := mustParse(t, `
llms:
  default:
    model: llama3.1:8b
    token: !secret tok
integrations:
  - type: email
    name: personal
    imap_server: imap.example.com
    username: !secret user
    password: !secret pw
    platforms:
      inbox:
        automations:
          - when: {from_address: !secret user}
            then: [{draft_reply: !secret pw}]
gateway:
  token: !secret tok
`, map[string]string{"tok": "SEKRIT-token", "user": "SEKRIT-user@example.com", "pw": "SEKRIT-pw"})
	masked, err := cfg.Masked()
	if err != nil {
		t.Fatal(err)
	}
	var described strings.Builder
	if err := cfg.Describe(&described); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{string(masked), described.String(), cfg.Gateway.Token.String(), cfg.LLMs[0].Token.String()} {
		if strings.Contains(out, "SEKRIT") {
			t.Errorf("secret in output:\n%s", out)
		}
	}
	if !strings.Contains(string(masked), "password: !secret pw") || !strings.Contains(string(masked), "username: !secret user") {
		t.Errorf("masked output should show the secret keys:\n%s", masked)
	}
}

func TestUnknownTag(t *testing.T) {
	errs := parseErrors(t, llmsDefault+"chat:\n  llm: !env LLM\n", nil)
	requireError(t, errs, "chat.llm", "unknown tag \"!env\" (allowed: !secret, !yolo)")
}

func TestDuplicateKeys(t *testing.T) {
	errs := parseErrors(t, llmsDefault+"chat:\n  llm: default\n  llm: other\n", nil)
	e := requireError(t, errs, "chat.llm", "duplicate key (first written at line 6)")
	if e.Line != 7 {
		t.Errorf("line = %d", e.Line)
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	cfg := mustParse(t, emailDoc(`        automations:
          - &archive_gh
            when: {domain: github.com}
            then: archive
          - <<: *archive_gh
            when: {domain: gitlab.com}
`), pwSecret)
	autos := cfg.Integrations[0].Platforms[0].Automations
	if len(autos) != 2 || autos[1].When[0].Value != "gitlab.com" || autos[1].Then[0].Name != "archive" {
		t.Errorf("automations = %+v", autos)
	}
}

func TestAliasBombIsRefused(t *testing.T) {
	doc := "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g"} {
		doc += n + ": &" + n + " [" + strings.Repeat("*"+prev+",", 9) + "*" + prev + "]\n"
		prev = n
	}
	doc += "chat:\n  system_prompt: hi\nllms:\n  default:\n    model: m\n    parameters: {bomb: *g}\n"
	errs := parseErrors(t, doc, nil)
	requireError(t, errs, "", "expands to more than")
}
