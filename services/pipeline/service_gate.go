package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/rules"
)

// The run-time safety gate of script and service tasks.
//
// evaluate publishes script.run and service.<type>.<service> tasks with the
// provenance of the rule that decided them, and chat publishes approved
// actions with provenance rule; but a task on NATS is only as trustworthy as
// whoever published it, and the config may have changed since. So whatever
// handler runs such a task is wrapped (Guard, a middleware over the router's
// dispatch) with rules.AllowTaskAtRun: an irreversible script or service (one
// not declared reversible) from an llm, hybrid or missing provenance is refused
// unless an enabled rule of the config in force calls it tagged !yolo. A
// refusal fails the task permanently with the reason and writes a "Blocked"
// line to the daily log. Other task types pass through untouched.

// Guard is a handler middleware: it returns next wrapped with a check.
type Guard func(next msg.Handler) msg.Handler

// gateState is what the gate decides with: the config in force, the
// manifests, and the load-time report of that config (nil = none).
type gateState struct {
	cfg    *config.Config
	reg    *manifest.Registry
	report *rules.Report
}

// GuardTasks is the engine's Guard: the run-time gate with the config in
// force, the engine's manifests and the rules report it already keeps, and
// inside it the at-most-once ledger of irreversible service tasks on an item
// (service_ledger.go) and the result routing of service tasks (results.go): a
// service task the gate lets run, and the ledger does not skip, has its result
// routed to its on_result destinations. Pass it as Options.Guard of the
// pipeline service that dispatches the engine's router.
func (e *Engine) GuardTasks(next msg.Handler) msg.Handler {
	return gateTasks(e.onceServices(e.routeResults(next)), func() gateState {
		st := gateState{reg: e.o.Registry}
		if cfg := e.o.Config(); cfg != nil {
			d := e.current()
			st.cfg, st.report = d.cfg, d.report
		}
		return st
	}, e.o.Bus, e.o.Logger)
}

// FailClosedGuard is the gate without config or manifests: every script and
// service counts as irreversible and no rule as tagged !yolo, so only tasks
// with provenance rule (rule-decided, or approved by a person in chat) run.
// It is what a pipeline service without an Options.Guard uses.
func FailClosedGuard(bus audit.Emitter, log *slog.Logger) Guard {
	return func(next msg.Handler) msg.Handler {
		return gateTasks(next, func() gateState { return gateState{} }, bus, log)
	}
}

// gatedPayload are the payload fields the gate reads.
type gatedPayload struct {
	ScriptName  string `json:"script_name"`
	Integration string `json:"integration"`
}

// gateTasks wraps next with the run-time gate; state is read per task, so a
// config reload applies to the next task.
func gateTasks(next msg.Handler, state func() gateState, bus audit.Emitter, log *slog.Logger) msg.Handler {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, t *msg.Task) (any, error) {
		if !rules.IsGatedTask(t.Type) {
			return next(ctx, t)
		}
		var p gatedPayload
		if len(t.Payload) > 0 {
			// A payload that is not an object reads as empty: the gate then
			// fails closed on an unknown script or instance.
			_ = json.Unmarshal(t.Payload, &p)
		}
		run := rules.TaskRun{Type: t.Type, Provenance: t.Provenance, Script: p.ScriptName, Integration: p.Integration}
		st := state()
		if err := rules.AllowTaskAtRun(run, st.cfg, st.reg, st.report); err != nil {
			log.Warn("script or service task refused by the safety gate", "task", t.ID, "type", t.Type,
				"provenance", t.Provenance, "err", err)
			if bus != nil {
				ev := audit.Event{Source: "steward", Kind: audit.KindBlocked, Integration: p.Integration, ID: t.ID + ":blocked",
					Text: fmt.Sprintf("Blocked %s (task %s): %v", run.Label(), t.ID, err)}
				if aerr := audit.Emit(ctx, bus, ev); aerr != nil {
					log.Warn("could not write to the daily log", "err", aerr, "text", ev.Text)
				}
			}
			return nil, msg.Permanent(err)
		}
		return next(ctx, t)
	}
}
