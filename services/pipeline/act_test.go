package pipeline

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/platform"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// openHook is the fake integration with a hook run when an actor opens.
type openHook struct {
	*fakeIntegration
	onOpen func()
}

func (o *openHook) Platform(name string) platform.Platform {
	if name == "feed" {
		return o
	}
	return nil
}

func (o *openHook) OpenActor(ctx context.Context, env platform.Env, it *items.Item) (platform.Actor, error) {
	o.onOpen()
	return o.fakeIntegration.OpenActor(ctx, env, it)
}

// Audit 10, finding 9: the at-most-once intent is written after the actor has
// connected and found its item (right before the side effect), not before:
// a crash or a failure while opening loses nothing.
func TestIntentWrittenAfterOpen(t *testing.T) {
	h := newHarness(t, 1, llmfake.WithFixedReply(llmfake.JSON(map[string]any{"urgent": 0.1, "spam": false})))
	var mu sync.Mutex
	var atOpen []int
	hook := &openHook{fakeIntegration: h.impl, onOpen: func() {
		keys, _ := h.bus.Ledger().Keys(context.Background(), "")
		mu.Lock()
		atOpen = append(atOpen, len(keys))
		mu.Unlock()
	}}
	var err error
	h.engine, err = NewEngine(EngineOptions{Config: h.config, Registry: h.reg, Integrations: []platform.Integration{hook}, Bus: h.bus, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	h.start()
	h.addItem("b", map[string]any{"author": "boss"}, "b") // rule 1: publish (irreversible)
	waitFor(t, 15*time.Second, "publish", func() bool { return slices.Contains(h.impl.actions(), "b:publish") })
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(atOpen, []int{0}) {
		t.Fatalf("ledger entries when the actor opened: %v; want none (the intent comes after)", atOpen)
	}
}

// Ledger entries written before 64-bit key tokens (under the 32-bit key) still
// prevent a repeat after the upgrade.
func TestLegacyLedgerEntryHonoured(t *testing.T) {
	h := newHarness(t, 1, llmfake.WithFixedReply(llmfake.JSON(map[string]any{"urgent": 0.9, "spam": false})))
	h.start()
	h.addItem("a", map[string]any{"author": "x"}, "a")
	waitFor(t, 15*time.Second, "act", func() bool {
		acts := h.tasksOf("notes.feed.act")
		return len(acts) == 1 && acts[0].Status == msg.StateDone
	})
	if got := h.impl.actions(); !slices.Equal(got, []string{"a:tag", "a:star"}) {
		t.Fatalf("actions %v", got)
	}
	act := h.tasksOf("notes.feed.act")[0]
	var p actPayload
	if err := json.Unmarshal(act.Payload, &p); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Move star's entry to where Steward stored it before the upgrade.
	for _, a := range p.Actions {
		if a.Label != "star" {
			continue
		}
		current, legacy := LedgerKeys("notes.mine", "feed", "a", a.Label, a.Action)
		if current == legacy || len(current) <= len(legacy) {
			t.Fatalf("keys %q and %q: want a longer current key", current, legacy)
		}
		var e LedgerEntry
		if _, err := h.bus.Ledger().Get(ctx, current, &e); err != nil {
			t.Fatalf("no entry under %s: %v", current, err)
		}
		if err := h.bus.Ledger().Delete(ctx, current); err != nil {
			t.Fatal(err)
		}
		if _, err := h.bus.Ledger().Put(ctx, legacy, e); err != nil {
			t.Fatal(err)
		}
	}
	// The same actions decided again (a new act task).
	var payload map[string]any
	_ = json.Unmarshal(act.Payload, &payload)
	if _, err := h.bus.Publish(ctx, msg.Spec{Type: "notes.feed.act", Payload: payload, Priority: act.Priority, Lane: act.Lane}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the second act", func() bool {
		acts := h.tasksOf("notes.feed.act")
		return len(acts) == 2 && acts[0].Status == msg.StateDone && acts[1].Status == msg.StateDone
	})
	if got := h.impl.actions(); !slices.Equal(got, []string{"a:tag", "a:star", "a:tag"}) {
		t.Fatalf("actions %v: star (once) must not be repeated over a legacy ledger entry", got)
	}
}
