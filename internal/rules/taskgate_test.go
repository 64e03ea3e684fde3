package rules_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/rules"
)

// gateTasks are the script and service tasks of the run-time gate tests, as a
// forger would publish them, with whether each is irreversible.
var gateTasks = []struct {
	run          rules.TaskRun
	irreversible bool
}{
	{rules.TaskRun{Type: "script.run", Script: "research_tos"}, true},
	{rules.TaskRun{Type: "script.run", Script: "tidy"}, false},
	{rules.TaskRun{Type: "script.run", Script: "undefined"}, true},
	{rules.TaskRun{Type: "script.run"}, true},
	{rules.TaskRun{Type: "service.gemini.web_research", Integration: "gemini.default"}, true},
	{rules.TaskRun{Type: "service.gemini.web_research", Integration: "gemini.other"}, true},
	{rules.TaskRun{Type: "service.gemini.web_research"}, true},
	{rules.TaskRun{Type: "service.tools.local_search", Integration: "tools.default"}, false},
	{rules.TaskRun{Type: "service.tools.wipe", Integration: "tools.default"}, true},
	{rules.TaskRun{Type: "service.tools.unknown", Integration: "tools.default"}, true},
	{rules.TaskRun{Type: "service.nosuchtype.x", Integration: "nosuchtype.default"}, true},
}

// yoloConfig tags, in enabled rules: research_tos and gemini.default's
// web_research from an llm rule, tools.default's wipe from a hybrid rule. A
// disabled rule (it also holds an untagged irreversible action) tags
// tools.default's wipe from llm, which must not count.
func yoloConfig() *config.Config {
	llm := when("classification.human", 0.8)
	hybrid := when("domain", "a.com", "classification.human", 0.8)
	return emailConfig(fixtureClassifications(),
		auto(llm, yolo(script("research_tos")), yolo(service("gemini.default.web_research"))),
		auto(hybrid, yolo(service("tools.default.wipe"))),
		auto(llm, yolo(service("tools.default.wipe")), service("gemini.default.web_research")),
	)
}

// yoloFor is what yoloConfig allows beyond rule provenance (a missing or
// unknown provenance counts as llm, as at act time).
func yoloFor(r rules.TaskRun, provenance string) bool {
	if provenance != "hybrid" && provenance != "rule" {
		provenance = "llm"
	}
	switch {
	case r.Type == "script.run" && r.Script == "research_tos":
		return provenance == "llm"
	case r.Type == "service.gemini.web_research" && r.Integration == "gemini.default":
		return provenance == "llm"
	case r.Type == "service.tools.wipe" && r.Integration == "tools.default":
		return provenance == "hybrid"
	}
	return false
}

// TestAllowTaskAtRun runs every task × provenance × !yolo in config. Approval
// is provenance: an approved chat action is published with provenance rule,
// so "approved" below is a task recorded with rule; nothing in a payload can
// claim it.
func TestAllowTaskAtRun(t *testing.T) {
	reg := registry(t)
	withYolo := yoloConfig()
	repYolo := check(t, withYolo)
	if len(repYolo.Rules) != 3 || repYolo.Rules[0].Disabled || repYolo.Rules[1].Disabled || !repYolo.Rules[2].Disabled {
		t.Fatalf("fixture: want rules 1 and 2 enabled, 3 disabled: %+v", repYolo.Rules)
	}
	plain := emailConfig(fixtureClassifications())
	repPlain := check(t, plain)
	for _, tk := range gateTasks {
		for _, prov := range []string{"", "junk", "rule", "llm", "hybrid"} {
			for _, yoloInConfig := range []bool{false, true} {
				cfg, rep := plain, repPlain
				if yoloInConfig {
					cfg, rep = withYolo, repYolo
				}
				run := tk.run
				run.Provenance = prov
				name := fmt.Sprintf("%s/%s/provenance %q/yolo %v", run.Type, run.Label(), prov, yoloInConfig)
				want := !tk.irreversible || prov == "rule" || yoloInConfig && yoloFor(run, prov)
				if irr := rules.TaskIrreversible(run, cfg, reg); irr != tk.irreversible {
					t.Errorf("%s: TaskIrreversible = %v", name, irr)
				}
				err := rules.AllowTaskAtRun(run, cfg, reg, rep)
				if (err == nil) != want {
					t.Errorf("%s: AllowTaskAtRun = %v, want allowed %v", name, err, want)
				}
				if err != nil && (!errors.Is(err, rules.ErrBlocked) || !strings.Contains(err.Error(), run.Label())) {
					t.Errorf("%s: error %q does not wrap ErrBlocked or name %s", name, err, run.Label())
				}
			}
		}
	}
	// Without config, registry or report everything is irreversible and only
	// rule provenance runs.
	for _, tk := range gateTasks {
		for _, prov := range []string{"", "llm", "hybrid", "rule"} {
			run := tk.run
			run.Provenance = prov
			if err := rules.AllowTaskAtRun(run, nil, nil, nil); (err == nil) != (prov == "rule") {
				t.Errorf("%s without config, provenance %q: %v", run.Label(), prov, err)
			}
		}
	}
}

