package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stewardhq/steward/internal/manifest"
)

func (p *parser) integrations(n *yaml.Node, cfg *Config) {
	if p.isNull(n) {
		return
	}
	d := deref(n)
	if d.Kind != yaml.SequenceNode {
		p.errAt(d, "integrations", "expected a list of integrations (- type: email\\n  name: personal ...), got %s", p.describe(d))
		return
	}
	firstLine := map[string]int{}
	for i, c := range d.Content {
		if !p.spend(c) {
			return
		}
		in, ok := p.integration(c, indexKey("integrations", i), cfg)
		if !ok {
			continue
		}
		id := in.ID()
		if line, dup := firstLine[id]; dup {
			p.errAt(c, indexKey("integrations", i)+".name",
				"Duplicate integration: '%s'. Each %s.name must be unique. (first defined at line %d)", id, in.Type, line)
			continue
		}
		firstLine[id] = in.Pos.Line
		cfg.Integrations = append(cfg.Integrations, in)
	}
}

func (p *parser) integration(n *yaml.Node, key string, cfg *Config) (Integration, bool) {
	o, ok := p.object(n, key, "an integration mapping (type:, name:, ...)")
	if !ok {
		return Integration{}, false
	}
	if o.node == nil || o.node.Kind != yaml.MappingNode {
		p.errAt(deref(n), key, "expected an integration mapping (type:, name:, ...), got nothing")
		return Integration{}, false
	}
	types := p.reg.Types()
	knownTypes := "none: no integration types are registered"
	if len(types) > 0 {
		knownTypes = strings.Join(types, ", ")
	}
	typ, ok := p.text(o.get("type"), o.key("type"))
	if !ok {
		if p.isNull(o.get("type")) {
			p.errAt(o.keyNode("type"), o.key("type"), "required: the integration type (known types: %s)", knownTypes)
		}
		return Integration{}, false
	}
	m, found := p.reg.Get(typ)
	if !found {
		p.errAt(deref(o.get("type")), o.key("type"), "unknown integration type %s (known types: %s)", p.describe(o.get("type")), knownTypes)
		return Integration{}, false
	}

	in := Integration{Type: typ, LLM: DefaultLLMProfile, Fields: map[string]any{}, Pos: p.pos(o.node)}
	good := true
	if name, ok := p.text(o.get("name"), o.key("name")); ok && name != "" {
		if !namePattern.MatchString(name) {
			p.errAt(deref(o.get("name")), o.key("name"), "%s: names may only contain letters, digits, '_' and '-' (the id %s.<name> becomes part of NATS keys and note paths)", p.describe(o.get("name")), typ)
			good = false
		}
		in.Name = name
	} else {
		if ok || p.isNull(o.get("name")) {
			p.errAt(o.keyNode("name"), o.key("name"), "required: a name for this %s integration (its id is %s.<name>)", typ, typ)
		}
		good = false
	}
	if s, ok := p.text(o.get("llm"), o.key("llm")); ok {
		in.LLM = s
	}
	in.Schedule = p.schedule(o.get("schedule"), o.key("schedule"))

	allowed := append([]string(nil), integrationKeys...)
	if len(m.Platforms) > 0 {
		allowed = append(allowed, "platforms")
	}
	for _, f := range m.Fields {
		allowed = append(allowed, f.Name)
	}
	o.unknown(allowed, func(k string) string {
		switch {
		case (k == "classifications" || k == "automations") && len(m.Platforms) > 0:
			return fmt.Sprintf("%s belong in a platform block: platforms.<%s>.%s", k, strings.Join(m.PlatformNames(), "|"), k)
		case k == "platforms" || k == "classifications" || k == "automations":
			return fmt.Sprintf("%s integrations have no platforms", typ)
		}
		if _, isPlatform := m.Platform(k); isPlatform {
			return fmt.Sprintf("platform blocks go under platforms: (platforms: {%s: {...}})", k)
		}
		return ""
	})

	for _, f := range m.Fields {
		if v, ok := p.field(f, o, typ+" integrations", m.Fields); ok {
			in.Fields[f.Name] = v
		}
	}

	if len(m.Platforms) > 0 && !p.isNull(o.get("platforms")) {
		in.HasPlatforms = true
		p.platforms(o.get("platforms"), o.key("platforms"), m, &in)
	}

	if len(in.Platforms) > 0 {
		if _, found := cfg.LLM(in.LLM); !found && len(cfg.LLMs) > 0 {
			n := o.get("llm")
			if n == nil {
				n = o.node
			}
			p.errAt(deref(n), o.key("llm"), "LLM profile '%s' not found in llms. Available: %s", in.LLM, pyList(profileNames(cfg)))
		}
	}
	if in.Schedule != nil && len(in.Platforms) == 0 {
		what := "has no enabled platform"
		if len(m.Platforms) == 0 {
			what = "has no platforms"
		}
		p.warnAt(deref(o.get("schedule")), o.key("schedule"), "the schedule has no effect: %s.%s %s to check", typ, in.Name, what)
	}
	return in, good
}

