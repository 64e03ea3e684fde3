package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/platform"
	"github.com/stewardhq/steward/internal/rules"
)

// Ledger states.
const (
	LedgerIntent = "intent" // written before an at-most-once action's side effect
	LedgerDone   = "done"
	LedgerFailed = "failed" // the action may or may not have happened; never repeated
)

// LedgerEntry records one action on one item (KV bucket "ledger", key
// <item key>.<action token>).
type LedgerEntry struct {
	Item       string    `json:"item"`
	Action     string    `json:"action"`
	Rule       int       `json:"rule"`
	Provenance string    `json:"provenance"`
	State      string    `json:"state"`
	Task       string    `json:"task"`
	At         time.Time `json:"at"`
	Error      string    `json:"error,omitempty"`
}

type actPayload struct {
	itemRef
	Actions []plannedAction `json:"actions"`
}

// act is the generic act stage. For each action in the payload it:
//  1. re-evaluates the rules on the item as stored now and performs the action
//     only if the rules still produce it — with the provenance of the rule that
//     produces it now, not the one in the payload (a forged or stale task cannot
//     smuggle an action in);
//  2. re-checks the safety gate (rules.AllowAtAct): irreversible actions need rule
//     provenance or !yolo; a missing provenance counts as llm;
//  3. for an at-most-once action (irreversible, or declared Once such as
//     draft_reply) writes the ledger intent before the side effect, and skips the
//     action when an entry exists — a redelivery after a crash never repeats it;
//  4. asks the integration's Actor to perform it, records the outcome in the
//     ledger and the daily log.
func (e *Engine) act(ctx context.Context, t *msg.Task) (any, error) {
	var p actPayload
	if err := t.Decode(&p); err != nil {
		return nil, err
	}
	if p.Integration == "" || p.Platform == "" || p.Key == "" {
		return nil, msg.Permanent(fmt.Errorf("%s: payload needs integration, platform and key", t.Type))
	}
	r, err := e.resolve(ctx, p.itemRef)
	if err != nil {
		return nil, err
	}
	if r.rules == nil || r.mp == nil {
		return nil, msg.Permanent(fmt.Errorf("no rules compiled for %s/%s", p.Integration, p.Platform))
	}
	impl := e.impls[r.in.Type]
	var pl platform.Platform
	if impl != nil {
		pl = impl.Platform(p.Platform)
	}
	if pl == nil {
		return nil, msg.Permanent(fmt.Errorf("Unknown task type: %s (no actor for %s.%s)", t.Type, r.in.Type, p.Platform))
	}
	current := r.rules.Evaluate(rulesFacts(r), r.item.Classification, e.o.Now())

	var actor platform.Actor
	var lastErr error
	defer func() {
		if actor != nil {
			actor.Close(lastErr)
		}
	}()
	var done, skipped []string
	for _, want := range p.Actions {
		match, ok := findPlanned(current, want)
		if !ok {
			e.o.Logger.Warn("action no longer produced by the rules (classification or config changed); skipped",
				"item", p.Key, "action", want.Label, "rule", want.Rule)
			skipped = append(skipped, want.Label+" (no longer decided)")
			continue
		}
		if err := rules.AllowAtAct(match.Action, match.Provenance, r.mp, r.d.cfg, e.o.Registry); err != nil {
			e.audit(ctx, audit.Event{Source: p.Integration, Kind: audit.KindBlocked, Integration: p.Integration, Platform: p.Platform,
				Item: p.Key, ID: t.ID + ":blocked:" + want.Label,
				Text: fmt.Sprintf("Blocked %s on %s: %v", match.Label, describeItem(r.item), err)})
			skipped = append(skipped, match.Label+" (blocked)")
			continue
		}
		once := match.Irreversible || declaredOnce(r, match.Action)
		ledgerKey := r.storeKey + "." + msg.KeyToken(actionIdentity(match))
		entry := LedgerEntry{Item: r.storeKey, Action: match.Label, Rule: match.Rule, Provenance: match.Provenance,
			State: LedgerIntent, Task: t.ID, At: e.o.Now().UTC()}
		if once {
			if _, err := e.o.Bus.Ledger().Create(ctx, ledgerKey, entry); err != nil {
				if errors.Is(err, msg.ErrExists) {
					e.noteInterrupted(ctx, ledgerKey, t.ID, r, p, match.Label)
					skipped = append(skipped, match.Label+" (already done)")
					continue
				}
				lastErr = err
				return nil, err
			}
		}
		if actor == nil {
			actor, err = pl.OpenActor(ctx, e.env(), r.item)
			if err != nil {
				if once {
					_ = e.o.Bus.Ledger().Delete(ctx, ledgerKey) // nothing happened yet
				}
				lastErr = err
				return nil, err
			}
		}
		line, err := actor.Perform(ctx, match.Action)
		if err != nil {
			lastErr = err
			if once {
				if platform.IsNotPerformed(err) {
					_ = e.o.Bus.Ledger().Delete(ctx, ledgerKey)
				} else {
					entry.State, entry.Error, entry.At = LedgerFailed, err.Error(), e.o.Now().UTC()
					_, _ = e.o.Bus.Ledger().Put(ctx, ledgerKey, entry)
					e.audit(ctx, audit.Event{Source: p.Integration, Kind: audit.KindAction, Integration: p.Integration,
						Platform: p.Platform, Item: p.Key, ID: ledgerKey + ":failed",
						Text: fmt.Sprintf("Failed %s on %s (not retried: it may have happened): %v", match.Label, describeItem(r.item), err)})
				}
			}
			return nil, fmt.Errorf("%s: %w", match.Label, err)
		}
		entry.State, entry.At = LedgerDone, e.o.Now().UTC()
		if _, err := e.o.Bus.Ledger().Put(ctx, ledgerKey, entry); err != nil {
			e.o.Logger.Warn("could not record a done action", "ledger", ledgerKey, "err", err)
		}
		if line != "" {
			e.audit(ctx, audit.Event{Source: p.Integration, Kind: audit.KindAction, Integration: p.Integration,
				Platform: p.Platform, Item: p.Key, ID: ledgerKey + ":" + t.ID, Text: line})
		}
		done = append(done, match.Label)
	}
	return map[string]any{"done": done, "skipped": skipped}, nil
}