func TestIsGatedTask(t *testing.T) {
	for typ, want := range map[string]bool{
		"script.run": true, "service.notes.save_note": true, "service.gemini.web_research": true,
		"email.inbox.act": false, "chat.message": false, "script.runs": false, "services.x.y": false, "": false,
	} {
		if got := rules.IsGatedTask(typ); got != want {
			t.Errorf("IsGatedTask(%q) = %v", typ, got)
		}
	}
}

// TestAllowTaskAtRunProperty: over generated configs of rules calling scripts
// and services (tagged !yolo or not, any provenance) and generated tasks,
// a reversible task and a rule-provenance task always run, and an
// irreversible task from any other provenance runs only when the load-time
// report shows an enabled rule of that provenance calling exactly it tagged
// !yolo.
func TestAllowTaskAtRunProperty(t *testing.T) {
	reg := registry(t)
	calls := []config.Action{
		script("research_tos"), script("tidy"), script("undefined"),
		service("gemini.default.web_research"), service("gemini.other.web_research"),
		service("tools.default.local_search"), service("tools.default.wipe"),
	}
	whens := [][]config.Condition{
		when("domain", "a.com"), when("classification.human", 0.8), when("domain", "a.com", "classification.human", 0.8),
	}
	rapid.Check(t, func(t *rapid.T) {
		var autos []config.Automation
		for i := rapid.IntRange(0, 4).Draw(t, "rules"); i > 0; i-- {
			var then []config.Action
			for j := rapid.IntRange(1, 3).Draw(t, "actions"); j > 0; j-- {
				a := rapid.SampledFrom(calls).Draw(t, "action")
				if rapid.Bool().Draw(t, "yolo") {
					a = yolo(a)
				}
				then = append(then, a)
			}
			autos = append(autos, auto(rapid.SampledFrom(whens).Draw(t, "when"), then...))
		}
		cfg := emailConfig(fixtureClassifications(), autos...)
		rep, err := rules.Check(cfg, reg)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		run := rapid.SampledFrom(gateTasks).Draw(t, "task").run
		run.Provenance = rapid.SampledFrom([]string{"", "junk", "rule", "llm", "hybrid"}).Draw(t, "provenance")
		err = rules.AllowTaskAtRun(run, cfg, reg, rep)
		irreversible := rules.TaskIrreversible(run, cfg, reg)
		if !irreversible || run.Provenance == "rule" {
			if err != nil {
				t.Fatalf("%s (irreversible %v) from %q blocked: %v", run.Label(), irreversible, run.Provenance, err)
			}
			return
		}
		prov := run.Provenance
		if prov != "hybrid" {
			prov = "llm"
		}
		tagged := false
		for _, rr := range rep.Rules {
			for _, a := range rr.Actions {
				if !rr.Disabled && rr.Provenance == prov && a.Yolo && !a.Rejected && a.Action == run.Label() {
					tagged = true
				}
			}
		}
		if (err == nil) != tagged {
			t.Fatalf("%s from %q: allowed %v, but an enabled !yolo rule of that provenance calling it: %v (err %v)",
				run.Label(), run.Provenance, err == nil, tagged, err)
		}
	})
}