// field reads one manifest-declared field from o, applying its default and
// required rule and its type (lax: numeric text for numbers, yes/no for booleans).
func (p *parser) field(f manifest.Field, o *obj, owner string, all []manifest.Field) (any, bool) {
	n := o.get(f.Name)
	key := o.key(f.Name)
	if p.isNull(n) {
		if f.Default != nil {
			return copyDefault(f.Default), true
		}
		if f.Required {
			what := f.Description
			if what == "" {
				what = string(f.Type)
			}
			msg := fmt.Sprintf("required: %s (%s need: %s)", what, owner, strings.Join(requiredFields(all), ", "))
			if typo, found := o.misspelling(f.Name, func(k string) bool { return isKnownKey(k, all) }); found {
				msg += fmt.Sprintf("; %s (line %d) looks like a misspelling of %s", quoteShort(typo.key), typo.k.Line, f.Name)
			}
			p.errAt(o.keyNode(f.Name), key, "%s", msg)
		}
		return nil, false
	}
	switch f.Type {
	case manifest.TypeInteger:
		return p.integer(n, key)
	case manifest.TypeNumber:
		return p.number(n, key)
	case manifest.TypeBoolean:
		return p.boolean(n, key)
	case manifest.TypeList:
		return p.list(n, key, f.Items)
	}
	if f.Secret {
		s, ok := p.credential(n, key)
		if !ok {
			return nil, false
		}
		return p.secret(n, key, s), true
	}
	s, ok := p.text(n, key)
	if ok && f.Check != nil {
		if err := f.Check(s); err != nil {
			p.errAt(deref(n), key, "%v", err)
			return nil, false
		}
	}
	return s, ok
}

// isKnownKey reports whether k is a key an integration entry or a platform
// block may hold: a manifest field or one of the common keys.
func isKnownKey(k string, fields []manifest.Field) bool {
	if contains(integrationKeys, k) || k == "platforms" || k == "classifications" || k == "automations" {
		return true
	}
	for _, f := range fields {
		if f.Name == k {
			return true
		}
	}
	return false
}

// requiredFields lists the names of the required fields.
func requiredFields(fields []manifest.Field) []string {
	var out []string
	for _, f := range fields {
		if f.Required {
			out = append(out, f.Name)
		}
	}
	return out
}

func copyDefault(v any) any {
	switch x := v.(type) {
	case []any:
		return append([]any(nil), x...)
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	}
	return v
}

// list reads a list field; items says the element type ("" = anything).
func (p *parser) list(n *yaml.Node, key string, items manifest.FieldType) ([]any, bool) {
	d := deref(n)
	if d.Kind != yaml.SequenceNode {
		hint := ""
		if d.Kind == yaml.ScalarNode {
			hint = "; for one item write it as a list: [item]"
		}
		p.errAt(d, key, "expected a list, got %s%s", p.describe(d), hint)
		return nil, false
	}
	out := make([]any, 0, len(d.Content))
	ok := true
	for i, c := range d.Content {
		if !p.spend(c) {
			return out, false
		}
		ik := indexKey(key, i)
		var v any
		good := true
		switch items {
		case manifest.TypeString:
			if p.isNull(c) {
				p.errAt(c, ik, "expected text, got nothing (null)")
				good = false
			} else {
				v, good = p.text(c, ik)
			}
		case manifest.TypeInteger:
			v, good = p.integer(c, ik)
		case manifest.TypeNumber:
			v, good = p.number(c, ik)
		case manifest.TypeBoolean:
			v, good = p.boolean(c, ik)
		default:
			v = p.value(c, ik)
		}
		ok = ok && good
		out = append(out, v)
	}
	return out, ok
}

