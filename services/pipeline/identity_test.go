package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/rules"
	"pgregory.net/rapid"
)

// identityConfig has two rules that both decide publish (irreversible) for an
// item by robot that the LLM calls spam: one on a deterministic fact, one from
// the LLM tagged !yolo; and two rules deciding different stars (different
// configuration: two actions).
const identityConfig = `llms:
  default:
    base_url: %s
    model: fake-model
integrations:
  - type: notes
    name: mine
    platforms:
      feed:
        classifications:
          urgent: is this urgent?
          spam:
            prompt: is this spam?
            type: boolean
        automations:
          - when: {author: robot}
            then: publish
          - when: {classification.spam: true}
            then: [!yolo publish]
`

// newIdentityEngine is a harness whose engine is called directly (no lanes):
// each act runs to completion before the test looks.
func newIdentityEngine(t testing.TB, cfgText string) *harness {
	t.Helper()
	h := newHarness(t, 1)
	h.setConfig(fmt.Sprintf(cfgText, h.fake.URL()))
	return h
}

// putItem stores an item with facts and a classification.
func (h *harness) putItem(key string, facts, classification map[string]any) {
	h.t.Helper()
	if _, err := h.engine.env().UpdateItem(context.Background(), "notes.mine", "feed", key, func(it *items.Item, _ bool) error {
		it.Title, it.Facts, it.Classification = "note "+key, facts, classification
		return nil
	}); err != nil {
		h.t.Fatal(err)
	}
}

// planned returns what the rules decide for an item now, as an act payload.
func (h *harness) planned(key string) []plannedAction {
	h.t.Helper()
	r, err := h.engine.resolve(context.Background(), itemRef{Integration: "notes.mine", Platform: "feed", Key: key})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []plannedAction
	for _, pa := range r.rules.Evaluate(rulesFacts(r), r.item.Classification, h.engine.o.Now()) {
		out = append(out, plannedAction{Label: pa.Label, Rule: pa.Rule, Provenance: pa.Provenance, Yolo: pa.Yolo, Action: pa.Action})
	}
	return out
}

// runAct runs one act task for an item with the given actions.
func (h *harness) runAct(id, key string, acts []plannedAction) error {
	b, err := json.Marshal(map[string]any{"integration": "notes.mine", "platform": "feed", "key": key, "actions": acts})
	if err != nil {
		h.t.Fatal(err)
	}
	_, err = h.engine.act(context.Background(), &msg.Task{ID: id, Type: "notes.feed.act", Payload: b, Attempt: 1, MaxAttempts: 3})
	return err
}

// ledgerEntries returns the ledger entries of an item by action label.
func (h *harness) ledgerEntries(key string) map[string]int {
	h.t.Helper()
	ctx := context.Background()
	keys, err := h.bus.Ledger().Keys(ctx, "")
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]int{}
	for _, k := range keys {
		var e LedgerEntry
		if _, err := h.bus.Ledger().Get(ctx, k, &e); err == nil && e.Item == items.StoreKey("notes.mine", "feed", key) {
			out[e.Action]++
		}
	}
	return out
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// Issue 11 item 5: two rules deciding the same irreversible action for one
// item, one plain and one tagged !yolo, perform it once, with one ledger
// entry (the !yolo tag is not part of the action's identity).
func TestSameActionFromTwoRulesOnce(t *testing.T) {
	h := newIdentityEngine(t, identityConfig)
	h.putItem("r", map[string]any{"author": "robot"}, map[string]any{"urgent": 0.1, "spam": true})
	acts := h.planned("r")
	if len(acts) != 2 || acts[0].Label != "publish" || acts[1].Label != "publish" || !acts[1].Yolo {
		t.Fatalf("planned %+v; want publish from both rules", acts)
	}
	if err := h.runAct("t1", "r", acts); err != nil {
		t.Fatal(err)
	}
	// A second act task (the next check cycle) repeats nothing either.
	if err := h.runAct("t2", "r", acts); err != nil {
		t.Fatal(err)
	}
	if got := h.impl.actions(); !slices.Equal(got, []string{"r:publish"}) {
		t.Fatalf("performed %v; want one publish", got)
	}
	if got := h.ledgerEntries("r"); got["publish"] != 1 {
		t.Fatalf("ledger entries %v; want one for publish", got)
	}
	// The identity: label and configuration, not the rule nor !yolo.
	plain, _ := LedgerKeys("notes.mine", "feed", "r", "publish", acts[0].Action)
	yolo, _ := LedgerKeys("notes.mine", "feed", "r", "publish", acts[1].Action)
	dict, _ := LedgerKeys("notes.mine", "feed", "r", "publish", config.Action{Kind: config.ActionDict, Data: map[string]any{"publish": true}})
	if plain != yolo || plain != dict {
		t.Errorf("ledger keys differ: %q, %q, %q", plain, yolo, dict)
	}
	a1, _ := LedgerKeys("notes.mine", "feed", "r", "draft", config.Action{Kind: config.ActionDict, Data: map[string]any{"draft": "Yes"}})
	a2, _ := LedgerKeys("notes.mine", "feed", "r", "draft", config.Action{Kind: config.ActionDict, Data: map[string]any{"draft": "No"}})
	s1, _ := LedgerKeys("notes.mine", "feed", "r", "script:x", config.Action{Kind: config.ActionScript, Name: "script", Script: &config.ScriptRef{Name: "x", Inputs: map[string]any{"a": 1}}})
	s2, _ := LedgerKeys("notes.mine", "feed", "r", "script:x", config.Action{Kind: config.ActionScript, Name: "script", Script: &config.ScriptRef{Name: "x", Inputs: map[string]any{"a": 2}}, Yolo: true})
	s3, _ := LedgerKeys("notes.mine", "feed", "r", "script:x", config.Action{Kind: config.ActionScript, Name: "script", Script: &config.ScriptRef{Name: "x", Inputs: map[string]any{"a": 2}}})
	if a1 == a2 || s1 == s2 || s2 != s3 {
		t.Errorf("different configurations must differ and !yolo must not: %q %q / %q %q %q", a1, a2, s1, s2, s3)
	}
}

