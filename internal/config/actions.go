package config

import (
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stewardhq/steward/internal/template"
)

var (
	scriptActionKeys  = []string{"script"}
	scriptRefKeys     = []string{"name", "inputs"}
	serviceActionKeys = []string{"service"}
	serviceCallKeys   = []string{"call", "inputs", "on_result", "human_log"}
)

// Keys lists the action names of a dict action (the keys of Data) in the order
// they were written; sorted when that order is unknown (e.g. after JSON).
func (a Action) Keys() []string {
	if len(a.order) == len(a.Data) {
		return append([]string(nil), a.order...)
	}
	keys := make([]string, 0, len(a.Data))
	for k := range a.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ParseActions decodes the YAML text of one `then` value (a single action or a
// list), exactly as in a config file: !yolo is honoured, !secret is not
// available. It is the action decoder on its own, for tools and tests.
func ParseActions(data []byte) ([]Action, error) {
	const file = "then"
	root, errs := parseYAML(data, file)
	if errs != nil {
		return nil, errs
	}
	p := newParser(file, "secrets.yaml", map[string]string{}, nil)
	if root != nil {
		p.resolveTags(root, "then", false, map[*yaml.Node]bool{})
	}
	acts := p.actions(root, "then")
	if len(p.errs) > 0 {
		return nil, p.errs.sorted()
	}
	return acts, nil
}

// actions reads a `then` value: one action or a list of them. `then: []` is an
// automation that does nothing.
func (p *parser) actions(n *yaml.Node, key string) []Action {
	out := []Action{}
	d := deref(n)
	if d == nil || p.isNull(d) {
		p.errAt(d, key, "expected an action (archive), a mapping ({move_to: Folder}) or a list of them, got nothing")
		return out
	}
	if d.Kind == yaml.SequenceNode {
		if p.isYolo(d) {
			return out // !yolo on a list was reported by resolveTags
		}
		for i, c := range d.Content {
			if !p.spend(c) {
				return out
			}
			if a, ok := p.action(c, indexKey(key, i)); ok {
				out = append(out, a)
			}
		}
		return out
	}
	if a, ok := p.action(n, key); ok {
		out = append(out, a)
	}
	return out
}

func (p *parser) isYolo(n *yaml.Node) bool {
	_, ok := p.yoloNodes[n]
	return ok
}

// action decodes one element of `then`:
//   - text → ActionSimple;
//   - mapping with `script` → ActionScript (name, or {name, inputs});
//   - mapping with `service` → ActionService ({call, inputs, on_result, human_log});
//   - any other mapping → ActionDict;
//   - !yolo on either form sets Yolo;
//   - anything else (numbers, booleans, null, lists) is an error.
func (p *parser) action(n *yaml.Node, key string) (Action, bool) {
	d := deref(n)
	if d == nil {
		p.errAt(n, key, "expected an action, got nothing")
		return Action{}, false
	}
	a := Action{Pos: p.pos(d)}
	if p.isYolo(d) {
		a.Yolo = true
		p.yoloUsed[d] = true
	}
	switch d.Kind {
	case yaml.ScalarNode:
		var name string
		if a.Yolo {
			name = d.Value // the reference keeps a !yolo scalar as its text
		} else {
			v, err := p.scalar(d)
			s, isText := p.asText(d, v)
			if err != nil || !isText {
				p.errAt(d, key, "expected an action name (archive, unsubscribe, ...) or a mapping, got %s", p.describe(d))
				return Action{}, false
			}
			name = s
		}
		if strings.TrimSpace(name) == "" {
			p.errAt(d, key, "an action name must not be empty")
			return Action{}, false
		}
		a.Kind, a.Name = ActionSimple, name
		return a, true
	case yaml.MappingNode:
		o, _ := p.object(d, key, "")
		switch {
		case len(o.pairs) == 0:
			p.errAt(d, key, "an action mapping must name an action, e.g. {move_to: Folder}; got {}")
			return Action{}, false
		case o.has("script"):
			o.unknown(scriptActionKeys, nil)
			ref, ok := p.scriptRef(o.get("script"), o.key("script"))
			if !ok {
				return Action{}, false
			}
			a.Kind, a.Name, a.Script = ActionScript, "script", ref
			return a, true
		case o.has("service"):
			o.unknown(serviceActionKeys, nil)
			call, ok := p.serviceCall(o.get("service"), o.key("service"))
			if !ok {
				return Action{}, false
			}
			a.Kind, a.Name, a.Service = ActionService, "service", call
			return a, true
		}
		a.Kind = ActionDict
		a.Data = make(map[string]any, len(o.pairs))
		for _, pr := range o.pairs {
			if pr.key == "!yolo" || strings.TrimSpace(pr.key) == "" {
				p.errAt(pr.k, key, "%s is not an action name; to let an LLM-influenced rule run an action, tag the action itself: - !yolo unsubscribe", quoteShort(pr.key))
				return Action{}, false
			}
			a.Data[pr.key] = p.value(pr.v, joinKey(key, pr.key))
			a.order = append(a.order, pr.key)
		}
		return a, true
	case yaml.SequenceNode:
		p.errAt(d, key, "a list inside then is not an action; then takes one action or one flat list of actions")
		return Action{}, false
	}
	p.errAt(d, key, "expected an action, got %s", p.describe(d))
	return Action{}, false
}

func (p *parser) scriptRef(n *yaml.Node, key string) (*ScriptRef, bool) {
	d := deref(n)
	if p.isNull(d) {
		p.errAt(d, key, "expected a script name or {name:, inputs:}, got nothing")
		return nil, false
	}
	if d.Kind == yaml.ScalarNode {
		name, ok := p.text(d, key)
		if !ok {
			return nil, false
		}
		if strings.TrimSpace(name) == "" {
			p.errAt(d, key, "the script name must not be empty")
			return nil, false
		}
		return &ScriptRef{Name: name}, true
	}
	o, ok := p.object(d, key, "a script name or {name:, inputs:}")
	if !ok {
		return nil, false
	}
	o.unknown(scriptRefKeys, nil)
	ref := &ScriptRef{}
	if name, ok := p.text(o.get("name"), o.key("name")); ok && strings.TrimSpace(name) != "" {
		ref.Name = name
	} else {
		if ok || p.isNull(o.get("name")) {
			p.errAt(o.keyNode("name"), o.key("name"), "required: the name of a script defined under scripts:")
		}
		return nil, false
	}
	if m, ok := p.mapping(o.get("inputs"), o.key("inputs"), "a mapping of input names to values or templates"); ok {
		ref.Inputs = m
		p.checkTemplates(o.get("inputs"), o.key("inputs"))
	}
	return ref, true
}

func (p *parser) serviceCall(n *yaml.Node, key string) (*ServiceCall, bool) {
	o, ok := p.object(n, key, "a service call {call: type.instance.service, inputs:, on_result:, human_log:}")
	if !ok {
		return nil, false
	}
	if o.node == nil || o.node.Kind != yaml.MappingNode {
		p.errAt(deref(n), key, "expected a service call {call: type.instance.service, inputs: ...}, got nothing")
		return nil, false
	}
	o.unknown(serviceCallKeys, nil)
	sc := &ServiceCall{}
	if call, ok := p.text(o.get("call"), o.key("call")); ok && strings.TrimSpace(call) != "" {
		sc.Call = call
	} else {
		if ok || p.isNull(o.get("call")) {
			p.errAt(o.keyNode("call"), o.key("call"), "required: the service to call as type.instance.service (e.g. gemini.research.web_research)")
		}
		return nil, false
	}
	if m, ok := p.mapping(o.get("inputs"), o.key("inputs"), "a mapping of input names to values or templates"); ok {
		sc.Inputs = m
		p.checkTemplates(o.get("inputs"), o.key("inputs"))
	}
	if rn := o.get("on_result"); !p.isNull(rn) {
		rd := deref(rn)
		if rd.Kind != yaml.SequenceNode {
			p.errAt(rd, o.key("on_result"), "expected a list of result routes (- type: note), got %s", p.describe(rd))
			return nil, false
		}
		// An explicit empty list routes nowhere; absent means the default (a note).
		sc.OnResult = make([]map[string]any, 0, len(rd.Content))
		for i, c := range rd.Content {
			m, ok := p.mapping(c, indexKey(o.key("on_result"), i), "a result route mapping (type: note)")
			if !ok {
				if p.isNull(c) {
					p.errAt(c, indexKey(o.key("on_result"), i), "expected a result route mapping (type: note), got nothing")
				}
				return nil, false
			}
			sc.OnResult = append(sc.OnResult, m)
		}
	}
	if s, ok := p.text(o.get("human_log"), o.key("human_log")); ok {
		sc.HumanLog = s
		p.checkTemplate(o.get("human_log"), o.key("human_log"), s)
	}
	return sc, true
}

// checkTemplates parses the string values of an inputs mapping as templates
// (spec github_services §4.4), so that a syntax error is reported at load with
// its file, line and key rather than when a rule first fires.
func (p *parser) checkTemplates(n *yaml.Node, key string) {
	d := deref(n)
	if d == nil || d.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(d.Content); i += 2 {
		v := deref(d.Content[i+1])
		if v != nil && v.Kind == yaml.ScalarNode && v.Tag == "!!str" {
			p.checkTemplate(v, joinKey(key, d.Content[i].Value), v.Value)
		}
	}
}

// checkTemplate reports a template that does not parse.
func (p *parser) checkTemplate(n *yaml.Node, key, src string) {
	if !template.HasMarkers(src) {
		return
	}
	if _, err := template.Parse(src); err != nil {
		p.errAt(deref(n), key, "%v", err)
	}
}