func (p *parser) schedule(n *yaml.Node, key string) *Schedule {
	if p.isNull(n) {
		return nil
	}
	o, ok := p.object(n, key, `a schedule {every: 15m} or {cron: "*/15 * * * *"}`)
	if !ok {
		return nil
	}
	o.unknown(scheduleKeys, nil)
	s := &Schedule{Pos: p.pos(o.node)}
	var fromEvery string
	if en := deref(o.get("every")); en != nil && en.Kind == yaml.ScalarNode && isPlain(en) && en.Tag == "!!int" && strings.Trim(en.Value, "0123456789") == "" {
		// every: 15 — a number: the unit is missing (the reference asked for text).
		p.errAt(en, o.key("every"), "%s", missingUnit(en.Value))
	} else if v, ok := p.text(o.get("every"), o.key("every")); ok && strings.TrimSpace(v) != "" {
		s.Every = v
		expr, err := IntervalToCron(v)
		if err != nil {
			msg := err.Error()
			if sk, secret := p.secretNodes[deref(o.get("every"))]; secret {
				msg = "the value of !secret " + sk + " is not an interval (expected e.g. '30m', '2h', '1d')"
			}
			p.errAt(deref(o.get("every")), o.key("every"), "%s", msg)
		}
		fromEvery = expr
	}
	if v, ok := p.text(o.get("cron"), o.key("cron")); ok && strings.TrimSpace(v) != "" {
		s.Cron = v
		expr := strings.TrimSpace(v)
		if _, err := ParseSchedule(expr); err != nil {
			msg := err.Error()
			if _, secret := p.secretNodes[deref(o.get("cron"))]; secret {
				msg = "the value from !secret is not a cron expression"
			}
			p.errAt(deref(o.get("cron")), o.key("cron"), "invalid cron expression: %s (expected 5 fields: minute hour day-of-month month day-of-week, e.g. \"*/15 * * * *\")", msg)
		}
		s.Expr = expr
		if s.Every != "" {
			p.warnAt(deref(o.get("every")), o.key("every"), "both every and cron are set: cron wins and every is ignored")
		}
	} else {
		s.Expr = fromEvery
	}
	if s.Every == "" && s.Cron == "" {
		return nil
	}
	return s
}

func (p *parser) platforms(n *yaml.Node, key string, m *manifest.Manifest, in *Integration) {
	o, ok := p.object(n, key, fmt.Sprintf("a mapping of platforms (%s: {...})", strings.Join(m.PlatformNames(), ": {...}, ")))
	if !ok {
		return
	}
	names := m.PlatformNames()
	for _, pr := range o.pairs {
		if _, known := m.Platform(pr.key); !known {
			msg := fmt.Sprintf("unknown platform %s (%s integrations have: %s)", quoteShort(pr.key), m.Type, strings.Join(names, ", "))
			if c := closest(pr.key, names); c != "" {
				msg += "; did you mean " + c + "?"
			}
			p.errAt(pr.k, o.key(pr.key), "%s", msg)
		}
	}
	for i := range m.Platforms {
		mp := &m.Platforms[i]
		if !o.has(mp.Name) || p.isNull(o.get(mp.Name)) {
			continue // absent or null: disabled
		}
		if pl, ok := p.platform(o, mp, m); ok {
			in.Platforms = append(in.Platforms, pl)
		}
	}
}

func (p *parser) platform(parent *obj, mp *manifest.Platform, m *manifest.Manifest) (Platform, bool) {
	key := parent.key(mp.Name)
	o, ok := p.object(parent.get(mp.Name), key, "a platform block (classifications:, automations:, ...; {} enables it with defaults)")
	if !ok {
		return Platform{}, false
	}
	allowed := []string{"classifications", "automations"}
	for _, f := range mp.Fields {
		allowed = append(allowed, f.Name)
	}
	o.unknown(allowed, func(k string) string {
		if _, isPlatform := m.Platform(k); isPlatform {
			return "platform blocks are siblings under platforms:, not nested"
		}
		return ""
	})
	pl := Platform{Name: mp.Name, Fields: map[string]any{}, Pos: p.pos(parent.keyNode(mp.Name))}
	for _, f := range mp.Fields {
		if v, ok := p.field(f, o, m.Type+"."+mp.Name+" platforms", mp.Fields); ok {
			pl.Fields[f.Name] = v
		}
	}
	pl.Classifications = p.classifications(o.get("classifications"), o.key("classifications"))
	pl.Automations = p.automations(o.get("automations"), o.key("automations"))

	// A condition on a classification this platform does not produce never matches;
	// the reference stays silent about it.
	var known []string
	for _, c := range pl.Classifications {
		known = append(known, c.Name)
	}
	if len(known) == 0 {
		for _, c := range mp.DefaultClassifications {
			known = append(known, c.Name)
		}
	}
	if len(known) > 0 {
		for ai, a := range pl.Automations {
			for _, c := range a.When {
				rest, isCls := strings.CutPrefix(c.Key, "classification.")
				if !isCls {
					continue
				}
				name, _, _ := strings.Cut(rest, ".")
				if !contains(known, name) {
					p.warnings = append(p.warnings, Warning{Position: c.Pos,
						Key:     fmt.Sprintf("%s.when.%s", indexKey(o.key("automations"), ai), c.Key),
						Message: fmt.Sprintf("no classification named '%s' on this platform (it has: %s): this automation never fires", name, strings.Join(known, ", "))})
				}
			}
		}
	}
	return pl, true
}

