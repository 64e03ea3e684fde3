package rules

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
)

// Errors of the execution-time check; test with errors.Is.
var (
	// ErrBlocked: an irreversible action (or a script/service not declared
	// reversible) whose provenance is llm, hybrid, missing or unknown, without
	// !yolo.
	ErrBlocked = errors.New("irreversible action blocked")
	// ErrRejected: an action that cannot run at all: not declared by the
	// platform, an undefined script, an unknown or malformed service call.
	ErrRejected = errors.New("action rejected")
)

// yoloKey is the text of the tag. As a mapping key it is not a tag.
const yoloKey = "!yolo"

// Assessment is what the rules engine knows about one configured action.
type Assessment struct {
	// Label names the action in messages and reports: the action name for
	// simple actions, the keys joined with "+" for dict actions (sorted),
	// "script:<name>", "service:<call>", "unknown:<kind>".
	Label string
	// Irreversible is true when the action cannot be undone: the platform's tier
	// says so, a script or service is not declared reversible: true, or the
	// action is rejected (fail closed).
	Irreversible bool
	// Rejected is true when the action cannot run and is never produced.
	Rejected bool
	// Problems say why it is rejected.
	Problems []string
}

// Label names an action the way reports and messages do (see Assessment.Label).
func Label(a config.Action) string {
	switch a.Kind {
	case config.ActionSimple:
		return a.Name
	case config.ActionDict:
		if len(a.Data) == 0 {
			return "{}"
		}
		return strings.Join(sortedKeys(a.Data), "+")
	case config.ActionScript:
		if a.Script == nil {
			return "script:"
		}
		return "script:" + a.Script.Name
	case config.ActionService:
		if a.Service == nil {
			return "service:"
		}
		return "service:" + a.Service.Call
	default:
		return "unknown:" + string(a.Kind)
	}
}

// Assess classifies one action. platform is the manifest entry of the platform
// whose rule holds the action (nil when the platform's declarations are
// unavailable: every platform action is then rejected and irreversible; scripts
// and services do not need it). cfg supplies the scripts and the configured
// integrations a service call may name, reg the integration types and their
// services; nil for either means none.
func Assess(a config.Action, platform *manifest.Platform, cfg *config.Config, reg *manifest.Registry) Assessment {
	as := Assessment{Label: Label(a)}
	reject := func(format string, args ...any) {
		as.Rejected, as.Irreversible = true, true
		as.Problems = append(as.Problems, fmt.Sprintf(format, args...))
	}
	switch a.Kind {
	case config.ActionSimple:
		if a.Name == "" {
			reject("empty action name")
			break
		}
		as.Irreversible = platformAction(a.Name, platform, reject)
	case config.ActionDict:
		if len(a.Data) == 0 {
			reject("empty action mapping")
			break
		}
		// Every key is an action: a harmless first key does not hide an
		// irreversible second one, and a literal "!yolo" key is not a tag.
		for _, k := range sortedKeys(a.Data) {
			if platformAction(k, platform, reject) {
				as.Irreversible = true
			}
		}
	case config.ActionScript:
		if a.Script == nil || a.Script.Name == "" {
			reject("script action without a script name")
			break
		}
		var s *config.Script
		if cfg != nil {
			s, _ = cfg.Script(a.Script.Name)
		}
		if s == nil {
			reject("references undefined script %q (defined: %s)", a.Script.Name, listOrNone(scriptNames(cfg)))
			break
		}
		as.Irreversible = !s.Reversible
	case config.ActionService:
		if a.Service == nil {
			reject("service action without a call")
			break
		}
		svc, problem := resolveService(a.Service.Call, cfg, reg)
		if problem != "" {
			reject("%s", problem)
			break
		}
		as.Irreversible = !svc.Reversible
	default:
		reject("unrecognised action kind %q", a.Kind)
	}
	return as
}

// platformAction returns whether a platform action is irreversible, rejecting it
// when the platform does not declare it.
func platformAction(name string, platform *manifest.Platform, reject func(string, ...any)) bool {
	if platform == nil {
		reject("action %q: the platform's actions are unknown", name)
		return true
	}
	act, ok := platform.Action(name)
	if !ok {
		hint := ""
		if name == yoloKey {
			hint = ` (a "!yolo" mapping key is not the tag: write !yolo before the action)`
		}
		reject("action %q is not an action of platform %s (declared: %s)%s", name, platform.Name, listOrNone(actionNames(platform)), hint)
		return true
	}
	return act.Tier != manifest.Reversible
}

