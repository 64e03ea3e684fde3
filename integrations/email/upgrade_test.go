package email_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
	"github.com/stewardhq/steward/services/pipeline"
)

// toLegacy rewrites the one item and its ledger entries the way Steward
// stored them before content identity and 64-bit key tokens: the item keyed
// by its Message-ID under the 32-bit store key, no digest, no references, and
// the ledger entries under their 32-bit keys.
func toLegacy(t *testing.T, w *world) *items.Item {
	t.Helper()
	ctx := context.Background()
	list := mustItems(t, w)
	if len(list) != 1 {
		t.Fatalf("%d items", len(list))
	}
	it := *list[0]
	var acts []struct {
		Label  string        `json:"label"`
		Action config.Action `json:"action"`
	}
	for _, a := range actTasks(t, w) {
		var p struct {
			Actions []struct {
				Label  string        `json:"label"`
				Action config.Action `json:"action"`
			} `json:"actions"`
		}
		if err := json.Unmarshal(a.Payload, &p); err != nil {
			t.Fatal(err)
		}
		acts = append(acts, p.Actions...)
	}
	legacy := it
	legacy.Key, _ = it.Facts["message_id"].(string)
	legacy.Digest, legacy.Refs, legacy.RulesHash = "", nil, "" // evaluated again at the next check
	if err := w.bus.Items().Delete(ctx, it.StoreKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.bus.Items().Put(ctx, items.LegacyStoreKey(legacy.Integration, legacy.Platform, legacy.Key), legacy); err != nil {
		t.Fatal(err)
	}
	moved := 0
	for _, a := range acts {
		current, _ := pipeline.LedgerKeys(it.Integration, it.Platform, it.Key, a.Label, a.Action)
		_, old := pipeline.LedgerKeys(legacy.Integration, legacy.Platform, legacy.Key, a.Label, a.Action)
		var e pipeline.LedgerEntry
		if _, err := w.bus.Ledger().Get(ctx, current, &e); err != nil {
			continue
		}
		e.Item = items.LegacyStoreKey(legacy.Integration, legacy.Platform, legacy.Key)
		if err := w.bus.Ledger().Delete(ctx, current); err != nil {
			t.Fatal(err)
		}
		if _, err := w.bus.Ledger().Put(ctx, old, e); err != nil {
			t.Fatal(err)
		}
		moved++
	}
	if moved != 1 {
		t.Fatalf("%d ledger entries rewritten, want the draft's", moved)
	}
	return &legacy
}

// Items and ledger entries stored before the upgrade are neither processed
// again nor repeated: the legacy item is recognised by its UID, its draft's
// 32-bit ledger entry stops a second draft when the rules are evaluated
// again, a move out and back finds it again by its recorded content (and
// records its digest), and a new mail reusing its Message-ID is another item.
func TestUpgradeKeepsLegacyItemsAndLedger(t *testing.T) {
	w := newWorldWith(t, identityConfigWith("Thursday works."), func(w *world) {
		w.imap.Append(t, "alice", "INBOX", legitMail)
	}, llmfake.WithReply(identityClassifier))
	w.cycle()
	legacy := toLegacy(t, w)
	llmCalls := len(w.fake.Requests())

	// The check re-evaluates it (its rules hash is unknown): no second draft.
	w.cycle()
	if got := draftsOf(t, w); len(got) != 1 {
		t.Fatalf("drafts %v after the upgrade, want the one from before", got)
	}
	list := mustItems(t, w)
	if len(list) != 1 || list[0].Key != legacy.Key {
		t.Fatalf("items %v, want the legacy item only", keysOf(list))
	}
	if list[0].RulesHash == "" {
		t.Error("the legacy item was not evaluated again (the test would prove nothing)")
	}

	// Moved out and back: a new UID, found again by its content.
	uid := w.imap.Messages(t, "alice", "INBOX")[0].UID
	w.imap.Move(t, "alice", "Archive", w.imap.Move(t, "alice", "INBOX", uid, "Archive"), "INBOX")
	w.cycle()
	list = mustItems(t, w)
	if len(list) != 1 || list[0].Key != legacy.Key || list[0].Digest == "" {
		t.Fatalf("items %v (digest %q), want the legacy item with its digest recorded", keysOf(list), list[0].Digest)
	}
	if n := len(w.fake.Requests()); n != llmCalls {
		t.Errorf("%d LLM calls for a legacy item", n-llmCalls)
	}

	// A different mail with its Message-ID is another item.
	w.imap.Append(t, "alice", "INBOX", attackerMail)
	w.cycle()
	if list = mustItems(t, w); len(list) != 2 {
		t.Fatalf("items %v, want the legacy item and the new mail", keysOf(list))
	}
	if got := draftsOf(t, w); len(got) != 1 {
		t.Errorf("drafts %v, want the one from before", got)
	}
}

func draftsOf(t *testing.T, w *world) []string {
	t.Helper()
	var out []string
	for _, d := range w.imap.Messages(t, "alice", "Drafts") {
		out = append(out, headerOf(d.Raw, "To"))
	}
	return out
}

func keysOf(list []*items.Item) []string {
	var out []string
	for _, it := range list {
		out = append(out, it.Key)
	}
	return out
}
