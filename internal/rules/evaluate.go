package rules

import (
	"slices"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/config"
)

// Resolver resolves a deterministic condition key, possibly dotted
// ("authentication.dkim_pass", "calendar.end"), to the item's value. ok is false
// when the item has no such value (MISSING); a present null is (nil, true). Both
// make a condition fail, but they are distinct.
type Resolver interface {
	Resolve(key string) (value any, ok bool)
}

// ResolverFunc adapts a function to [Resolver].
type ResolverFunc func(key string) (any, bool)

// Resolve calls f.
func (f ResolverFunc) Resolve(key string) (any, bool) { return f(key) }

// Facts is a [Resolver] over an item's deterministic facts as stored (decoded
// JSON or YAML). A key resolves to the entry of that exact name if there is one;
// otherwise a dotted key walks nested mappings ("calendar.end" is
// facts["calendar"]["end"]), and is MISSING when a step is absent, null or not a
// mapping (so every calendar.* key is MISSING for a message without calendar
// data).
type Facts map[string]any

// Resolve implements [Resolver].
func (f Facts) Resolve(key string) (any, bool) {
	if v, ok := f[key]; ok {
		return v, true
	}
	parts := strings.Split(key, ".")
	if len(parts) < 2 {
		return nil, false
	}
	cur, ok := f[parts[0]]
	for _, p := range parts[1:] {
		if !ok || cur == nil {
			return nil, false
		}
		m, isMap := asMap(cur)
		if !isMap {
			return nil, false
		}
		cur, ok = m[p]
	}
	return cur, ok
}

// PlannedAction is one action a rule produced for an item, with what the act
// stage needs to decide and record it.
type PlannedAction struct {
	// Action as configured; shared with the config, so treat it as read-only.
	Action config.Action `json:"action"`
	// Label names it (see [Label]).
	Label string `json:"label"`
	// Provenance of the rule that produced it: rule, llm or hybrid. It is that
	// rule's own provenance, never merged with other rules that matched the item.
	Provenance string `json:"provenance"`
	// Rule is the 1-based number of that rule in the platform's automations
	// ("rule #N" in messages).
	Rule int `json:"rule"`
	// Irreversible as the platform, script or service declares it.
	Irreversible bool `json:"irreversible"`
	// Yolo is set when the action was tagged !yolo.
	Yolo bool `json:"yolo"`
}

// rule is one compiled automation.
type rule struct {
	number     int // 1-based
	pos        config.Position
	when       []Condition
	provenance string
	actions    []ruleAction
	disabled   bool
	reason     string
}

// ruleAction is one compiled action of a rule.
type ruleAction struct {
	action config.Action
	Assessment
}

// PlatformRules are the compiled rules of one configured platform of one
// integration, as [Check] left them: disabled rules stay in place (so rule numbers
// match the config) but never fire. It is read-only and safe for concurrent use.
type PlatformRules struct {
	integration     string
	platform        string
	classifications []config.Classification
	fromDefaults    bool
	hash            string
	deterministic   []string
	rules           []*rule
}

// Integration is the composite integration id ("email.personal").
func (p *PlatformRules) Integration() string { return p.integration }

// Platform is the platform name ("inbox").
func (p *PlatformRules) Platform() string { return p.platform }

// Classifications are the classifications in force (configured, or the
// platform's defaults), in order. The result is a copy.
func (p *PlatformRules) Classifications() []config.Classification {
	return slices.Clone(p.classifications)
}

// ClassificationHash is [Hash] of the classifications in force.
func (p *PlatformRules) ClassificationHash() string { return p.hash }

// Evaluate runs the rules on one item: facts resolves its deterministic keys (nil
// resolves nothing), classification is the LLM's answer (nil or empty is fine),
// now is the current time for now() comparisons.
//
// Each enabled rule whose conditions all hold (an empty when always holds)
// contributes its actions in order, each carrying that rule's provenance and
// number. A plain (not !yolo) simple action already produced by an earlier rule is
// not repeated; dict, script and service actions and !yolo actions always are.
// Rejected actions (not declared by the platform, undefined scripts, unknown
// services) are never produced, so the result has at most as many entries as the
// enabled rules have actions, and an irreversible action from an llm or hybrid
// rule appears only when tagged !yolo. Evaluate never panics on any value type.
func (p *PlatformRules) Evaluate(facts Resolver, classification map[string]any, now time.Time) []PlannedAction {
	if p == nil {
		return nil
	}
	var out []PlannedAction
	seen := map[string]bool{}
	for _, r := range p.rules {
		if r.disabled || !r.matches(facts, classification, now) {
			continue
		}
		for _, a := range r.actions {
			if a.Rejected {
				continue
			}
			if a.Irreversible && r.provenance != ProvenanceRule && !a.action.Yolo {
				continue // the gate disables such rules; never rely on that alone
			}
			if a.action.Kind == config.ActionSimple && !a.action.Yolo {
				if seen[a.action.Name] {
					continue
				}
				seen[a.action.Name] = true
			}
			out = append(out, PlannedAction{
				Action:       a.action,
				Label:        a.Label,
				Provenance:   r.provenance,
				Rule:         r.number,
				Irreversible: a.Irreversible,
				Yolo:         a.action.Yolo,
			})
		}
	}
	return out
}

// matches is the AND of the rule's conditions.
func (r *rule) matches(facts Resolver, classification map[string]any, now time.Time) bool {
	for _, c := range r.when {
		if !c.Match(facts, classification, now) {
			return false
		}
	}
	return true
}
