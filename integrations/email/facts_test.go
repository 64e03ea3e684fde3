package email_test

import (
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/rules"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// factsConfig has one rule on each of subject, to_address and received_at,
// the last two deciding irreversible or folder actions: rules on facts alone
// (provenance rule), so the unsubscribe needs no !yolo.
const factsConfig = fakeLLM + personalInbox + `        classifications:
          human: is this a personal email written by a human?
        automations:
          - when: {subject: "Quarterly report"}
            then: {move_to: Newsletters}
          - when: {to_address: me@example.org}
            then: unsubscribe
          - when: {received_at: "> now()"}
            then: trash
          - when: {received_at: "< now()", subject: "Lunch on Thursday"}
            then: archive
`

// Issue 11, item 13: subject, to_address and received_at are facts rules can
// use (the README listed them, but a rule on them never matched): each rule
// matches a real mail from Dovecot end to end, and a rule on them alone has
// provenance rule (so an irreversible action on it is allowed).
func TestRulesOnSubjectToAddressReceivedAt(t *testing.T) {
	w := newWorldWith(t, factsConfig, func(w *world) {
		seedNewsletter(w) // To: me@example.org, one-click unsubscribe
		w.imap.Append(t, "alice", "INBOX", mail("carol@example.org", "<q1@example.org>", "Quarterly report", "Numbers attached."))
		w.imap.Append(t, "alice", "INBOX", legitMail) // Lunch on Thursday, dated 2025
		future := strings.Replace(string(mail("dave@example.org", "<f1@example.org>", "From the future", "Hello.")),
			"Sat, 15 Feb 2025 10:30:00 +0000", "Fri, 1 Jan 2100 09:00:00 +0000", 1)
		w.imap.Append(t, "alice", "INBOX", []byte(future))
	}, llmfake.WithFixedReply(llmfake.JSON(map[string]any{"human": 0.5})))

	rep, err := rules.Check(w.cfg, w.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rules {
		if r.Provenance != rules.ProvenanceRule || r.Disabled {
			t.Errorf("rule #%d: provenance %s, disabled %v (%s); want rule, enabled", r.Index, r.Provenance, r.Disabled, r.Reason)
		}
	}
	for _, warn := range rep.Warnings {
		if strings.Contains(warn, "never matches") {
			t.Errorf("warning: %s", warn)
		}
	}

	w.cycle()
	if got := w.folder("Newsletters"); len(got) != 1 || got[0] != "Quarterly report" {
		t.Errorf("Newsletters = %q, want the mail matched by subject", got)
	}
	if n := w.posts.Load(); n != 1 {
		t.Errorf("%d unsubscribe POSTs, want 1 (the mail matched by to_address)", n)
	}
	if got := w.folder("Trash"); len(got) != 1 || got[0] != "From the future" {
		t.Errorf("Trash = %q, want the mail dated in the future (received_at > now())", got)
	}
	if got := w.folder("Archive"); len(got) != 1 || got[0] != "Lunch on Thursday" {
		t.Errorf("Archive = %q, want the mail matched by subject and received_at < now()", got)
	}
	for _, a := range actTasks(t, w) {
		if a.Status != msg.StateDone || a.Provenance != rules.ProvenanceRule {
			t.Errorf("act task %s: %s, provenance %q", a.ID, a.Status, a.Provenance)
		}
	}
}
