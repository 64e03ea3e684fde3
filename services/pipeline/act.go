package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/items"
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
// <item store key>.<items.KeyToken of ActionIdentity>, see LedgerKeys; entries
// written by earlier versions — with the !yolo tag in the identity, or under
// 32-bit tokens — are still honoured).
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
//     draft_reply) looks for its ledger entry (key <item store key>.<64-bit
//     token of ActionIdentity>, or a key an earlier version used) and skips
//     the action when one exists — a redelivery after a crash never repeats
//     it, nor does a second rule deciding the same action; an interrupted
//     intent of the same task is resumed when the actor can tell whether the
//     side effect happened (platform.KeyedActor: drafts are found by their
//     Message-ID, so they are exactly once), and marked failed otherwise;
//  4. opens the integration's Actor (connects, finds and checks the message),
//     then writes the intent, right before the side effect, asks the actor to
//     perform the action, and records the outcome in the ledger and the daily
//     log.
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
	handled := map[string]bool{} // ledger keys of at-most-once actions met in this task
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
		lookup := ledgerLookupKeys(p.Integration, p.Platform, p.Key, match.Label, match.Action)
		ledgerKey := lookup[0]
		entry := LedgerEntry{Item: r.storeKey, Action: match.Label, Rule: match.Rule, Provenance: match.Provenance,
			State: LedgerIntent, Task: t.ID, At: e.o.Now().UTC()}
		if once && handled[ledgerKey] {
			// Another rule decided the same action (same identity) and it
			// was handled above in this task.
			skipped = append(skipped, match.Label+" (already done)")
			continue
		}
		if once {
			handled[ledgerKey] = true
			// An entry under the key of today, or under a key an earlier
			// version used for the same action: it was (or may have been)
			// done.
			existing, err := e.findLedger(ctx, lookup...)
			if err != nil {
				lastErr = err
				return nil, err
			}
			if existing != "" {
				line, resumed, err := e.resume(ctx, existing, ledgerKey, t.ID, r, p, pl, &actor, match)
				if err != nil {
					lastErr = err
					return nil, fmt.Errorf("%s: %w", match.Label, err)
				}
				if !resumed {
					skipped = append(skipped, match.Label+" (already done)")
					continue
				}
				if line != "" {
					e.audit(ctx, audit.Event{Source: p.Integration, Kind: audit.KindAction, Integration: p.Integration,
						Platform: p.Platform, Item: p.Key, ID: existing + ":" + t.ID + ":resumed", Text: line})
				}
				done = append(done, match.Label)
				continue
			}
		}
		// Connect, find and check the message first: the intent is written as
		// late as possible, right before the side effect, so a crash or a
		// refusal before it loses nothing.
		if actor == nil {
			actor, err = pl.OpenActor(ctx, e.env(), r.item)
			if err != nil {
				lastErr = err
				return nil, err
			}
		}
		if once {
			created, err := e.writeIntent(ctx, ledgerKey, entry)
			if err != nil {
				lastErr = err
				return nil, err
			}
			if !created {
				// Another task got there between the lookup and now.
				skipped = append(skipped, match.Label+" (already done)")
				continue
			}
		}
		var line string
		ka, keyed := actor.(platform.KeyedActor)
		if keyed && once {
			line, err = ka.PerformKeyed(ctx, match.Action, ledgerKey)
		} else {
			line, err = actor.Perform(ctx, match.Action)
		}
		if err != nil {
			lastErr = err
			switch {
			case !once:
			case keyed && ka.Resumable(match.Action) && !platform.IsNotPerformed(err):
				// It may have happened, and the actor can tell: the intent
				// stays, and the task's retry resumes it (exactly once).
				entry.Error = err.Error()
				if _, perr := e.o.Bus.Ledger().Put(ctx, ledgerKey, entry); perr != nil {
					e.o.Logger.Warn("could not record an action error", "ledger", ledgerKey, "err", perr)
				}
			default:
				e.recordFailure(ctx, ledgerKey, entry, err, p, r, match.Label)
			}
			return nil, fmt.Errorf("%s: %w", match.Label, err)
		}
		e.recordDone(ctx, ledgerKey, entry)
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

// LedgerKeys returns the ledger key of an action on an item, current, and
// legacy, the key its entry had before 64-bit key tokens
// (<items.LegacyStoreKey>.<items.LegacyKeyToken> of the identity of that
// time, which included the !yolo tag).
//
// current is <items.StoreKey>.<items.KeyToken of ActionIdentity>: the action
// is identified by its label and configuration, not by the rule that decided
// it nor by its !yolo tag, so two rules deciding the same action on one item
// share one entry (and reordering rules repeats nothing). The act stage also
// honours every key an earlier version may have used for the same action
// (see ledgerLookupKeys).
func LedgerKeys(integration, platform, key, label string, a config.Action) (current, legacy string) {
	return ledgerKey(items.StoreKey(integration, platform, key), label, a),
		items.LegacyStoreKey(integration, platform, key) + "." + items.LegacyKeyToken(legacyIdentity(label, a))
}

