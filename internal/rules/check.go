package rules

import (
	"errors"
	"fmt"
	"strings"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
)

// Report is the outcome of [Check]: every rule of every configured platform with
// its provenance, actions and whether the gate disabled it, plus the warnings and
// errors. Its JSON form is what `steward config check --json` prints.
type Report struct {
	// Platforms lists each configured platform with its classifications in force.
	Platforms []PlatformReport `json:"platforms"`
	// Rules in config order: integration, platform, rule.
	Rules []RuleReport `json:"rules"`
	// Warnings: the loader's warnings from cfg.Warnings first, then the rules'
	// (conditions that never match, rejected actions, disabled rules, every
	// !yolo, undefined scripts, unknown services and instances), each prefixed
	// with file:line when known. Never null.
	Warnings []string `json:"warnings"`
	// Errors are config errors (malformed conditions, invalid classifications);
	// the config must not be used when there is any. Never null.
	Errors []string `json:"errors"`

	compiled []*PlatformRules
}

// PlatformReport describes one configured platform.
type PlatformReport struct {
	// Integration is the composite id ("email.personal").
	Integration string `json:"integration"`
	// Platform is the platform name ("inbox").
	Platform string `json:"platform"`
	// ClassificationsFrom is "config" or "defaults" (the platform's built-in set).
	ClassificationsFrom string `json:"classifications_from"`
	// ClassificationHash is [Hash] of Classifications.
	ClassificationHash string                  `json:"classification_hash"`
	Classifications    []config.Classification `json:"classifications"`
}

// RuleReport describes one rule.
type RuleReport struct {
	// Integration is the composite id ("email.personal").
	Integration string `json:"integration"`
	// Platform is the platform name ("inbox").
	Platform string `json:"platform"`
	// Index is the rule's 1-based position in the platform's automations, the N
	// of "rule #N" in messages.
	Index int `json:"index"`
	// Provenance is rule, llm or hybrid (see [ProvenanceOf]).
	Provenance string `json:"provenance"`
	// Disabled rules never fire: the gate refused them, or a condition is malformed.
	Disabled bool `json:"disabled"`
	// Reason says why the rule is disabled ("" when it is not).
	Reason string `json:"reason"`
	// When lists the conditions as written.
	When []ConditionReport `json:"when"`
	// Actions in then order.
	Actions []ActionReport `json:"actions"`
}

// ConditionReport is one condition as written.
type ConditionReport struct {
	// Key is the condition key ("classification.human", "domain").
	Key string `json:"key"`
	// Value is the condition as decoded from YAML.
	Value any `json:"value"`
}

// ActionReport describes one action of a rule.
type ActionReport struct {
	// Action is its label (see [Label]).
	Action string `json:"action"`
	// Irreversible per the platform's tier, the script's or service's
	// reversible flag; rejected actions count as irreversible.
	Irreversible bool `json:"irreversible"`
	// Yolo is set when the action is tagged !yolo.
	Yolo bool `json:"yolo"`
	// Rejected actions are never produced (see [Assessment]).
	Rejected bool `json:"rejected,omitempty"`
}

// Platform returns the compiled rules of a configured platform, for evaluation.
func (r *Report) Platform(integrationID, platform string) (*PlatformRules, bool) {
	if r == nil {
		return nil, false
	}
	for _, p := range r.compiled {
		if p.integration == integrationID && p.platform == platform {
			return p, true
		}
	}
	return nil, false
}

// Enabled returns the 1-based numbers of the rules of a platform that the gate
// left enabled (nil for a platform that is not configured).
func (r *Report) Enabled(integrationID, platform string) []int {
	p, ok := r.Platform(integrationID, platform)
	if !ok {
		return nil
	}
	var out []int
	for _, rl := range p.rules {
		if !rl.disabled {
			out = append(out, rl.number)
		}
	}
	return out
}

