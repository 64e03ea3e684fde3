package pipeline

import (
	"context"
	"fmt"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/rules"
	"github.com/stewardhq/steward/internal/template"
)

// plannedAction is one action in an act payload: what the rules produced, with
// its own rule's provenance (never merged across rules).
type plannedAction struct {
	Label      string        `json:"label"`
	Rule       int           `json:"rule"`
	Provenance string        `json:"provenance"`
	Yolo       bool          `json:"yolo,omitempty"`
	Action     config.Action `json:"action"`
}

// evaluate is the generic evaluate stage: run the rules on an item's facts and
// classification and queue what they decide — one act task with the platform's
// actions, one script.run task per script, one service task per service call —
// each carrying provenance. It changes nothing itself.
func (e *Engine) evaluate(ctx context.Context, t *msg.Task) (any, error) {
	ref, r, err := e.resolveTask(ctx, t)
	if err != nil {
		return nil, err
	}
	planned := oneTaskPerIdentity(r.rules.Evaluate(rules.Facts(r.item.Facts), r.item.Classification, e.o.Now()))
	rulesHash := r.d.rulesHash[ref.Integration+"/"+ref.Platform]

	// Render every template first: a template that does not render fails the
	// evaluation before anything of it is queued.
	vars := templateVars(r.item)
	rendered := make([]renderedCall, len(planned))
	for i, pa := range planned {
		rc, err := e.renderCall(pa, vars)
		if err != nil {
			err = fmt.Errorf("%s/%s rule #%d, action %s: %w", ref.Integration, ref.Platform, pa.Rule, pa.Label, err)
			e.audit(ctx, audit.Event{Source: ref.Integration, Kind: audit.KindWarning, Integration: ref.Integration,
				Platform: ref.Platform, Item: r.storeKey, ID: t.ID + ":template", Text: "Template error, nothing queued: " + err.Error()})
			return nil, msg.Permanent(err)
		}
		rendered[i] = rc
	}

	var acts []plannedAction
	var queued []string
	for i, pa := range planned {
		switch pa.Action.Kind {
		case config.ActionScript:
			p, err := e.o.Bus.Publish(ctx, msg.Spec{Type: "script.run", Lane: msg.LaneScript, Priority: msg.PriorityEvaluate,
				Provenance: pa.Provenance, ApplyPolicy: true,
				Payload: map[string]any{"script_name": pa.Action.Script.Name, "inputs": rendered[i].inputs, "item": r.storeKey}})
			if err != nil {
				return nil, err
			}
			queued = append(queued, pa.Label+" "+publishedNote(p))
		case config.ActionService:
			target, err := rules.ParseServiceCall(pa.Action.Service.Call)
			if err != nil {
				continue // rejected at load; never produced, but stay defensive
			}
			payload := map[string]any{"integration": target.IntegrationID(), "inputs": rendered[i].inputs, "item": r.storeKey}
			if pa.Action.Service.OnResult != nil {
				payload["on_result"] = pa.Action.Service.OnResult
			} else {
				payload["on_result"] = []any{map[string]any{"type": RouteNote}}
			}
			if rendered[i].humanLog != "" {
				payload["human_log"] = rendered[i].humanLog
			}
			if rendered[i].deferred != "" {
				payload["human_log_template"] = rendered[i].deferred
				payload["human_log_vars"] = rendered[i].deferredVars
			}
			p, err := e.o.Bus.Publish(ctx, msg.Spec{Type: target.TaskType(), Lane: msg.LaneIO, Priority: msg.PriorityEvaluate,
				Provenance: pa.Provenance, ApplyPolicy: true, Payload: payload})
			if err != nil {
				return nil, err
			}
			if p.Skipped == msg.SkipRateLimited {
				e.o.Logger.Info("service call skipped: its rate limit (queue_policies) is reached", "type", target.TaskType(),
					"item", r.storeKey, "call", pa.Action.Service.Call)
			}
			queued = append(queued, pa.Label+" "+publishedNote(p))
		default:
			acts = append(acts, plannedAction{Label: pa.Label, Rule: pa.Rule, Provenance: pa.Provenance, Yolo: pa.Yolo, Action: pa.Action})
		}
	}
	if len(acts) > 0 {
		p, err := e.queueStage(ctx, r.item, StageAct, msg.LaneIO, msg.PriorityEvaluate, weakest(acts), map[string]any{"actions": acts})
		if err != nil {
			return nil, err
		}
		for _, a := range acts {
			queued = append(queued, a.Label+" "+publishedNote(p))
		}
	}
	if _, err := e.updateItem(ctx, ref.Integration, ref.Platform, ref.Key, func(it *items.Item, exists bool) error {
		if !exists {
			return msg.Permanent(fmt.Errorf("item %q vanished while it was evaluated", ref.Key))
		}
		if it.Facts == nil {
			it.Facts = map[string]any{}
		}
		it.RulesHash = rulesHash
		return nil
	}); err != nil {
		return nil, err
	}
	return map[string]any{"actions": queued}, nil
}