// ServiceTarget is a parsed service call "<type>.<instance>.<service>".
type ServiceTarget struct {
	// Type is the integration type; it may itself contain dots (the call is split
	// from the right).
	Type     string
	Instance string
	Service  string
}

// IntegrationID is the composite id of the integration instance: "<type>.<instance>".
func (t ServiceTarget) IntegrationID() string { return t.Type + "." + t.Instance }

// TaskType is the task type that runs the service: "service.<type>.<service>".
func (t ServiceTarget) TaskType() string { return "service." + t.Type + "." + t.Service }

// ParseServiceCall splits a call "<type>.<instance>.<service>" from the right: the
// last two dots separate instance and service, everything before is the type. A
// call with fewer than two dots or an empty part is malformed.
func ParseServiceCall(call string) (ServiceTarget, error) {
	j := strings.LastIndexByte(call, '.')
	if j < 0 {
		return ServiceTarget{}, fmt.Errorf("malformed service call %q (expected 'type.instance.service')", call)
	}
	i := strings.LastIndexByte(call[:j], '.')
	if i < 0 {
		return ServiceTarget{}, fmt.Errorf("malformed service call %q (expected 'type.instance.service')", call)
	}
	t := ServiceTarget{Type: call[:i], Instance: call[i+1 : j], Service: call[j+1:]}
	if t.Type == "" || t.Instance == "" || t.Service == "" {
		return ServiceTarget{}, fmt.Errorf("malformed service call %q (expected 'type.instance.service')", call)
	}
	return t, nil
}

// resolveService finds the service a call names, or says what is wrong with it.
func resolveService(call string, cfg *config.Config, reg *manifest.Registry) (*manifest.Service, string) {
	t, err := ParseServiceCall(call)
	if err != nil {
		return nil, err.Error()
	}
	m, ok := reg.Get(t.Type)
	if !ok {
		return nil, fmt.Sprintf("references unknown service %q: no integration type %q (types: %s)", call, t.Type, listOrNone(reg.Types()))
	}
	svc, ok := m.Service(t.Service)
	if !ok {
		names := make([]string, len(m.Services))
		for i, s := range m.Services {
			names[i] = s.Name
		}
		return nil, fmt.Sprintf("references unknown service %q: type %q has no service %q (services: %s)", call, t.Type, t.Service, listOrNone(names))
	}
	var found bool
	var ids []string
	if cfg != nil {
		_, found = cfg.Integration(t.IntegrationID())
		for _, in := range cfg.Integrations {
			if in.Type == t.Type {
				ids = append(ids, in.ID())
			}
		}
	}
	if !found {
		return nil, fmt.Sprintf("references unknown integration instance %q in service call %q (configured %s instances: %s)", t.IntegrationID(), call, t.Type, listOrNone(ids))
	}
	return svc, ""
}

// AllowAtAct is the execution-time check an act stage (and the script and
// service runners) call before each action, whatever the load-time gate
// decided: the action must be one that can run (ErrRejected otherwise), and an
// irreversible one runs only from provenance "rule" or when tagged !yolo
// (ErrBlocked otherwise). A missing or unknown provenance counts as llm.
// platform, cfg and reg are as for [Assess].
func AllowAtAct(a config.Action, provenance string, platform *manifest.Platform, cfg *config.Config, reg *manifest.Registry) error {
	as := Assess(a, platform, cfg, reg)
	if as.Rejected {
		return fmt.Errorf("%w: %s: %s", ErrRejected, as.Label, strings.Join(as.Problems, "; "))
	}
	if p := normalizeProvenance(provenance); as.Irreversible && p != ProvenanceRule && !a.Yolo {
		return fmt.Errorf("%w: %s has provenance %s (recorded %q) and is not tagged !yolo", ErrBlocked, as.Label, p, provenance)
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func actionNames(p *manifest.Platform) []string {
	names := make([]string, len(p.Actions))
	for i, a := range p.Actions {
		names[i] = a.Name
	}
	return names
}

func scriptNames(cfg *config.Config) []string {
	if cfg == nil {
		return nil
	}
	names := make([]string, len(cfg.Scripts))
	for i, s := range cfg.Scripts {
		names[i] = s.Name
	}
	return names
}
