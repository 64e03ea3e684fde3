package email_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/email"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// identityConfig drafts a reply to a personal mail that needs one and
// archives mail from evil.example by its own sender domain. %[4]s is the
// draft text (changing it changes the rules, so every item is evaluated
// again).
const identityConfig = fakeLLM + personalInbox + `        classifications:
          human: is this a personal email written by a human?
          requires_response:
            prompt: does this email require a response from me?
            type: boolean
        automations:
          - when: {domain: evil.example}
            then: archive
          - when: {classification.requires_response: true, classification.human: ">=0.8"}
            then: {draft_reply: "%[4]s"}
`

func identityConfigWith(draftText string) string {
	return strings.ReplaceAll(identityConfig, "%[4]s", draftText)
}

// identityClassifier: the lunch invitation needs an answer, anything else
// does not.
func identityClassifier(r llmfake.Request) llmfake.Response {
	if strings.Contains(r.LastUser(), "Lunch on Thursday") {
		return llmfake.JSON(map[string]any{"human": 0.97, "requires_response": true})
	}
	return llmfake.JSON(map[string]any{"human": 0.1, "requires_response": false})
}

func mail(from, messageID, subject, body string) []byte {
	return []byte("From: " + from + "\r\nTo: alice@example.com\r\nSubject: " + subject +
		"\r\nDate: Sat, 15 Feb 2025 10:30:00 +0000\r\nMessage-ID: " + messageID +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n")
}

var (
	legitMail    = mail("bob@example.org", "<lunch-1@example.org>", "Lunch on Thursday", "Are you free for lunch on Thursday?")
	attackerMail = mail("Mallory <mallory@evil.example>", "<lunch-1@example.org>", "Invoice overdue", "Pay the attached invoice.")
)

// draftRecipients lists the To address of every draft.
func draftRecipients(w *world) []string {
	var to []string
	for _, d := range w.imap.Messages(w.t, "alice", "Drafts") {
		to = append(to, headerOf(d.Raw, "To"))
	}
	return to
}

// Audit 10, finding 4: a new mail reusing a known Message-ID is another item.
// It used to be skipped by the check, which repointed the known item at it:
// it was never collected, classified or noted, and when the rules changed the
// next draft went to the attacker.
func TestReusedMessageIDIsAnotherItem(t *testing.T) {
	w := newWorldWith(t, identityConfigWith("Thursday works."), func(w *world) {
		w.imap.Append(t, "alice", "INBOX", legitMail)
	}, llmfake.WithReply(identityClassifier))
	w.cycle()
	if got := draftRecipients(w); !slices.Equal(got, []string{"bob@example.org"}) {
		t.Fatalf("drafts to %q, want one to Bob", got)
	}

	// The attacker sends a mail with the legitimate mail's Message-ID.
	w.imap.Append(t, "alice", "INBOX", attackerMail)
	w.cycle()
	list := mustItems(t, w)
	if len(list) != 2 {
		t.Fatalf("%d items, want the legitimate mail and the attacker's as two", len(list))
	}
	byFrom := map[string]*items.Item{}
	for _, it := range list {
		from, _ := it.Facts["from_address"].(string)
		byFrom[from] = it
		if it.Classification == nil {
			t.Errorf("item from %s was not classified", from)
		}
	}
	legit, bad := byFrom["bob@example.org"], byFrom["mallory@evil.example"]
	if legit == nil || bad == nil {
		t.Fatalf("items from %v", byFrom)
	}
	if legit.Key == bad.Key || legit.Facts["uid"] == bad.Facts["uid"] {
		t.Errorf("one item for both mails: %q uid %v, %q uid %v", legit.Key, legit.Facts["uid"], bad.Key, bad.Facts["uid"])
	}
	// The attacker's mail is handled on its own facts (archived for its
	// domain); the legitimate one stays.
	if got := w.folder("Archive"); !slices.Equal(got, []string{"Invoice overdue"}) {
		t.Errorf("Archive = %q, want the attacker's mail", got)
	}
	if got := w.folder("INBOX"); !slices.Equal(got, []string{"Lunch on Thursday"}) {
		t.Errorf("INBOX = %q, want the legitimate mail", got)
	}
	// Each has its own note.
	notes, _ := filepath.Glob(filepath.Join(w.dir, "notes", "emails", "personal", "*.md"))
	synced, _ := filepath.Glob(filepath.Join(w.dir, "notes", "emails", "personal", "synced", "*.md"))
	if len(notes) != 1 || len(synced) != 1 {
		t.Errorf("notes %v, synced %v: want one each", notes, synced)
	}

	// The rules change: every item is evaluated again, and the new draft goes
	// to Bob, built from Bob's mail.
	w.setConfig(identityConfigWith("Thursday works, see you at noon."))
	w.cycle()
	drafts := w.imap.Messages(t, "alice", "Drafts")
	if len(drafts) != 2 {
		t.Fatalf("%d drafts after the rules changed, want 2", len(drafts))
	}
	for _, d := range drafts {
		if to, subj := headerOf(d.Raw, "To"), headerOf(d.Raw, "Subject"); to != "bob@example.org" || subj != "Re: Lunch on Thursday" {
			t.Errorf("draft to %q, subject %q", to, subj)
		}
	}

	// The same message moved out and back is the same item: nothing new.
	llmCalls := len(w.fake.Requests())
	uid := w.imap.Messages(t, "alice", "INBOX")[0].UID
	back := w.imap.Move(t, "alice", "Archive", w.imap.Move(t, "alice", "INBOX", uid, "Archive"), "INBOX")
	w.cycle()
	if got := mustItems(t, w); len(got) != 2 {
		t.Errorf("%d items after a move out and back, want 2", len(got))
	}
	it := itemFrom(t, w, "bob@example.org")
	if it.Facts["uid"] != fmt.Sprint(back) || it.Status != items.StatusActive {
		t.Errorf("moved-back item: uid %v status %s, want uid %d active", it.Facts["uid"], it.Status, back)
	}
	if n := len(w.fake.Requests()); n != llmCalls {
		t.Errorf("%d LLM calls for a mail moved out and back", n-llmCalls)
	}
	if n := len(w.imap.Messages(t, "alice", "Drafts")); n != 2 {
		t.Errorf("%d drafts after a move out and back, want 2", n)
	}
}

func itemFrom(t *testing.T, w *world, from string) *items.Item {
	t.Helper()
	for _, it := range mustItems(t, w) {
		if it.Facts["from_address"] == from {
			return it
		}
	}
	t.Fatalf("no item from %s", from)
	return nil
}

// The act stage checks the message it is about to touch is the one the rules
// decided on: an item pointed at another message (as the old check did) is
// refused, with a line in the daily log, and nothing is drafted or moved.
func TestActRefusesAnotherMessage(t *testing.T) {
	w := newWorldWith(t, identityConfigWith("Thursday works."), func(w *world) {}, llmfake.WithReply(identityClassifier))
	ctx := context.Background()
	// The legitimate mail is collected under rules that decide nothing.
	w.setConfig(strings.Replace(identityConfigWith("x"), `{classification.requires_response: true, classification.human: ">=0.8"}`, "{domain: nowhere.example}", 1))
	w.imap.Append(t, "alice", "INBOX", legitMail)
	w.cycle()
	attackerUID := w.imap.Append(t, "alice", "INBOX", attackerMail)
	legit := itemFrom(t, w, "bob@example.org")
	// Repoint the legitimate item at the attacker's UID (what the old check
	// did), then let the rules decide a draft for it.
	if _, err := w.engine.Env().UpdateItem(ctx, "email.personal", "inbox", legit.Key, func(x *items.Item, exists bool) error {
		x.Facts["uid"] = fmt.Sprint(attackerUID)
		x.Refs = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w.setConfig(identityConfigWith("Thursday works."))
	if err := w.engine.Env().QueueEvaluate(ctx, itemFrom(t, w, "bob@example.org")); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, w)
	if n := len(w.imap.Messages(t, "alice", "Drafts")); n != 0 {
		t.Errorf("%d drafts: the actor acted on another message", n)
	}
	if got := w.folder("INBOX"); len(got) != 2 {
		t.Errorf("INBOX = %q", got)
	}
	acts, _ := w.bus.Tasks(ctx, func(s *msg.Status) bool { return s.Type == "email.inbox.act" })
	if len(acts) != 1 || acts[0].Status != msg.StateFailed || !strings.Contains(acts[0].Error, "not the one the rules decided on") {
		for _, a := range acts {
			t.Errorf("act task %s: %s %q", a.ID, a.Status, a.Error)
		}
		t.Fatalf("%d act tasks: want one failed with the refusal", len(acts))
	}
	keys, _ := w.bus.Ledger().Keys(ctx, "")
	if len(keys) != 0 {
		t.Errorf("ledger %v: a refused action must leave no intent", keys)
	}
	logText := readLog(t, w)
	if !strings.Contains(logText, "Refused to act on email from **bob@example.org**") {
		t.Errorf("the daily log does not tell the refusal:\n%s", logText)
	}
	if !errors.Is(fmt.Errorf("wrap: %w", email.ErrWrongMessage), email.ErrWrongMessage) {
		t.Fatal("ErrWrongMessage")
	}
}

// waitIdle waits until no task is pending and the journal caught up.
func waitIdle(t *testing.T, w *world) {
	t.Helper()
	waitUntil(t, "the queue to drain", func() bool { return w.idle() })
}

func readLog(t *testing.T, w *world) string {
	t.Helper()
	var text string
	waitUntil(t, "the daily log", func() bool {
		logs, _ := filepath.Glob(filepath.Join(w.dir, "logs", "*.md"))
		if len(logs) != 1 {
			return false
		}
		b, _ := os.ReadFile(logs[0])
		text = string(b)
		return strings.Contains(text, "Refused") || strings.Contains(text, "Drafted")
	})
	return text
}

// waitUntil polls cond until it holds (the deadline only bounds a hang).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// After INBOX is renumbered the actor finds the item's message among those
// with its Message-ID by content: the attacker's newer mail with the same
// Message-ID is not the one drafted to (it used to be: the newest won).
func TestActAfterRenumberFindsTheItemsMessage(t *testing.T) {
	w := newWorldWith(t, identityConfigWith("Thursday works."), func(w *world) {
		w.imap.Append(t, "alice", "INBOX", legitMail)
	}, llmfake.WithReply(identityClassifier))
	w.cycle()
	// The attacker's mail arrives and the server renumbers INBOX before the
	// next check: the legitimate item still holds its old UIDVALIDITY.
	w.imap.Append(t, "alice", "INBOX", attackerMail)
	w.imap.SetUIDValidity(t, "alice", "INBOX", 777)
	w.setConfig(identityConfigWith("Thursday works, see you at noon."))
	if err := w.engine.Env().QueueEvaluate(context.Background(), itemFrom(t, w, "bob@example.org")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the act", func() bool {
		acts := actTasks(t, w)
		return len(acts) == 2 && acts[0].Status != msg.StatePending && acts[1].Status != msg.StatePending && w.idle()
	})
	for _, a := range actTasks(t, w) {
		if a.Status != msg.StateDone {
			t.Errorf("act %s: %s %q", a.ID, a.Status, a.Error)
		}
	}
	if got := draftRecipients(w); !slices.Equal(got, []string{"bob@example.org", "bob@example.org"}) {
		t.Errorf("drafts to %q, want both to Bob", got)
	}
}
