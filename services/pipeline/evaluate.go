package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/rules"
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

	var acts []plannedAction
	var queued []string
	for _, pa := range planned {
		switch pa.Action.Kind {
		case config.ActionScript:
			inputs := renderInputs(pa.Action.Script.Inputs, r.item)
			p, err := e.o.Bus.Publish(ctx, msg.Spec{Type: "script.run", Lane: msg.LaneScript, Priority: msg.PriorityEvaluate,
				Provenance: pa.Provenance, ApplyPolicy: true,
				Payload: map[string]any{"script_name": pa.Action.Script.Name, "inputs": inputs, "item": r.storeKey}})
			if err != nil {
				return nil, err
			}
			queued = append(queued, pa.Label+" "+publishedNote(p))
		case config.ActionService:
			target, err := rules.ParseServiceCall(pa.Action.Service.Call)
			if err != nil {
				continue // rejected at load; never produced, but stay defensive
			}
			payload := map[string]any{"integration": target.IntegrationID(),
				"inputs": renderInputs(pa.Action.Service.Inputs, r.item), "item": r.storeKey}
			if len(pa.Action.Service.OnResult) > 0 {
				payload["on_result"] = pa.Action.Service.OnResult
			}
			if pa.Action.Service.HumanLog != "" {
				payload["human_log"] = renderTemplate(pa.Action.Service.HumanLog, r.item, payload["inputs"].(map[string]any))
			}
			p, err := e.o.Bus.Publish(ctx, msg.Spec{Type: target.TaskType(), Lane: msg.LaneIO, Priority: msg.PriorityEvaluate,
				Provenance: pa.Provenance, ApplyPolicy: true, Payload: payload})
			if err != nil {
				return nil, err
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

var templateRE = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}`)

// renderInputs renders script and service inputs: string values may contain
// {{ key }} placeholders resolved against the item's facts (dotted keys such as
// authentication.dkim_pass) and classification (classification.<name>); an
// unknown key renders empty. Other values are kept as they are (null becomes "").
// This is a deliberate subset of the reference's Jinja: variables only, no logic.
func renderInputs(inputs map[string]any, it *items.Item) map[string]any {
	out := make(map[string]any, len(inputs))
	for k, v := range inputs {
		switch x := v.(type) {
		case string:
			out[k] = renderTemplate(x, it, nil)
		case nil:
			out[k] = ""
		default:
			out[k] = x
		}
	}
	return out
}

// renderTemplate substitutes {{ key }} in s (inputs, when given, are also
// variables, as the reference allows for human_log templates).
func renderTemplate(s string, it *items.Item, inputs map[string]any) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	return templateRE.ReplaceAllStringFunc(s, func(m string) string {
		key := templateRE.FindStringSubmatch(m)[1]
		if v, ok := inputs[key]; ok {
			return stringify(v)
		}
		if rest, ok := strings.CutPrefix(key, "classification."); ok {
			return stringify(it.Classification[rest])
		}
		if v, ok := rules.Facts(it.Facts).Resolve(key); ok {
			return stringify(v)
		}
		return ""
	})
}

func stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}
