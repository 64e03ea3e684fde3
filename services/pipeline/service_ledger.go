package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/platform"
	"github.com/stewardhq/steward/internal/rules"
)

// The at-most-once ledger of service tasks.
//
// Steward evaluates known items again when the automations change, so a rule
// calling a service decides the same call on the same item again. A service
// task that names its item (payload.item, as evaluate publishes it) and whose
// service is not declared reversible in its manifest therefore runs at most
// once per item and identity, through the same ledger as the act stage's
// irreversible actions and the irreversible scripts. The identity is the call
// label (service:<type>.<instance>.<service>) with the inputs as rendered into
// the task — not the rule that decided it, nor its !yolo tag.
//
// onceServices is a middleware between the run-time gate and the result
// routing: the intent is written after the gate let the task through, right
// before the handler runs, and the entry is settled when the handler (and the
// routing of its result) returns:
//   - a result: done;
//   - a transient error (the handler asks the lane to retry, e.g. a 429): the
//     intent is removed, so the retry runs it as today;
//   - a permanent error: failed, never repeated (it may have happened);
//   - the task's context ended (Steward stopping): the intent stays, and the
//     redelivery marks it interrupted and does not run the service again.
//
// A task whose identity already has an entry (done, failed, or another task's
// intent) is skipped: its handler does not run, its result says so, and no
// route is published. Reversible services and tasks without an item (a
// person's approval in chat) pass through unchanged.

// ledgerPayload are the fields of a service task the ledger reads.
type ledgerPayload struct {
	Integration string         `json:"integration"`
	Inputs      map[string]any `json:"inputs"`
	Item        string         `json:"item"`
}

// onceServices wraps next (the result routing and the service handler) with
// the at-most-once ledger of irreversible service tasks that carry an item.
func (e *Engine) onceServices(next msg.Handler) msg.Handler {
	return func(ctx context.Context, t *msg.Task) (any, error) {
		if !strings.HasPrefix(t.Type, rules.ServiceTaskPrefix) {
			return next(ctx, t)
		}
		var p ledgerPayload
		if err := json.Unmarshal(t.Payload, &p); err != nil || p.Item == "" {
			// No item (a chat approval) or a payload the handler rejects
			// itself: today's behaviour.
			return next(ctx, t)
		}
		run := rules.TaskRun{Type: t.Type, Provenance: t.Provenance, Integration: p.Integration}
		if !rules.TaskIrreversible(run, e.o.Config(), e.o.Registry) {
			return next(ctx, t)
		}
		if len(p.Item) > 512 || !storeKeyRE.MatchString(p.Item) {
			return nil, msg.Permanent(fmt.Errorf("%s: malformed item key %.40q", t.Type, p.Item))
		}
		label := run.Label()
		key := serviceLedgerKey(p.Item, label, p.Inputs)
		if skipped, err := e.serviceLedgerGate(ctx, key, t, p, label); err != nil || skipped != nil {
			return skipped, err
		}
		entry := LedgerEntry{Item: p.Item, Action: label, Provenance: t.Provenance, State: LedgerIntent, Task: t.ID, At: e.o.Now().UTC()}
		created, err := e.writeIntent(ctx, key, entry)
		if err != nil {
			return nil, err
		}
		if !created {
			return e.serviceSkipped(ctx, t, p, label, "another task got there first"), nil
		}

		res, runErr := next(ctx, t)
		switch {
		case runErr == nil:
			e.recordDone(context.WithoutCancel(ctx), key, entry)
		case ctx.Err() != nil:
			// Steward is stopping (or lost the task) while the service ran:
			// the intent stays, so the redelivery records it as interrupted
			// and does not run it again.
		case platform.IsNotPerformed(runErr):
			// The service certainly did nothing (bad inputs, a refused key):
			// no entry, so a later evaluation, e.g. once the key is fixed,
			// may run it.
			if err := e.o.Bus.Ledger().Delete(context.WithoutCancel(ctx), key); err != nil {
				e.o.Logger.Warn("could not remove the intent of a service that did not run", "ledger", key, "err", err)
			}
		case msg.IsPermanent(runErr):
			e.recordFailed(context.WithoutCancel(ctx), key, entry, runErr)
			e.audit(ctx, audit.Event{Source: sourceOf(p.Integration), Kind: audit.KindService, Integration: p.Integration,
				Item: p.Item, ID: key + ":failed",
				Text: fmt.Sprintf("Failed %s (task %s; not repeated for this item: it may have happened): %v", label, t.ID, runErr)})
		default:
			// The handler asks for a retry: the lane's next attempt may run it.
			if err := e.o.Bus.Ledger().Delete(context.WithoutCancel(ctx), key); err != nil {
				e.o.Logger.Warn("could not remove the intent of a service to retry", "ledger", key, "err", err)
			}
		}
		return res, runErr
	}
}