// rulesFacts adapts an item's facts for the rules engine.
func rulesFacts(r *resolved) rules.Resolver { return rules.Facts(r.item.Facts) }

// findPlanned finds want among the actions the rules produce now: same rule, same
// label, same configured action.
func findPlanned(current []rules.PlannedAction, want plannedAction) (rules.PlannedAction, bool) {
	wantID := actionJSON(want.Action)
	for _, c := range current {
		if c.Rule == want.Rule && c.Label == want.Label && actionJSON(c.Action) == wantID {
			return c, true
		}
	}
	return rules.PlannedAction{}, false
}

// actionIdentity identifies an action on an item for the ledger: its label and
// configuration (not the rule number, so reordering rules does not repeat it).
func actionIdentity(a rules.PlannedAction) string { return a.Label + "|" + actionJSON(a.Action) }

func actionJSON(a config.Action) string {
	b, err := json.Marshal(struct {
		Kind    config.ActionKind   `json:"kind"`
		Name    string              `json:"name,omitempty"`
		Data    map[string]any      `json:"data,omitempty"`
		Script  *config.ScriptRef   `json:"script,omitempty"`
		Service *config.ServiceCall `json:"service,omitempty"`
		Yolo    bool                `json:"yolo,omitempty"`
	}{a.Kind, a.Name, a.Data, a.Script, a.Service, a.Yolo})
	if err != nil {
		return a.Name
	}
	return string(b)
}

// declaredOnce reports whether the platform declares the action at-most-once
// (any declared key of a dict action that is Once makes it once).
func declaredOnce(r *resolved, a config.Action) bool {
	names := []string{a.Name}
	if a.Kind == config.ActionDict {
		names = a.Keys()
	}
	for _, n := range names {
		if d, ok := r.mp.Action(n); ok && (d.Once || d.Tier == manifest.Irreversible) {
			return true
		}
	}
	return false
}

// noteInterrupted turns an intent left by a crash (the action may or may not have
// happened) into a failed entry, once, and says so in the daily log. It is
// never retried.
func (e *Engine) noteInterrupted(ctx context.Context, ledgerKey, taskID string, r *resolved, p actPayload, label string) {
	var entry LedgerEntry
	rev, err := e.o.Bus.Ledger().Get(ctx, ledgerKey, &entry)
	// Only this task's own earlier attempt was interrupted; an intent of another
	// task may still be in flight.
	if err != nil || entry.State != LedgerIntent || entry.Task != taskID {
		return
	}
	entry.State, entry.Error, entry.At = LedgerFailed, "interrupted (Steward stopped while it ran); not repeated", e.o.Now().UTC()
	if _, err := e.o.Bus.Ledger().Update(ctx, ledgerKey, entry, rev); err != nil {
		return
	}
	e.audit(ctx, audit.Event{Source: p.Integration, Kind: audit.KindAction, Integration: p.Integration, Platform: p.Platform,
		Item: p.Key, ID: ledgerKey + ":interrupted",
		Text: fmt.Sprintf("Interrupted %s on %s: Steward stopped while it ran; not repeated (it may have happened)", label, describeItem(r.item))})
}