// Upgrade: an action done before the upgrade by a !yolo rule (its entry under
// the identity with the tag) is not repeated by a plain rule after it, nor
// the other way round, nor from a 32-bit entry with the tag.
func TestLedgerEntryWithYoloIdentityHonoured(t *testing.T) {
	h := newIdentityEngine(t, identityConfig)
	ctx := context.Background()
	acts := func(key string) []plannedAction {
		h.putItem(key, map[string]any{"author": "robot"}, map[string]any{"urgent": 0.1, "spam": true})
		return h.planned(key)
	}
	type stored struct {
		name string
		key  func(item string, a config.Action) string
	}
	for _, tc := range []stored{
		{"64-bit with !yolo", func(item string, a config.Action) string {
			a.Yolo = true
			return items.StoreKey("notes.mine", "feed", item) + "." + items.KeyToken(legacyIdentity("publish", a))
		}},
		{"32-bit with !yolo", func(item string, a config.Action) string {
			a.Yolo = true
			_, legacy := LedgerKeys("notes.mine", "feed", item, "publish", a)
			return legacy
		}},
		{"32-bit plain", func(item string, a config.Action) string {
			_, legacy := LedgerKeys("notes.mine", "feed", item, "publish", a)
			return legacy
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			item := strings.ReplaceAll(tc.name, " ", "-")
			list := acts(item)
			old := tc.key(item, list[0].Action)
			if cur, _ := LedgerKeys("notes.mine", "feed", item, "publish", list[0].Action); cur == old {
				t.Fatalf("the legacy key is today's key %q: the test would prove nothing", old)
			}
			if _, err := h.bus.Ledger().Put(ctx, old, LedgerEntry{Item: items.StoreKey("notes.mine", "feed", item), Action: "publish",
				Rule: 2, Provenance: rules.ProvenanceLLM, State: LedgerDone, Task: "before-upgrade"}); err != nil {
				t.Fatal(err)
			}
			// The plain rule alone, then both rules.
			if err := h.runAct("a-"+item, item, list[:1]); err != nil {
				t.Fatal(err)
			}
			if err := h.runAct("b-"+item, item, list); err != nil {
				t.Fatal(err)
			}
			if n := countOf(h.impl.actions(), item+":publish"); n != 0 {
				t.Fatalf("published %d times over an entry from before the upgrade", n)
			}
		})
	}
}

// Property: for any set of rules deciding an at-most-once action on an item
// (plain, !yolo, from rule, llm or hybrid rules, as a name or as
// {name: true}, alone or with other actions), whatever order and however
// many act tasks run — one after the other or at the same time — the side
// effect happens at most once, and exactly once when some rule allowed to
// decide it matched; one ledger entry per action identity.
func TestPropertyOneSideEffectPerIdentity(t *testing.T) {
	h := newHarness(t, 1)
	conds := []string{"{author: robot}", "{classification.spam: true}", "{author: robot, classification.spam: true}", "{}",
		"{author: nobody}", "{classification.urgent: \">=0.5\"}"}
	thens := []string{"publish", "[!yolo publish]", "{publish: true}", "[tag, publish]", "[star]", "[!yolo star]", "[tag, !yolo publish]", "tag"}
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		item := fmt.Sprintf("p%d", n)
		k := rapid.IntRange(1, 6).Draw(rt, "rules")
		var b strings.Builder
		fmt.Fprintf(&b, identityConfig[:strings.Index(identityConfig, "        automations:")], h.fake.URL())
		b.WriteString("        automations:\n")
		for i := 0; i < k; i++ {
			fmt.Fprintf(&b, "          - when: %s\n            then: %s\n",
				rapid.SampledFrom(conds).Draw(rt, "when"), rapid.SampledFrom(thens).Draw(rt, "then"))
		}
		h.setConfig(b.String())
		h.putItem(item, map[string]any{"author": "robot"},
			map[string]any{"urgent": rapid.Float64Range(0, 1).Draw(rt, "urgent"), "spam": rapid.Bool().Draw(rt, "spam")})
		acts := h.planned(item)
		if rapid.Bool().Draw(rt, "shuffle") {
			slices.Reverse(acts)
		}
		want := map[string]bool{}
		for _, a := range acts {
			want[a.Label] = true
		}
		tasks := rapid.IntRange(1, 3).Draw(rt, "tasks")
		concurrent := rapid.Bool().Draw(rt, "concurrent")
		var failed atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < tasks; i++ {
			run := func() {
				if err := h.runAct(fmt.Sprintf("%s-t%d", item, i), item, acts); err != nil {
					failed.Add(1)
				}
			}
			if concurrent {
				wg.Add(1)
				go func() { defer wg.Done(); run() }()
			} else {
				run()
			}
		}
		wg.Wait()
		if failed.Load() > 0 {
			rt.Fatalf("%d act tasks failed", failed.Load())
		}
		performed := h.impl.actions()
		ledger := h.ledgerEntries(item)
		for _, name := range []string{"publish", "star"} {
			got := countOf(performed, item+":"+name)
			if got > 1 || ledger[name] > 1 {
				rt.Fatalf("%s performed %d times, %d ledger entries; planned %+v", name, got, ledger[name], acts)
			}
			if want[name] != (got == 1) {
				rt.Fatalf("%s performed %d times, decided %v; planned %+v", name, got, want[name], acts)
			}
		}
	})
}