// oneTaskPerIdentity keeps one script or service action per ActionIdentity
// (label and configuration, not the rule nor !yolo): several rules deciding
// the same call queue one task, carrying the strongest provenance among them
// (rule, then hybrid, then llm), in the place of the first. Platform actions
// are kept as they are: the act stage re-finds each by its rule and the
// ledger performs an at-most-once one once.
func oneTaskPerIdentity(planned []rules.PlannedAction) []rules.PlannedAction {
	out := make([]rules.PlannedAction, 0, len(planned))
	at := map[string]int{} // identity → index in out
	for _, pa := range planned {
		if pa.Action.Kind != config.ActionScript && pa.Action.Kind != config.ActionService {
			out = append(out, pa)
			continue
		}
		id := ActionIdentity(pa.Label, pa.Action)
		i, seen := at[id]
		switch {
		case !seen:
			at[id] = len(out)
			out = append(out, pa)
		case strength(pa.Provenance) > strength(out[i].Provenance):
			out[i] = pa
		}
	}
	return out
}

// strength orders provenances: rule above hybrid above llm (and anything
// else, which counts as llm).
func strength(provenance string) int {
	switch provenance {
	case rules.ProvenanceRule:
		return 2
	case rules.ProvenanceHybrid:
		return 1
	}
	return 0
}

func publishedNote(p msg.Published) string {
	if p.Skipped != "" {
		return "(" + p.Skipped + ")"
	}
	return "(" + p.ID + ")"
}

// weakest is the provenance shown on an act task record: llm if any action came
// from an llm rule, else hybrid if any did, else rule. The act stage checks each
// action with its own rule's provenance, not this one.
func weakest(acts []plannedAction) string {
	out := rules.ProvenanceRule
	for _, a := range acts {
		switch a.Provenance {
		case rules.ProvenanceLLM:
			return rules.ProvenanceLLM
		case rules.ProvenanceHybrid:
			out = rules.ProvenanceHybrid
		}
	}
	return out
}

// renderedCall is what the templates of a script or service action rendered to.
type renderedCall struct {
	inputs   map[string]any
	humanLog string
	// deferred is a human_log template that uses the service's result: it is
	// rendered when the service has finished, with deferredVars (the item
	// variables it names, and the inputs) and the result.
	deferred     string
	deferredVars map[string]any
}

// renderCall renders the inputs of a script or service action and, for a
// service, its human_log (the action's own template, else the manifest's),
// with the item's variables; the human_log also sees the rendered inputs,
// which win over item variables of the same name.
func (e *Engine) renderCall(pa rules.PlannedAction, vars map[string]any) (renderedCall, error) {
	var rc renderedCall
	var err error
	switch pa.Action.Kind {
	case config.ActionScript:
		rc.inputs, err = renderInputs(pa.Action.Script.Inputs, vars)
	case config.ActionService:
		if rc.inputs, err = renderInputs(pa.Action.Service.Inputs, vars); err != nil {
			return rc, err
		}
		src := pa.Action.Service.HumanLog
		if src == "" {
			if target, perr := rules.ParseServiceCall(pa.Action.Service.Call); perr == nil {
				src = e.manifestHumanLog(target.TaskType())
			}
		}
		if src == "" {
			return rc, nil
		}
		hv := make(map[string]any, len(vars)+len(rc.inputs))
		for k, v := range vars {
			hv[k] = v
		}
		for k, v := range rc.inputs {
			hv[k] = v
		}
		tpl, perr := template.Parse(src)
		if perr != nil {
			return rc, fmt.Errorf("human_log: %w", perr)
		}
		if tpl.Uses(resultVar) {
			rc.deferred, rc.deferredVars = src, map[string]any{}
			for _, n := range tpl.Names() {
				if v, ok := hv[n]; ok && n != resultVar {
					rc.deferredVars[n] = v
				}
			}
			return rc, nil
		}
		if rc.humanLog, err = tpl.Render(hv); err != nil {
			return rc, fmt.Errorf("human_log: %w", err)
		}
	}
	return rc, err
}

// templateVars are the variables of an item's templates: its facts, its
// title (unless a fact has that name) and classification (the LLM's result).
// The item's content (a mail body) is not among them.
func templateVars(it *items.Item) map[string]any {
	vars := make(map[string]any, len(it.Facts)+2)
	if it.Title != "" {
		vars["title"] = it.Title
	}
	for k, v := range it.Facts {
		vars[k] = v
	}
	cls := map[string]any{}
	for k, v := range it.Classification {
		cls[k] = v
	}
	vars["classification"] = cls
	return vars
}

// renderInputs renders script and service inputs (spec §4.4): a string value
// is a Jinja template (internal/template) rendered with vars; null becomes "";
// other values (numbers, lists, mappings) are kept as they are, so a mapping
// such as an output_schema reaches the service as a mapping. Inputs cannot
// refer to each other.
func renderInputs(inputs map[string]any, vars map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(inputs))
	for _, k := range sortedNames(inputs) {
		switch x := inputs[k].(type) {
		case string:
			s, err := template.Render(x, vars)
			if err != nil {
				return nil, fmt.Errorf("input %s: %w", k, err)
			}
			out[k] = s
		case nil:
			out[k] = ""
		default:
			out[k] = x
		}
	}
	return out, nil
}
