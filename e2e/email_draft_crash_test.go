package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testkit/dovecot"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

const draftCrashConfig = personalEmail + `    platforms:
      inbox:
        classifications:
          human: is this a personal email written by a human?
          requires_response:
            prompt: does this email require a response from me?
            type: boolean
        automations:
          - when: {classification.requires_response: true, classification.human: ">=0.8"}
            then: {draft_reply: "Thursday works."}
`

// Audit 10, finding 9: steward is killed (-9) again and again while it drafts
// replies, then left to finish. Every mail ends with exactly one draft: an
// interrupted draft is looked for in Drafts by its Message-ID (derived from
// its ledger key) and APPENDed only when absent. Before, a kill between the
// ledger intent and the APPEND lost the draft for good.
func TestKillLoopDraftsExactlyOnce(t *testing.T) {
	const mails, kills = 10, 6
	imap := dovecot.Start(t)
	for i := range mails {
		imap.Append(t, "alice", "INBOX", fmt.Appendf(nil, "From: Bob <bob@example.org>\r\nTo: alice@example.com\r\n"+
			"Subject: Lunch on Thursday %d\r\nDate: Sat, 15 Feb 2025 10:30:00 +0000\r\nMessage-ID: <lunch-%d@example.org>\r\n"+
			"\r\nAre you free for lunch?\r\n", i, i))
	}
	fake := llmfake.New(llmfake.WithFixedReply(llmfake.JSON(map[string]any{"human": 0.97, "requires_response": true})))
	defer fake.Close()
	dir := t.TempDir()
	writeEmailConfig(t, dir, draftCrashConfig, fake.URL(), imap.Port())
	var run struct {
		TaskIDs []string `json:"task_ids"`
	}
	for k := range kills {
		p := startEnv(t, dir, nil)
		p.waitHealthy(t)
		if code := do(t, "POST", p.gateway+"/integrations/email.personal/run", &run); code != 200 {
			t.Fatalf("run: %d", code)
		}
		// Kill while drafting: once the next draft shows up (other act tasks
		// are then in flight), a little later each round. Where the kill lands
		// does not matter to the assertion.
		before := len(imap.Messages(t, "alice", "Drafts"))
		for wait := time.Now().Add(20 * time.Second); time.Now().Before(wait); time.Sleep(5 * time.Millisecond) {
			if len(imap.Messages(t, "alice", "Drafts")) > before {
				break
			}
		}
		time.Sleep(time.Duration(k*15) * time.Millisecond)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	t.Logf("%d kills: %d drafts before the last start", kills, len(imap.Messages(t, "alice", "Drafts")))

	q := startEnv(t, dir, nil)
	q.waitHealthy(t)
	do(t, "POST", q.gateway+"/integrations/email.personal/run", &run)
	deadline := time.Now().Add(150 * time.Second)
	for len(imap.Messages(t, "alice", "Drafts")) < mails {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Another full cycle changes nothing.
	do(t, "POST", q.gateway+"/integrations/email.personal/run", &run)
	time.Sleep(3 * time.Second)
	count := map[string]int{}
	for _, d := range imap.Messages(t, "alice", "Drafts") {
		for _, line := range strings.Split(string(d.Raw), "\r\n") {
			if strings.HasPrefix(line, "Subject: ") {
				count[strings.TrimPrefix(line, "Subject: ")]++
			}
		}
	}
	lost, dup := 0, 0
	for i := range mails {
		switch n := count[fmt.Sprintf("Re: Lunch on Thursday %d", i)]; {
		case n == 0:
			lost++
		case n > 1:
			dup++
		}
	}
	t.Logf("%d mails: %d drafts lost, %d duplicated", mails, lost, dup)
	if lost != 0 || dup != 0 {
		t.Errorf("%d drafts lost, %d duplicated: %v", lost, dup, count)
	}
	if code := q.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