// Check compiles and gates every rule of every configured platform: the
// load-time half of the safety gate. reg supplies each integration type's
// platform declarations (actions and their tiers, deterministic facts, default
// classifications) and services.
//
// A rule whose provenance is llm or hybrid and that holds an irreversible action
// (per the platform's tiers; scripts and services unless declared reversible;
// rejected actions fail closed) not tagged !yolo is disabled with a warning that
// names the integration, platform, rule number and actions. A platform without
// declarations (unknown type or platform) has no deterministic facts and no
// actions. Every !yolo, every rejected action, every undefined script and every
// unknown or malformed service call (including an instance that is not
// configured) gets a warning.
//
// The report is always returned. The error, when not nil, joins the config errors
// (malformed conditions, invalid classifications; also listed in
// Report.Errors); the rules they concern are disabled in the report.
func Check(cfg *config.Config, reg *manifest.Registry) (*Report, error) {
	rep := &Report{Platforms: []PlatformReport{}, Rules: []RuleReport{}, Warnings: []string{}, Errors: []string{}}
	if cfg == nil {
		return rep, nil
	}
	seen := map[string]bool{}
	warn := func(s string) {
		if !seen[s] {
			seen[s] = true
			rep.Warnings = append(rep.Warnings, s)
		}
	}
	for _, w := range cfg.Warnings {
		msg := w.Message
		if w.Key != "" {
			msg = w.Key + ": " + msg
		}
		warn(at(w.Position) + msg)
	}
	var errs []error
	for _, in := range cfg.Integrations {
		var m *manifest.Manifest
		if mm, ok := reg.Get(in.Type); ok {
			m = mm
		}
		for _, pc := range in.Platforms {
			var mp *manifest.Platform
			if m != nil {
				mp, _ = m.Platform(pc.Name)
			}
			p, pe := compilePlatform(cfg, reg, in, pc, mp, warn)
			errs = append(errs, pe...)
			rep.compiled = append(rep.compiled, p)
			from := "config"
			if p.fromDefaults {
				from = "defaults"
			}
			rep.Platforms = append(rep.Platforms, PlatformReport{
				Integration: p.integration, Platform: p.platform,
				ClassificationsFrom: from, ClassificationHash: p.hash,
				Classifications: p.Classifications(),
			})
			for _, r := range p.rules {
				rep.Rules = append(rep.Rules, ruleReport(p, r))
			}
		}
	}
	for _, e := range errs {
		rep.Errors = append(rep.Errors, e.Error())
	}
	if len(errs) > 0 {
		return rep, fmt.Errorf("rules: %d config error(s): %w", len(errs), errors.Join(errs...))
	}
	return rep, nil
}