// ledgerKey is the ledger key of an action on what storeKey names: an item's
// store key, or, for a script run that no item decided, its task's (see
// scriptLedgerKey).
func ledgerKey(storeKey, label string, a config.Action) string {
	return storeKey + "." + items.KeyToken(ActionIdentity(label, a))
}

// ActionIdentity is what makes two decided actions the same side effect for
// the at-most-once ledger: the action's label and configuration (kind, name,
// mapping, script or service call with their inputs). Deliberately not part of
// it: the rule that decided it, the !yolo tag, the position in the config. A
// mapping with one key set to true is the simple action of that name
// ({unsubscribe: true} is unsubscribe). The rule is generic over action kinds:
// platform actions, scripts and service calls are identified alike.
func ActionIdentity(label string, a config.Action) string {
	a.Yolo = false
	if a.Kind == config.ActionDict && len(a.Data) == 1 {
		for k, v := range a.Data {
			if v == true || v == nil {
				a = config.Action{Kind: config.ActionSimple, Name: k}
			}
		}
	}
	return label + "|" + actionJSON(a)
}

// legacyIdentity is the identity ledger keys were derived from before
// ActionIdentity: it included the !yolo tag.
func legacyIdentity(label string, a config.Action) string { return label + "|" + actionJSON(a) }

