package rules

import (
	"fmt"
	"strings"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
)

// Task types of the run-time gate.
const (
	// TaskScriptRun runs a configured script; payload {script_name, inputs}.
	TaskScriptRun = "script.run"
	// ServiceTaskPrefix starts every service task type: service.<type>.<service>.
	ServiceTaskPrefix = "service."
)

// IsGatedTask reports whether tasks of this type run a script or a service,
// the kinds of task the run-time gate ([AllowTaskAtRun]) checks.
func IsGatedTask(taskType string) bool {
	return taskType == TaskScriptRun || strings.HasPrefix(taskType, ServiceTaskPrefix)
}

// TaskRun describes a script or service task about to run, as read from the
// task record: nothing in it is trusted (anyone who can publish on NATS can
// write any of it).
type TaskRun struct {
	// Type is the task type: "script.run" or "service.<type>.<service>".
	Type string
	// Provenance is the task record's provenance; "" or an unknown value
	// counts as llm. Approved chat actions carry "rule": a person decided.
	Provenance string
	// Script is payload.script_name of a script.run task.
	Script string
	// Integration is payload.integration of a service task: the instance id
	// ("gemini.default") the service runs for, "" when none.
	Integration string
}

// Label names the task's action like the load-time report does:
// "script:<name>", "service:<type>.<instance>.<service>" (or
// "service:<type>.<service>" without an instance).
func (r TaskRun) Label() string {
	if r.Type == TaskScriptRun {
		return "script:" + r.Script
	}
	typ, svc := splitServiceTask(r.Type)
	if r.Integration != "" {
		if t, ok := strings.CutPrefix(r.Integration, typ+"."); ok && t != "" {
			return "service:" + typ + "." + t + "." + svc
		}
	}
	return "service:" + typ + "." + svc
}

// splitServiceTask splits "service.<type>.<service>" from the right (a type may
// contain dots).
func splitServiceTask(taskType string) (typ, service string) {
	rest := strings.TrimPrefix(taskType, ServiceTaskPrefix)
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		return rest[:i], rest[i+1:]
	}
	return rest, ""
}

// TaskIrreversible reports whether a script or service task must be treated as
// irreversible: a service unless its manifest declares it reversible, a script
// unless config.yaml does; an unknown service, script or task type is
// irreversible (fail closed). cfg and reg may be nil (then everything is).
func TaskIrreversible(r TaskRun, cfg *config.Config, reg *manifest.Registry) bool {
	switch {
	case r.Type == TaskScriptRun:
		if cfg == nil {
			return true
		}
		s, ok := cfg.Script(r.Script)
		return !ok || s == nil || !s.Reversible
	case strings.HasPrefix(r.Type, ServiceTaskPrefix):
		typ, name := splitServiceTask(r.Type)
		m, ok := reg.Get(typ)
		if !ok || m == nil {
			return true
		}
		svc, ok := m.Service(name)
		return !ok || svc == nil || !svc.Reversible
	}
	return true
}

// AllowTaskAtRun is the run-time half of the safety gate for script and
// service tasks, checked by the handler wrapper that runs them whatever the
// load-time gate and the publisher decided: an irreversible script or service
// (see [TaskIrreversible]) runs only from provenance "rule" — which is also
// what an approved chat action carries — or when an enabled rule of the config
// in force calls exactly this script or service (same instance) tagged !yolo
// with the task's provenance. That is where !yolo lives for actions too: the
// act stage takes it from the rules as they are now, never from the task.
// Reversible ones always pass. A missing or unknown provenance counts as llm.
// rep is the [Check] report of cfg (nil = no rule is known, so nothing is
// tagged !yolo). Errors wrap [ErrBlocked].
func AllowTaskAtRun(r TaskRun, cfg *config.Config, reg *manifest.Registry, rep *Report) error {
	if !TaskIrreversible(r, cfg, reg) {
		return nil
	}
	p := normalizeProvenance(r.Provenance)
	if p == ProvenanceRule || yoloRuleFor(r, p, rep) {
		return nil
	}
	return fmt.Errorf("%w: %s (task type %s) is not declared reversible, has provenance %s (recorded %q), "+
		"was not approved by a person, and no enabled rule calls it tagged !yolo",
		ErrBlocked, r.Label(), r.Type, p, r.Provenance)
}

// yoloRuleFor reports whether an enabled rule with provenance p has a !yolo
// action that is this task's script or service call.
func yoloRuleFor(r TaskRun, p string, rep *Report) bool {
	if rep == nil {
		return false
	}
	for _, rr := range rep.Rules {
		if rr.Disabled || rr.Provenance != p {
			continue
		}
		for _, a := range rr.Actions {
			if a.Yolo && !a.Rejected && actionIsTask(a.Action, r) {
				return true
			}
		}
	}
	return false
}

// actionIsTask reports whether an action label names the task's script, or
// its service with the same instance.
func actionIsTask(label string, r TaskRun) bool {
	if r.Type == TaskScriptRun {
		return r.Script != "" && label == "script:"+r.Script
	}
	call, ok := strings.CutPrefix(label, "service:")
	if !ok {
		return false
	}
	t, err := ParseServiceCall(call)
	return err == nil && t.TaskType() == r.Type && t.IntegrationID() == r.Integration
}
