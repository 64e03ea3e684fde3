package email_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testkit/llmfake"
	"github.com/stewardhq/steward/services/pipeline"
)

// onceConfig has two rules that both decide unsubscribe for the newsletter:
// one on deterministic facts, one from the LLM tagged !yolo.
const onceConfig = fakeLLM + personalInbox + `        classifications:
          newsletter: is this a newsletter or marketing email?
        automations:
          - when: {is_unsubscribable: true, domain: shop.example.com}
            then: unsubscribe
          - when: {classification.newsletter: ">=0.9"}
            then: [!yolo unsubscribe]
`

// seedNewsletter puts the newsletter fixture, pointing at the stand-in
// unsubscribe endpoint, into INBOX.
func seedNewsletter(w *world) {
	raw, err := os.ReadFile(filepath.Join("message", "testdata", "newsletter.eml"))
	if err != nil {
		w.t.Fatal(err)
	}
	raw = []byte(strings.ReplaceAll(string(raw), "https://shop.example.com/unsubscribe", w.unsub.URL+"/unsubscribe"))
	w.imap.Append(w.t, "alice", "INBOX", raw)
}

// Issue 11, item 5: two rules deciding unsubscribe for one mail (one plain,
// one tagged !yolo) send one POST and leave one ledger entry; so do later
// cycles.
func TestUnsubscribeFromTwoRulesOnce(t *testing.T) {
	w := newWorldWith(t, onceConfig, seedNewsletter, llmfake.WithFixedReply(llmfake.JSON(map[string]any{"newsletter": 0.99})))
	w.cycle()
	acts := actTasks(t, w)
	if len(acts) != 1 || strings.Count(string(acts[0].Payload), `"label":"unsubscribe"`) != 2 {
		t.Fatalf("act tasks %d; want one deciding unsubscribe twice (the test would prove nothing)", len(acts))
	}
	if n := w.posts.Load(); n != 1 {
		t.Fatalf("%d unsubscribe POSTs, want 1: %v", n, w.postBody)
	}
	ctx := context.Background()
	keys, err := w.bus.Ledger().Keys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	entries := 0
	for _, k := range keys {
		var e pipeline.LedgerEntry
		if _, err := w.bus.Ledger().Get(ctx, k, &e); err == nil && e.Action == "unsubscribe" {
			entries++
			if e.State != pipeline.LedgerDone {
				t.Errorf("ledger entry %s is %s", k, e.State)
			}
		}
	}
	if entries != 1 {
		t.Fatalf("%d ledger entries for unsubscribe in %v, want 1", entries, keys)
	}
	// Later cycles repeat nothing (the mail stays in INBOX).
	w.setConfig(strings.Replace(onceConfig, "newsletter or marketing email?", "newsletter?", 1))
	w.cycle()
	if n := w.posts.Load(); n != 1 {
		t.Fatalf("%d unsubscribe POSTs after another cycle, want 1", n)
	}
}