// serviceLedgerGate looks for the ledger entry of an irreversible service
// call on an item. None: (nil, nil), the service may run. One of another
// task, or settled: a skipped result. An intent of this very task (an earlier
// attempt was interrupted while the service ran): it is marked failed, the
// daily log says so, and the task fails permanently — the service is not run
// again.
func (e *Engine) serviceLedgerGate(ctx context.Context, key string, t *msg.Task, p ledgerPayload, label string) (skipped any, err error) {
	existing, err := e.findLedger(ctx, key)
	if err != nil || existing == "" {
		return nil, err
	}
	entry, rev, claimed, err := e.claimIntent(ctx, key, t.ID)
	if err != nil {
		return nil, err
	}
	if !claimed {
		return e.serviceSkipped(ctx, t, p, label, fmt.Sprintf("task %s, %s", entry.Task, entry.State)), nil
	}
	marked, err := e.markInterrupted(ctx, key, entry, rev)
	if err != nil {
		return nil, err
	}
	if !marked {
		return e.serviceSkipped(ctx, t, p, label, "handled by another delivery of this task"), nil
	}
	e.audit(ctx, audit.Event{Source: sourceOf(p.Integration), Kind: audit.KindService, Integration: p.Integration,
		Item: p.Item, ID: key + ":interrupted",
		Text: fmt.Sprintf("Interrupted %s (task %s): Steward stopped while it ran; not repeated (it may have happened)", label, t.ID)})
	return nil, msg.Permanent(fmt.Errorf("%s was interrupted (Steward stopped while it ran) and is not run again: it is not reversible and may have happened", label))
}

// serviceSkipped logs a service call skipped because the ledger has it for
// the item already, and returns the task's result.
func (e *Engine) serviceSkipped(ctx context.Context, t *msg.Task, p ledgerPayload, label, why string) map[string]any {
	text := fmt.Sprintf("%s already done for this item (%s)", label, why)
	e.o.Logger.Info("service call skipped: already done for this item", "task", t.ID, "type", t.Type, "item", p.Item, "reason", why)
	e.audit(ctx, audit.Event{Source: sourceOf(p.Integration), Kind: audit.KindService, Integration: p.Integration,
		Item: p.Item, ID: t.ID + ":already-done", Text: "Skipped " + text + "; not repeated"})
	return map[string]any{"skipped": text}
}

// serviceLedgerKey is the ledger key of an irreversible service call on an
// item: under the item's store key, the identity of the call label with its
// rendered inputs, like a rule's {service: {call, inputs}} action without its
// human_log and on_result.
func serviceLedgerKey(item, label string, inputs map[string]any) string {
	if inputs == nil {
		inputs = map[string]any{}
	}
	return ledgerKey(item, label, config.Action{Kind: config.ActionService, Name: "service",
		Service: &config.ServiceCall{Call: strings.TrimPrefix(label, "service:"), Inputs: inputs}})
}

// sourceOf is the daily-log source of a service task: its integration, or
// steward when it names none.
func sourceOf(integration string) string {
	if integration == "" {
		return "steward"
	}
	return integration
}