func (p *parser) classifications(n *yaml.Node, key string) []Classification {
	o, ok := p.object(n, key, "a mapping of classification names to prompts (human: \"Is this from a person?\")")
	if !ok {
		return nil
	}
	var out []Classification
	for _, pr := range o.pairs {
		ck := o.key(pr.key)
		if strings.TrimSpace(pr.key) == "" {
			p.errAt(pr.k, ck, "a classification needs a name")
			continue
		}
		c := Classification{Name: pr.key, Type: Confidence, Pos: p.pos(pr.k)}
		d := deref(pr.v)
		switch {
		case p.isNull(d):
			p.errAt(pr.k, ck, "expected a prompt (text) or a mapping {prompt:, type:, values:}, got nothing")
			continue
		case d.Kind == yaml.ScalarNode:
			v, err := p.scalar(d)
			s, isText := p.asText(d, v)
			if err != nil || !isText {
				p.errAt(d, ck, "expected a prompt (text) or a mapping {prompt:, type:, values:}, got %s", p.describe(d))
				continue
			}
			c.Prompt = s
		case d.Kind == yaml.MappingNode:
			co, _ := p.object(d, ck, "")
			co.unknown(classifyKeys, nil)
			if s, ok := p.text(co.get("prompt"), co.key("prompt")); ok && strings.TrimSpace(s) != "" {
				c.Prompt = s
			} else if ok || p.isNull(co.get("prompt")) {
				p.errAt(co.keyNode("prompt"), co.key("prompt"), "required: the question the LLM answers about each item")
			}
			if t, ok := p.text(co.get("type"), co.key("type")); ok {
				switch ClassificationType(t) {
				case Confidence, Boolean, Enum:
					c.Type = ClassificationType(t)
				default:
					p.errAt(deref(co.get("type")), co.key("type"), "type must be confidence, boolean or enum, got %s", p.describe(co.get("type")))
					continue
				}
			}
			vn := co.get("values")
			hasValues := !p.isNull(vn)
			if hasValues {
				vals, ok := p.texts(vn, co.key("values"))
				if !ok {
					continue
				}
				c.Values = vals
			}
			switch {
			case c.Type == Enum && len(c.Values) == 0:
				p.errAt(co.keyNode("values"), co.key("values"), "'values' is required when type is 'enum'")
			case c.Type != Enum && hasValues:
				p.errAt(co.keyNode("values"), co.key("values"), "'values' is only valid when type is 'enum'")
			}
		default:
			p.errAt(d, ck, "expected a prompt (text) or a mapping {prompt:, type:, values:}, got %s", p.describe(d))
			continue
		}
		out = append(out, c)
	}
	return out
}

func (p *parser) automations(n *yaml.Node, key string) []Automation {
	if p.isNull(n) {
		return nil
	}
	d := deref(n)
	if d.Kind != yaml.SequenceNode {
		p.errAt(d, key, "expected a list of automations (- when: {...}\\n  then: archive), got %s", p.describe(d))
		return nil
	}
	var out []Automation
	for i, c := range d.Content {
		if !p.spend(c) {
			return out
		}
		ak := indexKey(key, i)
		o, ok := p.object(c, ak, "an automation mapping {when:, then:}")
		if !ok {
			continue
		}
		if o.node == nil || o.node.Kind != yaml.MappingNode {
			p.errAt(deref(c), ak, "expected an automation mapping {when:, then:}, got nothing")
			continue
		}
		o.unknown(automationKeys, nil)
		a := Automation{When: []Condition{}, Then: []Action{}, Pos: p.pos(o.node)}
		wn := o.get("when")
		switch wd := deref(wn); {
		case !o.has("when") || p.isNull(wn):
			p.errAt(o.keyNode("when"), o.key("when"), "required: a mapping of conditions (when: {} matches every item)")
		case wd.Kind != yaml.MappingNode:
			p.errAt(wd, o.key("when"), "expected a mapping of conditions (domain: github.com), got %s", p.describe(wd))
		default:
			for _, pr := range p.pairs(wd, o.key("when")) {
				a.When = append(a.When, Condition{
					Key:   pr.key,
					Value: p.value(pr.v, joinKey(o.key("when"), pr.key)),
					Pos:   p.pos(pr.k),
				})
			}
		}
		if !o.has("then") {
			p.errAt(o.node, o.key("then"), "required: the action(s) to take (then: archive, or a list)")
		} else {
			a.Then = p.actions(o.get("then"), o.key("then"))
		}
		out = append(out, a)
	}
	return out
}
