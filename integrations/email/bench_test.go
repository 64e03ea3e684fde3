package email_test

import (
	"context"

	"fmt"
	"github.com/stewardhq/steward/integrations/email/mailbox"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

const benchConfig = `llms:
  default:
    base_url: %[1]s
    model: fake
    concurrency: 2
directories:
  logs: %[2]s/logs
integrations:
  - type: email
    name: personal
    imap_server: 127.0.0.1
    imap_port: %[3]d
    username: alice
    password: !secret pw
    platforms:
      inbox:
        limit: 10000
        classifications:
          newsletter: is this a newsletter?
        automations:
          - when: {}
            then: archive
`

func benchMail(i int) []byte {
	return []byte(fmt.Sprintf("From: Sender %d <s%d@example.com>\r\nTo: alice@example.org\r\nSubject: Message number %d\r\n"+
		"Date: Sat, 15 Feb 2025 10:29:50 +0000\r\nMessage-ID: <bench-%d@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"Hello, this is message %d.\r\n", i, i, i, i, i))
}

// BenchmarkCheckCycle: an inbox of 5,000 messages, 4,950 of them already known
// (items from earlier cycles), 50 new. It reports the IMAP logins of the whole
// cycle (check and the 50 collects and acts), the check task's wall time, and
// the time until all 50 new messages have been classified (LLM stand-in: 50 ms,
// concurrency 2) and acted on.
func BenchmarkCheckCycle(b *testing.B) {
	const total, fresh = 5000, 50
	for n := 0; n < b.N; n++ {
		w := newWorldWith(b, benchConfig, func(w *world) {
			for i := 0; i < total; i++ {
				w.imap.Append(b, "alice", "INBOX", benchMail(i))
			}
		}, llmfake.WithFixedReply(llmfake.JSON(map[string]any{"newsletter": 0.1})), llmfake.WithLatency(50*time.Millisecond))
		ctx := context.Background()
		// Earlier cycles: the first 4,950 are known, classified and evaluated.
		uids := map[string]uint32{}
		for _, m := range w.imap.Messages(b, "alice", "INBOX") {
			uids[headerOf(m.Raw, "Message-ID")] = m.UID
		}
		var uidv uint32
		setup := mailbox.NewPool(mailbox.PoolOptions{})
		if err := setup.Do(ctx, "setup", account(w), func(s *mailbox.Session) error {
			var err error
			uidv, err = s.UIDValidity(ctx)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		env := w.engine.Env()
		classHash, rulesHash := env.ClassificationHash("email.personal", "inbox"), env.RulesHash("email.personal", "inbox")
		for i := 0; i < total-fresh; i++ {
			key := fmt.Sprintf("<bench-%d@example.com>", i)
			it := items.Item{Integration: "email.personal", Platform: "inbox", Key: key, Title: "x",
				Facts:          map[string]any{"uid": fmt.Sprint(uids[key]), "uidvalidity": float64(uidv), "is_read": false, "is_starred": false, "is_answered": false},
				Classification: map[string]any{"newsletter": 0.1}, ClassificationHash: classHash, RulesHash: rulesHash,
				Status: items.StatusActive}
			if _, err := w.bus.Items().Put(ctx, it.StoreKey(), it); err != nil {
				b.Fatal(err)
			}
		}
		_ = setup.Close()
		loginsBefore := w.imap.Logins(b)
		b.ResetTimer()
		start := time.Now()
		p, err := w.bus.Publish(ctx, msg.Spec{Type: "email.inbox.check", Payload: map[string]any{"integration": "email.personal", "platform": "inbox"}})
		if err != nil {
			b.Fatal(err)
		}
		var checkTook time.Duration
		for {
			st, _ := w.bus.Status(ctx, p.ID)
			if st != nil && st.Status == msg.StateDone && st.CompletedAt != nil && st.StartedAt != nil {
				checkTook = st.CompletedAt.Sub(*st.StartedAt)
				break
			}
			if st != nil && st.Status == msg.StateFailed {
				b.Fatal(st.Error)
			}
			time.Sleep(5 * time.Millisecond)
		}
		for len(w.imap.Messages(b, "alice", "Archive")) < fresh {
			if time.Since(start) > 2*time.Minute {
				b.Fatalf("only %d archived", len(w.imap.Messages(b, "alice", "Archive")))
			}
			time.Sleep(20 * time.Millisecond)
		}
		toAct := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(w.imap.Logins(b)-loginsBefore), "imap_logins")
		b.ReportMetric(float64(checkTook.Milliseconds()), "check_ms")
		b.ReportMetric(toAct.Seconds(), "new50_to_act_s")
		b.ReportMetric(float64(len(w.fake.Requests())), "llm_calls")
	}
}

func account(w *world) mailbox.Account {
	return mailbox.Account{Host: w.imap.Host(), Port: w.imap.Port(), Username: "alice", Password: "secret"}
}