// ledgerLookupKeys lists every key under which an entry means the action was
// (or may have been) done on the item: the current key first, then the keys
// of earlier versions — the identity with the !yolo tag (so an action a
// !yolo rule did before the upgrade is not repeated by a plain rule, nor the
// other way round), and both under the 32-bit keys of before 64-bit tokens.
func ledgerLookupKeys(integration, platform, key, label string, a config.Action) []string {
	current, _ := LedgerKeys(integration, platform, key, label, a)
	out := []string{current}
	add := func(k string) {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	for _, yolo := range []bool{false, true} {
		v := a
		v.Yolo = yolo
		add(items.StoreKey(integration, platform, key) + "." + items.KeyToken(legacyIdentity(label, v)))
	}
	for _, yolo := range []bool{false, true} {
		v := a
		v.Yolo = yolo
		add(items.LegacyStoreKey(integration, platform, key) + "." + items.LegacyKeyToken(legacyIdentity(label, v)))
	}
	return out
}

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

// findLedger returns the first of keys that has a ledger entry ("" = none).
func (e *Engine) findLedger(ctx context.Context, keys ...string) (string, error) {
	for _, k := range keys {
		var entry LedgerEntry
		_, err := e.o.Bus.Ledger().Get(ctx, k, &entry)
		switch {
		case err == nil:
			return k, nil
		case !errors.Is(err, msg.ErrNotFound):
			return "", fmt.Errorf("ledger %s: %w", k, err)
		}
	}
	return "", nil
}

// resume handles an at-most-once action that already has a ledger entry.
// Done or failed: nothing to do. An intent of this very task (its earlier
// attempt was interrupted between the intent and the completion): an actor
// that can tell (platform.KeyedActor) finishes it exactly once and the entry
// becomes done; otherwise the entry becomes failed and the action is never
// repeated. An intent of another task may still be in flight and is left
// alone; an intent under an earlier version's key is never resumed.
// resumed reports whether the action is now done by this call.
func (e *Engine) resume(ctx context.Context, ledgerKey, current, taskID string, r *resolved, p actPayload, pl platform.Platform,
	actor *platform.Actor, match rules.PlannedAction) (line string, resumed bool, err error) {
	entry, rev, claimed, err := e.claimIntent(ctx, ledgerKey, taskID)
	if err != nil || !claimed {
		return "", false, err
	}
	// Only an intent under today's key was written with a side effect keyed
	// by it; one from before the upgrade cannot be found again.
	ok := ledgerKey == current
	if ok && *actor == nil {
		a, err := pl.OpenActor(ctx, e.env(), r.item)
		if err != nil {
			return "", false, err // the intent stays: the redelivery tries again
		}
		*actor = a
	}
	if ok {
		var ka platform.KeyedActor
		if ka, ok = (*actor).(platform.KeyedActor); ok {
			line, ok, err = ka.Resume(ctx, match.Action, ledgerKey)
		}
	}
	switch {
	case !ok:
		if marked, err := e.markInterrupted(ctx, ledgerKey, entry, rev); err != nil || !marked {
			return "", false, err
		}
		e.audit(ctx, audit.Event{Source: p.Integration, Kind: audit.KindAction, Integration: p.Integration, Platform: p.Platform,
			Item: p.Key, ID: ledgerKey + ":interrupted",
			Text: fmt.Sprintf("Interrupted %s on %s: Steward stopped while it ran; not repeated (it may have happened)", match.Label, describeItem(r.item))})
		return "", false, nil
	case err != nil:
		if platform.IsNotPerformed(err) {
			_ = e.o.Bus.Ledger().Delete(ctx, ledgerKey)
		}
		// Otherwise the intent stays: the task's retry resumes it again.
		return "", false, err
	}
	entry.State, entry.At = LedgerDone, e.o.Now().UTC()
	if _, err := e.o.Bus.Ledger().Put(ctx, ledgerKey, entry); err != nil {
		// The intent stays: a retry finds the side effect and records it.
		return "", false, fmt.Errorf("ledger %s: record done: %w", ledgerKey, err)
	}
	return line, true, nil
}

// recordFailure settles the intent of an action whose Perform failed: deleted
// when the side effect certainly did not happen (platform.NotPerformed, so a
// retry may do it), failed — never repeated — otherwise.
func (e *Engine) recordFailure(ctx context.Context, ledgerKey string, entry LedgerEntry, err error, p actPayload, r *resolved, label string) {
	if platform.IsNotPerformed(err) {
		_ = e.o.Bus.Ledger().Delete(ctx, ledgerKey)
		return
	}
	e.recordFailed(ctx, ledgerKey, entry, err)
	e.audit(ctx, audit.Event{Source: p.Integration, Kind: audit.KindAction, Integration: p.Integration,
		Platform: p.Platform, Item: p.Key, ID: ledgerKey + ":failed",
		Text: fmt.Sprintf("Failed %s on %s (not retried: it may have happened): %v", label, describeItem(r.item), err)})
}

// The ledger steps every at-most-once side effect shares (the act stage's
// platform actions, the script.run handler's irreversible scripts and the
// irreversible service tasks of service_ledger.go).

// writeIntent records, right before an at-most-once side effect, that it is
// about to happen. created is false when an entry exists already: another task
// got there first, and the side effect must not happen.
func (e *Engine) writeIntent(ctx context.Context, key string, entry LedgerEntry) (created bool, err error) {
	if _, err := e.o.Bus.Ledger().Create(ctx, key, entry); err != nil {
		if errors.Is(err, msg.ErrExists) {
			return false, nil
		}
		return false, fmt.Errorf("ledger %s: %w", key, err)
	}
	return true, nil
}

// claimIntent reads the entry under key and, when it is an intent of taskID
// (an earlier attempt of this task was interrupted between the intent and the
// completion), claims it with a compare-and-set, so two redeliveries never
// both handle it. claimed is false for any other entry (done, failed, another
// task's intent) or when another writer won the claim.
func (e *Engine) claimIntent(ctx context.Context, key, taskID string) (entry LedgerEntry, rev uint64, claimed bool, err error) {
	rev, err = e.o.Bus.Ledger().Get(ctx, key, &entry)
	if err != nil {
		return entry, 0, false, fmt.Errorf("ledger %s: %w", key, err)
	}
	if entry.State != LedgerIntent || entry.Task != taskID {
		return entry, rev, false, nil
	}
	entry.At = e.o.Now().UTC()
	if rev, err = e.o.Bus.Ledger().Update(ctx, key, entry, rev); err != nil {
		if errors.Is(err, msg.ErrConflict) {
			return entry, 0, false, nil
		}
		return entry, 0, false, fmt.Errorf("ledger %s: %w", key, err)
	}
	return entry, rev, true, nil
}

// markInterrupted records a claimed intent (revision rev) as failed: the side
// effect may or may not have happened and is never repeated. marked is false
// when another writer changed the entry first.
func (e *Engine) markInterrupted(ctx context.Context, key string, entry LedgerEntry, rev uint64) (marked bool, err error) {
	entry.State, entry.Error, entry.At = LedgerFailed, "interrupted (Steward stopped while it ran); not repeated", e.o.Now().UTC()
	if _, err := e.o.Bus.Ledger().Update(ctx, key, entry, rev); err != nil {
		if errors.Is(err, msg.ErrConflict) {
			return false, nil
		}
		return false, fmt.Errorf("ledger %s: %w", key, err)
	}
	return true, nil
}

// recordFailed records an at-most-once action that failed after its intent:
// it may have happened, so it is never repeated.
func (e *Engine) recordFailed(ctx context.Context, key string, entry LedgerEntry, cause error) {
	entry.State, entry.Error, entry.At = LedgerFailed, cause.Error(), e.o.Now().UTC()
	if _, err := e.o.Bus.Ledger().Put(ctx, key, entry); err != nil {
		e.o.Logger.Warn("could not record a failed action", "ledger", key, "err", err)
	}
}

// recordDone records an at-most-once action as done.
func (e *Engine) recordDone(ctx context.Context, key string, entry LedgerEntry) {
	entry.State, entry.At = LedgerDone, e.o.Now().UTC()
	if _, err := e.o.Bus.Ledger().Put(ctx, key, entry); err != nil {
		e.o.Logger.Warn("could not record a done action", "ledger", key, "err", err)
	}
}