// compilePlatform compiles and gates one platform's rules.
func compilePlatform(cfg *config.Config, reg *manifest.Registry, in config.Integration, pc config.Platform, mp *manifest.Platform, warn func(string)) (*PlatformRules, []error) {
	id := in.ID()
	where := fmt.Sprintf("integration %q platform %q", id, pc.Name)
	var errs []error
	fail := func(pos config.Position, prefix string, err error) {
		errs = append(errs, fmt.Errorf("%s%s: %w", at(pos), prefix, err))
	}

	cs, fromDefaults := Classifications(pc, mp)
	p := &PlatformRules{integration: id, platform: pc.Name, classifications: cs, fromDefaults: fromDefaults, hash: Hash(cs)}
	if mp == nil {
		warn(fmt.Sprintf("%s%s: the integration type declares no such platform: no fact is deterministic and every action is rejected", at(pc.Pos), where))
	} else {
		p.deterministic = mp.DeterministicKeys
	}
	for _, e := range validateClassifications(cs) {
		fail(pc.Pos, where, e)
	}

	for i, au := range pc.Automations {
		r := &rule{number: i + 1, pos: au.Pos, provenance: ProvenanceOf(au.When, p.deterministic)}
		prefix := fmt.Sprintf("%s rule #%d", where, r.number)
		pos := au.Pos
		var malformed []string
		for _, wc := range au.When {
			c, ws, err := ParseCondition(wc.Key, wc.Value, cs, p.deterministic)
			cpos := wc.Pos
			if cpos.Line == 0 {
				cpos = pos
			}
			for _, w := range ws {
				warn(fmt.Sprintf("%s%s: %s", at(cpos), prefix, w))
			}
			if err != nil {
				fail(cpos, prefix, err)
				malformed = append(malformed, err.Error())
			}
			r.when = append(r.when, c)
		}
		var unsafe []string
		for _, a := range au.Then {
			ra := ruleAction{action: a, Assessment: Assess(a, mp, cfg, reg)}
			r.actions = append(r.actions, ra)
			apos := a.Pos
			if apos.Line == 0 {
				apos = pos
			}
			for _, pr := range ra.Problems {
				warn(fmt.Sprintf("%s%s: %s; the action is never run", at(apos), prefix, pr))
			}
			if ra.Irreversible && r.provenance != ProvenanceRule && !a.Yolo {
				unsafe = append(unsafe, ra.Label)
			}
		}
		switch {
		case len(malformed) > 0:
			r.disabled = true
			r.reason = "malformed condition: " + strings.Join(malformed, "; ")
		case len(unsafe) > 0:
			r.disabled = true
			keys := make([]string, len(au.When))
			for k, wc := range au.When {
				keys[k] = wc.Key
			}
			r.reason = fmt.Sprintf("irreversible actions [%s] with %s provenance (conditions: %s); tag the action !yolo to allow it",
				strings.Join(unsafe, ", "), r.provenance, strings.Join(keys, ", "))
			warn(fmt.Sprintf("%s%s disabled: %s", at(pos), prefix, r.reason))
		}
		for _, ra := range r.actions {
			if !ra.action.Yolo {
				continue
			}
			apos := ra.action.Pos
			if apos.Line == 0 {
				apos = pos
			}
			switch {
			case ra.Rejected:
				warn(fmt.Sprintf("%s%s: action %s is tagged !yolo but is rejected (see the warning above)", at(apos), prefix, ra.Label))
			case ra.Irreversible && r.provenance != ProvenanceRule:
				warn(fmt.Sprintf("%s%s: action %s is tagged !yolo: this irreversible action runs without approval on the LLM's judgement (%s provenance)", at(apos), prefix, ra.Label, r.provenance))
			case ra.Irreversible:
				warn(fmt.Sprintf("%s%s: action %s is tagged !yolo (not needed: the rule's provenance is rule)", at(apos), prefix, ra.Label))
			default:
				warn(fmt.Sprintf("%s%s: action %s is tagged !yolo (not needed: the action is reversible)", at(apos), prefix, ra.Label))
			}
		}
		p.rules = append(p.rules, r)
	}
	return p, errs
}

func ruleReport(p *PlatformRules, r *rule) RuleReport {
	rr := RuleReport{
		Integration: p.integration, Platform: p.platform, Index: r.number,
		Provenance: r.provenance, Disabled: r.disabled, Reason: r.reason,
		When: []ConditionReport{}, Actions: []ActionReport{},
	}
	for _, c := range r.when {
		rr.When = append(rr.When, ConditionReport{Key: c.Key, Value: c.Value})
	}
	for _, a := range r.actions {
		rr.Actions = append(rr.Actions, ActionReport{Action: a.Label, Irreversible: a.Irreversible, Yolo: a.action.Yolo, Rejected: a.Rejected})
	}
	return rr
}

// at renders a position as a message prefix ("config.yaml:12: "), or "" when
// unknown.
func at(p config.Position) string {
	switch {
	case p.Line > 0 && p.File != "":
		return fmt.Sprintf("%s:%d: ", p.File, p.Line)
	case p.Line > 0:
		return fmt.Sprintf("line %d: ", p.Line)
	case p.File != "":
		return p.File + ": "
	}
	return ""
}
