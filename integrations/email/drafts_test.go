package email_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
	"github.com/stewardhq/steward/services/pipeline"
)

// actTasks returns the act tasks the bus knows.
func actTasks(t *testing.T, w *world) []msg.Status {
	t.Helper()
	acts, err := w.bus.Tasks(context.Background(), func(s *msg.Status) bool { return s.Type == "email.inbox.act" })
	if err != nil {
		t.Fatal(err)
	}
	return acts
}

// redeliver runs a task again under its own id, as the task layer does after
// a crash (the handler, not a new task).
func redeliver(ctx context.Context, w *world, st msg.Status, attempt int) error {
	_, err := w.router.Dispatch(ctx, &msg.Task{ID: st.ID, Type: st.Type, Priority: st.Priority, Lane: st.Lane,
		Provenance: st.Provenance, Payload: json.RawMessage(st.Payload), Attempt: attempt, MaxAttempts: 1000})
	return err
}

// draftsBySubject counts the drafts per subject and checks their Message-IDs
// are Steward's deterministic ones.
func draftsBySubject(t *testing.T, w *world) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, d := range w.imap.Messages(t, "alice", "Drafts") {
		if id := headerOf(d.Raw, "Message-ID"); !strings.HasPrefix(id, "<steward-draft-") || !strings.HasSuffix(id, "@steward.invalid>") {
			t.Errorf("draft Message-ID %q is not derived from its ledger key", id)
		}
		out[headerOf(d.Raw, "Subject")]++
	}
	return out
}

// Audit 10, finding 9: a crash between the ledger intent and the APPEND, or
// between the APPEND and the completion, used to lose the draft (the intent
// became "interrupted, not repeated"). The draft's Message-ID is derived from
// its ledger key, so the redelivery looks for it in Drafts: found → done, not
// found → APPENDed. Exactly one draft either way.
func TestDraftExactlyOnceAcrossCrashes(t *testing.T) {
	w := newWorldWith(t, identityConfigWith("Thursday works."), func(w *world) {
		w.imap.Append(t, "alice", "INBOX", legitMail)
	}, llmfake.WithReply(identityClassifier))
	w.cycle()
	ctx := context.Background()
	drafts := w.imap.Messages(t, "alice", "Drafts")
	if len(drafts) != 1 {
		t.Fatalf("%d drafts", len(drafts))
	}
	acts := actTasks(t, w)
	if len(acts) != 1 {
		t.Fatalf("%d act tasks", len(acts))
	}
	keys, _ := w.bus.Ledger().Keys(ctx, "")
	if len(keys) != 1 {
		t.Fatalf("ledger %v", keys)
	}
	// The state a crash leaves: the intent of this task, no completion.
	crash := func() {
		t.Helper()
		var e pipeline.LedgerEntry
		if _, err := w.bus.Ledger().Get(ctx, keys[0], &e); err != nil {
			t.Fatal(err)
		}
		e.State, e.Task = pipeline.LedgerIntent, acts[0].ID
		if _, err := w.bus.Ledger().Put(ctx, keys[0], e); err != nil {
			t.Fatal(err)
		}
	}
	done := func(when string) {
		t.Helper()
		var e pipeline.LedgerEntry
		if _, err := w.bus.Ledger().Get(ctx, keys[0], &e); err != nil || e.State != pipeline.LedgerDone {
			t.Errorf("%s: ledger %+v, %v; want done", when, e, err)
		}
		if got := draftsBySubject(t, w); len(got) != 1 || got["Re: Lunch on Thursday"] != 1 {
			t.Errorf("%s: drafts %v; want exactly one", when, got)
		}
	}

	// Crash after the APPEND, before the completion was recorded.
	crash()
	if err := redeliver(ctx, w, acts[0], 2); err != nil {
		t.Fatal(err)
	}
	done("crash after the APPEND")

	// Crash after the intent, before the APPEND.
	w.imap.Delete(t, "alice", "Drafts", drafts[0].UID)
	crash()
	if err := redeliver(ctx, w, acts[0], 3); err != nil {
		t.Fatal(err)
	}
	done("crash before the APPEND")

	// A redelivery after the completion does nothing.
	if err := redeliver(ctx, w, acts[0], 4); err != nil {
		t.Fatal(err)
	}
	done("redelivery after completion")
}

// A crash loop: every act task is run, cancelled at a varying moment (before,
// during or after the intent, the APPEND or the completion) and run again
// under its own id until it succeeds. Each mail ends with exactly one draft.
func TestDraftCrashLoop(t *testing.T) {
	const mails = 12
	disabled := strings.Replace(identityConfigWith("Thursday works."),
		`{classification.requires_response: true, classification.human: ">=0.8"}`, "{domain: nowhere.example}", 1)
	w := newWorldWith(t, disabled, func(w *world) {
		for i := range mails {
			w.imap.Append(t, "alice", "INBOX", mail("Bob <bob@example.org>", fmt.Sprintf("<lunch-%d@example.org>", i),
				fmt.Sprintf("Lunch on Thursday %d", i), "Are you free?"))
		}
	}, llmfake.WithReply(identityClassifier))
	w.cycle()
	// Stop the workers: this test delivers the act tasks itself.
	w.cancel()
	w.wg.Wait()
	w.setConfig(identityConfigWith("Thursday works."))
	ctx := context.Background()
	for _, it := range mustItems(t, w) {
		payload, _ := json.Marshal(map[string]any{"integration": it.Integration, "platform": it.Platform, "key": it.Key})
		if _, err := w.router.Dispatch(ctx, &msg.Task{ID: "evaluate-" + it.Key[3:15], Type: "email.inbox.evaluate", Payload: payload, Attempt: 1, MaxAttempts: 5}); err != nil {
			t.Fatal(err)
		}
	}
	var pending []msg.Status
	for _, a := range actTasks(t, w) {
		if a.Status == msg.StatePending {
			pending = append(pending, a)
		}
	}
	if len(pending) != mails {
		t.Fatalf("%d act tasks pending, want %d", len(pending), mails)
	}
	crashes := 0
	for i, act := range pending {
		for attempt := 1; ; attempt++ {
			if attempt > 100 {
				t.Fatalf("act %s never succeeded", act.ID)
			}
			// The cancellation point varies with the mail and the attempt, and
			// moves later with each attempt so that one eventually finishes;
			// where it lands does not matter to the assertion.
			runCtx, cancel := context.WithCancel(ctx)
			timer := time.AfterFunc(time.Duration((i*7+attempt*3)%20+attempt*attempt)*time.Millisecond, cancel)
			err := redeliver(runCtx, w, act, attempt)
			timer.Stop()
			cancel()
			if err == nil {
				break
			}
			crashes++
		}
	}
	got := draftsBySubject(t, w)
	lost, dup := 0, 0
	for i := range mails {
		switch n := got[fmt.Sprintf("Re: Lunch on Thursday %d", i)]; {
		case n == 0:
			lost++
		case n > 1:
			dup++
		}
	}
	t.Logf("%d mails, %d crashes: %d drafts lost, %d duplicated", mails, crashes, lost, dup)
	if lost != 0 || dup != 0 {
		t.Errorf("%d drafts lost, %d duplicated; want exactly one per mail: %v", lost, dup, got)
	}
}
